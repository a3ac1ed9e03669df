"""The whole router against a plain-Python model, driven by hypothesis.

Rules publish, re-publish, create exchanges, connect subscribers with every start point (times
included: the model records the clock between publishes), receive, ack, let time pass, disconnect,
remove the oldest events (retention's trim), restart the router on the same database, and crash it: the database is snapshotted as it is at
that instant (what a SIGKILL leaves on disk), the old router is abandoned and a new one starts on
the snapshot, and the consumers that were attached come back from their saved cursors.

Checked after every step: the delivered sequences are exactly the model's exchange logs from each
start point, no reordering and no gap except one told by a gap notice that covers exactly what was
removed before the subscriber reached it and no queue buffers more than its limit. After a restart or a
crash: every acked publish is stored exactly once, and each subscriber's saved cursor is one it
really acked (or started at), never one older than what was known committed.
"""

from __future__ import annotations

import sqlite3
import tempfile
import uuid
from typing import Any

import attrs
import trio
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from actors.messages import Gap, Rejected
from actors.subscriber import Subscription
from router.app import Router, open_router
from router.core.errors import OutOfRange
from router.core.model import NewEvent, StartKind, StartPoint, now_us
from router.core.patterns import matches
from router.core.settings import Settings
from tests.helpers.trio_thread import TrioThread

TYPES = ["order.created", "order.paid", "user.created", "user.eu.deleted"]
EXCHANGES = {"orders": ("order.*",), "users": ("user.#",), "everything": ("#",)}
NAMES = ["billing", "audit"]
LIMIT = 4  # tiny buffers, so slow readers must fall back to storage


@attrs.define
class Connected:
    exchange: str
    name: str
    subscription: Subscription
    start: int
    delivered: list[tuple[int, str]] = attrs.Factory(list)  # (offset, event id)
    acked: int = 0  # offset
    next: int = 0  # the next offset owed: after the last delivered or told missing
    gaps: list[Gap] = attrs.Factory(list)
    skips: set[int] = attrs.Factory(set)  # cursors it may have saved by skipping removed events

    def partly_acked(self) -> bool:
        return self.start - 1 < self.acked < self.next - 1


class RouterMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.TemporaryDirectory()
        self.crashes = 0
        self.settings = self._settings("machine.db")
        self.trio = TrioThread()
        self.log: list[tuple[str, str]] = []  # the model's event log, in seq order
        self.at: dict[str, int] = {}  # event id -> its index in the log
        self.clock: list[tuple[int, int]] = []  # (time before a publish, log length then)
        self.exchanges: dict[str, list[str]] = {}  # name -> its events in offset order
        self.cursors: dict[tuple[str, str], int] = {}  # saved acked offset per subscriber
        # Cursors a crash may have left: the saved one and every ack since (flushes coalesce).
        self.maybe: dict[tuple[str, str], set[int]] = {}
        self.connected: dict[tuple[str, str], Connected] = {}
        self.first_seq = 1  # the model's horizon: events before it are removed
        self.router: Router | None = None
        self._leave: Any = None
        self._start()

    # --- plumbing ---

    def _settings(self, filename: str) -> Settings:
        return Settings(
            db_url=f"sqlite:///{self.folder.name}/{filename}",
            cursor_flush_interval_s=0.01,
            replay_chunk=3,
            consumer_timeout_s=float("inf"),
        )

    def _path(self) -> str:
        return self.settings.db_url.removeprefix("sqlite:///")

    def _start(self) -> None:
        self.router, self._leave = self.trio.host(lambda: open_router(self.settings))

    def _stop(self) -> None:
        for key in list(self.connected):
            self._disconnect(key)
        self._leave()

    def teardown(self) -> None:
        self._stop()
        self.trio.close()
        self.folder.cleanup()

    def _disconnect(self, key: tuple[str, str]) -> None:
        connected = self.connected.pop(key)
        self.trio.run(connected.subscription.close)
        self.cursors[key] = connected.acked
        self.maybe[key] = {connected.acked} | {m for m in connected.skips if m > connected.acked}

    def _check_stored_once(self) -> None:
        with sqlite3.connect(self._path()) as connection:
            rows = connection.execute("SELECT count(*), count(DISTINCT id) FROM events").fetchone()
        connection.close()
        kept = len(self.log) - (self.first_seq - 1)
        assert rows == (kept, kept), rows

    def _tail(self, exchange: str) -> int:
        """The exchange's oldest kept offset in the model."""
        removed = sum(1 for e in self.exchanges[exchange] if self.at[e] < self.first_seq - 1)
        return removed + 1

    def _subscribe(self, key: tuple[str, str], point: StartPoint, expected: int) -> None:
        assert self.router is not None
        subscription = self.trio.run(self.router.subscribe, *key, point, LIMIT)
        if point.kind is StartKind.STORED and len(self.maybe.get(key, ())) > 1:
            # After a crash: any cursor the subscriber had acked (or started at) may be the saved
            # one, but none it never acked and none older than one known committed.
            assert subscription.start_offset - 1 in self.maybe[key], (
                subscription.start_offset,
                self.maybe[key],
            )
            expected = subscription.start_offset
        assert subscription.start_offset == expected
        connected = Connected(*key, subscription, expected, acked=expected - 1, next=expected)
        self.connected[key] = connected
        self.cursors[key] = expected - 1
        self.maybe[key] = {expected - 1}
        self._may_skip(connected)

    def _may_skip(self, connected: Connected) -> None:
        """A subscriber behind the horizon skips to it by itself (and saves that cursor)."""
        tail = self._tail(connected.exchange)
        if connected.next < tail:
            self.maybe[(connected.exchange, connected.name)].add(tail - 1)
            connected.skips.add(tail - 1)

    def _crash(self, wait: bool) -> None:
        """Snapshot the database now, abandon this router, start another on the snapshot.

        SQLite's backup copies the last committed state, which is what a SIGKILL at this instant
        leaves on disk (a torn WAL tail is ignored on open); the old router's later writes go to
        the old file only.
        """
        if wait:
            self.time_passes()  # a crash some time after the last step: flushes have run
        self.crashes += 1
        source = self._path()
        self.settings = self._settings(f"crash{self.crashes}.db")
        with sqlite3.connect(source) as old, sqlite3.connect(self._path()) as new:
            old.backup(new)
        old.close()
        new.close()
        abandoned = list(self.connected)
        for key in abandoned:
            connected = self.connected.pop(key)
            self.trio.run(connected.subscription.close)  # writes to the old file only
        self._leave()
        self._check_stored_once()
        self._start()
        for key in abandoned:  # their consumers come back at once, from the saved cursor
            self._subscribe(key, StartPoint(StartKind.STORED), max(self.maybe[key]) + 1)

    # --- rules ---

    @rule(types=st.lists(st.sampled_from(TYPES), min_size=1, max_size=6))
    def publish(self, types: list[str]) -> None:
        assert self.router is not None
        events = [NewEvent(str(uuid.uuid4()), t, t.encode()) for t in types]
        self.clock.append((now_us(), len(self.log)))
        acks = self.trio.run(self.router.publish, events)
        for event, ack in zip(events, acks, strict=True):
            self.at[event.id] = len(self.log)
            self.log.append((event.id, event.type))
            assert ack.seq == len(self.log) and not ack.duplicate
            expected = {}
            for name, patterns in EXCHANGES.items():
                if name in self.exchanges and any(matches(p, event.type) for p in patterns):
                    self.exchanges[name].append(event.id)
                    expected[name] = len(self.exchanges[name])
            assert dict(ack.offsets) == expected

    @precondition(lambda self: len(self.log) >= self.first_seq)
    @rule(data=st.data())
    def republish(self, data: st.DataObject) -> None:
        assert self.router is not None
        # A removed event's id may be forgotten with it (the window is capped by retention).
        index = data.draw(st.integers(self.first_seq - 1, len(self.log) - 1))
        event_id, type_ = self.log[index]
        (ack,) = self.trio.run(self.router.publish, [NewEvent(event_id, type_, b"again")])
        assert ack.duplicate and ack.seq == index + 1

    @rule(name=st.sampled_from(sorted(EXCHANGES)))
    def create_exchange(self, name: str) -> None:
        if name in self.exchanges:
            return
        assert self.router is not None
        record = self.trio.run(self.router.create_exchange, name, list(EXCHANGES[name]))
        self.exchanges[name] = [  # history is indexed (invariant 4): what is kept of it
            event_id
            for event_id, type_ in self.log[self.first_seq - 1 :]
            if any(matches(p, type_) for p in EXCHANGES[name])
        ]
        assert record.head == len(self.exchanges[name])

    @precondition(lambda self: bool(self.exchanges))
    @rule(
        name=st.sampled_from(NAMES),
        start=st.sampled_from(["stored", "earliest", "latest", "offset", "time0", "time"]),
        data=st.data(),
    )
    def connect(self, name: str, start: str, data: st.DataObject) -> None:
        exchange = data.draw(st.sampled_from(sorted(self.exchanges)))
        key = (exchange, name)
        if key in self.connected:
            return
        assert self.router is not None
        head = len(self.exchanges[exchange])
        if start == "stored":
            point, expected = StartPoint(StartKind.STORED), self.cursors.get(key, head) + 1
        elif start == "earliest":
            point, expected = StartPoint(StartKind.EARLIEST), self._tail(exchange)
        elif start == "latest":
            point, expected = StartPoint(StartKind.LATEST), head + 1
        elif start == "time0":
            point, expected = StartPoint(StartKind.TIME, 0), self._tail(exchange)
        elif start == "time":
            if not self.clock:
                return
            moment, length = data.draw(st.sampled_from(self.clock))
            before = sum(1 for e in self.exchanges[exchange] if self.at[e] < length)
            point = StartPoint(StartKind.TIME, moment)
            expected = max(before + 1, self._tail(exchange))
        else:
            offset = data.draw(st.integers(0, head + 2))
            point, expected = StartPoint(StartKind.OFFSET, offset), offset
            if not 1 <= offset <= head + 1:
                try:
                    self.trio.run(self.router.subscribe, exchange, name, point, LIMIT)
                except OutOfRange:
                    return
                raise AssertionError(f"offset {offset} outside 1..{head + 1} was accepted")
        self._subscribe(key, point, expected)

    @precondition(lambda self: bool(self.connected))
    @rule(data=st.data())
    def receive_everything_published(self, data: st.DataObject) -> None:
        """Take batches and gap notices up to the head: each batch goes on exactly where the
        last one (or notice) ended; a notice covers only offsets removed, and is sent whenever
        the subscriber was owed removed ones."""
        key = data.draw(st.sampled_from(sorted(self.connected)))
        connected = self.connected[key]
        log = self.exchanges[connected.exchange]
        tail = self._tail(connected.exchange)
        while connected.next <= len(log):
            item = self.trio.run(connected.subscription.next_item)
            assert item is not None, connected.subscription.end_reason()
            if isinstance(item, Rejected):
                continue
            if isinstance(item, Gap):
                if item.first == 0:  # a time start before the horizon: told first
                    assert not connected.delivered and not connected.gaps
                    assert item.last == connected.start - 1
                else:
                    assert item.first == connected.next, (item, connected.next)
                assert item.last < tail, (item, tail)
                connected.gaps.append(item)
                connected.next = max(connected.next, item.last + 1)
                self.maybe[key].add(item.last)
                continue
            offsets = [d.offset for d in item]
            assert offsets == list(range(connected.next, connected.next + len(item))), (
                offsets,
                connected.next,
            )
            connected.delivered.extend((d.offset, d.event.id) for d in item)
            connected.next = offsets[-1] + 1
        assert connected.next == len(log) + 1

    @precondition(lambda self: any(c.delivered for c in self.connected.values()))
    @rule(data=st.data())
    def ack(self, data: st.DataObject) -> None:
        key = data.draw(
            st.sampled_from(sorted(k for k, c in self.connected.items() if c.delivered))
        )
        connected = self.connected[key]
        last = connected.next - 1
        offset = data.draw(st.integers(connected.acked, last))
        if offset > 0:
            self.trio.run(connected.subscription.ack, offset)
            connected.acked = max(connected.acked, offset)
            self.maybe[key].add(connected.acked)

    @precondition(lambda self: bool(self.connected))
    @rule(data=st.data())
    def disconnect(self, data: st.DataObject) -> None:
        self._disconnect(data.draw(st.sampled_from(sorted(self.connected))))

    @precondition(lambda self: bool(self.log))
    @rule(data=st.data())
    def trim(self, data: st.DataObject) -> None:
        """Retention removes the oldest events (as ``router log trim`` does, in one step)."""
        assert self.router is not None
        before = data.draw(st.integers(1, len(self.log) + 1))
        report = self.trio.run(self.router.trim_log, before, 0, False, 100_000)
        self.first_seq = max(self.first_seq, before)
        assert report.first_seq == self.first_seq
        assert report.removed_until_us > 0 or self.first_seq == 1
        for connected in self.connected.values():
            self._may_skip(connected)

    @rule()
    def restart(self) -> None:
        self._stop()
        self._check_stored_once()
        self._start()

    @rule()
    def time_passes(self) -> None:
        # Time is part of the model: the coalesced cursor flushes (every 10 ms here) run only
        # when some passes, and a crash after one must find the cursor it saved.
        self.trio.run(trio.sleep, 0.03)

    @rule(wait=st.booleans())
    def crash(self, wait: bool) -> None:
        self._crash(wait)

    @precondition(lambda self: any(c.partly_acked() for c in self.connected.values()))
    @rule(wait=st.booleans())
    def crash_when_partly_acked(self, wait: bool) -> None:
        """A crash where it matters most, made likelier: a consumer acked some of what it got."""
        self._crash(wait)

    # --- invariants ---

    @invariant()
    def deliveries_match_the_model(self) -> None:
        for connected in self.connected.values():
            log = self.exchanges[connected.exchange]
            assert all(log[offset - 1] == event_id for offset, event_id in connected.delivered)

    @invariant()
    def queues_buffer_at_most_their_limit(self) -> None:
        if self.router is None:
            return
        for queue in self.router.manager.queues.values():
            assert len(queue.ring) <= queue.record.config.limit_size


RouterMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_router_machine = RouterMachine.TestCase
