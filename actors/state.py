"""The StateActor: the one writer to the database, and the server of replay reads.

Writes arrive in one mailbox and are applied in arrival order. Every event append and cursor save
that is waiting when a commit starts goes into that commit (group commit); exchange and queue
changes get a transaction each. Reads have their own mailbox and connections, so a replay never
waits behind a commit. Storage calls run in worker threads; a failing store answers the waiting
callers with Unavailable and the actor carries on, reading its positions again before the next
commit because a lost connection leaves the last commit's fate in doubt.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import attrs
import trio

from actors.messages import (
    AppendEvents,
    CreateExchange,
    DeleteExchange,
    FindTime,
    PurgeIds,
    ReadLog,
    ReadRange,
    SaveCursor,
    SaveQueue,
    SaveSubscriber,
    StateRead,
    StateWrite,
    StoreWrite,
    TrimLog,
)
from actors.runtime import Mailbox, OwnThread, Reply, ask
from actors.trimmer import trim_now_and_then
from router.core.errors import RouterError, Unavailable
from router.core.model import (
    Delivery,
    ExchangeRecord,
    QueueRecord,
    StoredEvent,
    SubscriberRecord,
    now_us,
)
from router.core.patterns import matches
from router.core.settings import Settings
from storage._migrations import applied_by
from storage.base import Append, CommitResult, Positions, Reader, Restored, Storage
from storage.retention import Horizon, Trimmed

log = logging.getLogger("router.state")
T = TypeVar("T")
_GROUPED = (AppendEvents, SaveCursor)
PURGE_EVERY_S = 600.0


def _events_in(message: Any) -> int:
    if isinstance(message, AppendEvents):
        return sum(len(a.events) for a in message.appends)
    return 0


@attrs.define(eq=False)
class StateActor:
    """Mailboxes: StateWrite, StateRead; supervised by router.app with Policy.ESCALATE."""

    storage: Storage
    settings: Settings
    positions: Positions = Positions(0, 0, {})
    mailbox: Mailbox[StateWrite] = attrs.Factory(lambda: Mailbox(1024))
    read_mailbox: Mailbox[StateRead] = attrs.Factory(lambda: Mailbox(1024))
    _stale: bool = False
    _writer: OwnThread = attrs.field(init=False)  # started by run
    commits: int = 0
    # Counters for metrics, read by the sampler (never per event: once per commit).
    committed_events: int = 0
    commit_seconds: float = 0.0
    commit_failures: int = 0
    largest_commit: int = 0
    # Set (and replaced) after each commit that moved the log forward: followers wait on it.
    log_moved: trio.Event = attrs.Factory(trio.Event)
    # Retention: where the kept log begins, what was removed, who holds removal back.
    horizon: Horizon = Horizon()
    trimming: bool = False  # a removal step is running (its rows may be gone already)
    _trim_done: trio.Event = attrs.Factory(trio.Event)
    removed_events: int = 0
    gap_notices: int = 0  # told to subscribers (SubscriberActor)
    gap_events: int = 0  # the events those notices covered
    removed_parked: int = 0
    trim_steps: int = 0
    trim_failures: int = 0  # steps the store refused (actors.trimmer backs off and retries)
    trim_failing: str = ""  # why the last step was refused, until one succeeds ("": none)
    trim_seconds: float = 0.0
    holding: dict[tuple[str, str], int] = attrs.Factory(dict)  # (queue, subscriber) -> seq

    @property
    def stale(self) -> bool:
        """True after a write to storage failed, until one succeeds again."""
        return self._stale

    # --- the public surface: thin wrappers that send messages ---

    async def start_append(self, appends: tuple[Append, ...]) -> Reply[CommitResult]:
        """Queue ``appends`` for the next group commit and return at once: the reply is set after
        that commit (or failed with the store's error). Waits only while the mailbox is full."""
        reply: Reply[CommitResult] = Reply()
        try:
            await self.mailbox.send(AppendEvents(appends, reply))
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            reply.fail(Unavailable("the router is shutting down"))
        return reply

    async def save_cursor(
        self, queue_id: str, name: str, acked: int, ledger: str = "", wait: bool = False
    ) -> None:
        if wait:
            await ask(self.mailbox, lambda r: SaveCursor(queue_id, name, acked, ledger, r))
        else:
            await self.mailbox.send(SaveCursor(queue_id, name, acked, ledger))

    async def create_exchange(self, name: str, patterns: tuple[str, ...]) -> ExchangeRecord:
        return await ask(self.mailbox, lambda r: CreateExchange(name, patterns, r), 600.0)

    async def delete_exchange(self, exchange_id: int) -> None:
        await ask(self.mailbox, lambda r: DeleteExchange(exchange_id, r), 600.0)

    async def save_queue(self, queue: QueueRecord) -> None:
        await ask(self.mailbox, lambda r: SaveQueue(queue, r))

    async def save_subscriber(self, subscriber: SubscriberRecord) -> None:
        await ask(self.mailbox, lambda r: SaveSubscriber(subscriber, r))

    async def write(self, call: Callable[[Storage], T]) -> T:
        """Run a control-plane change in the writer's order, as one transaction."""
        result: T = await ask(self.mailbox, lambda r: StoreWrite(call, r))
        return result

    async def read(
        self, exchange_id: int, first: int, last: int, limit: int, max_bytes: int = 0
    ) -> Sequence[Delivery]:
        """Stored deliveries ``first..last``, at most ``limit``, and with ``max_bytes`` no more
        than fit in it (at least one): what is left out is not read."""
        return await ask(
            self.read_mailbox, lambda r: ReadRange(exchange_id, first, last, limit, r, max_bytes)
        )

    async def read_log(self, after_seq: int, limit: int) -> list[StoredEvent]:
        return await ask(self.read_mailbox, lambda r: ReadLog(after_seq, limit, r))

    async def find_time(self, exchange_id: int, head: int, time_us: int) -> int:
        low = self.horizon.tail(exchange_id)
        return await ask(self.read_mailbox, lambda r: FindTime(exchange_id, head, time_us, r, low))

    async def trim(self, before_seq: int, most: int) -> Trimmed:
        """One removal step towards ``before_seq`` (at most ``most`` events), in writer order."""
        trimmed: Trimmed = await ask(self.mailbox, lambda r: TrimLog(before_seq, most, r), 600.0)
        return trimmed

    async def horizon_settled(self) -> None:
        """Return once no removal step is running: a read that found rows missing waits here,
        then sees the horizon that explains it."""
        while self.trimming:
            await self._trim_done.wait()

    # --- the actor ---

    async def restore(self) -> Restored:
        """Migrate and read the saved state. Called once, before ``run``."""
        applied = await trio.to_thread.run_sync(self.storage.migrate)
        if applied:
            log.info("migrations applied versions=%s by=%s", applied, applied_by())
        restored = await trio.to_thread.run_sync(self.storage.restore)
        self.positions = restored.positions
        self.horizon = restored.horizon
        self._say_retention()
        return restored

    def _say_retention(self) -> None:
        settings = self.settings
        if settings.retains_all:
            log.info("retention: every event is kept (no --retain-for or --retain-bytes)")
            return
        log.info(
            "retention: keep for=%s bytes=%s until acked=%s (at most %s) horizon seq=%d",
            _or_none(settings.retain_for_s, "s"),
            _or_none(settings.retain_bytes, " B"),
            settings.retain_until_acked,
            _or_none(settings.retain_max_for_s, "s"),
            self.horizon.first_seq,
        )
        if settings.idempotency_keys_s < settings.idempotency_window_s:
            log.info(
                "retention: idempotency keys are kept %.0f s, not %.0f s: no longer than events",
                settings.idempotency_keys_s,
                settings.idempotency_window_s,
            )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve writes and reads until cancelled; on cancellation the running commit completes."""
        self._writer = OwnThread("state writer")
        try:
            async with trio.open_nursery() as nursery:
                for _ in range(max(1, self.settings.read_connections)):
                    reader = await trio.to_thread.run_sync(self.storage.reader)
                    nursery.start_soon(self._serve_reads, reader)
                nursery.start_soon(self._purge_ids_now_and_then)
                if not self.settings.retains_all:
                    nursery.start_soon(trim_now_and_then, self)
                task_status.started()
                await self._serve_writes()
        finally:
            self._writer.close()

    async def _serve_writes(self) -> None:
        receive = self.mailbox
        most = self.settings.commit_max_events
        async for first in receive:
            group: list[Any] = [first]
            events = _events_in(first)
            while len(group) < 10_000 and events < most:
                try:
                    message = receive.receive_nowait()
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
                group.append(message)
                events += _events_in(message)
            await self._apply(group)

    async def _apply(self, group: list[Any]) -> None:
        """Apply messages in arrival order, grouping runs of appends and cursor saves."""
        run: list[Any] = []
        for message in group:
            if isinstance(message, _GROUPED):
                run.append(message)
                continue
            if run:
                await self._commit(run)
                run = []
            await self._apply_one(message)
        if run:
            await self._commit(run)

    async def _commit(self, messages: list[Any]) -> None:
        appends: list[Append] = []
        cursors: dict[tuple[str, str], tuple[int, str]] = {}
        for message in messages:
            if isinstance(message, AppendEvents):
                appends.extend(message.appends)
            else:
                cursors[(message.queue_id, message.name)] = (message.acked, message.ledger)
        began = trio.current_time()
        try:
            await self._refresh_if_stale()
            seq_before = self.positions.last_seq
            result = await self._writer.run(
                lambda: self.storage.commit(appends, cursors, self.positions, now_us())
            )
        except Exception as error:
            self._stale = True
            self.commit_failures += 1
            failure = error if isinstance(error, RouterError) else Unavailable(f"store: {error}")
            log.warning(
                "commit failed events=%d error=%s", sum(len(a.events) for a in appends), error
            )
            for message in messages:
                if message.reply is not None:
                    message.reply.fail(failure)
            return
        self.positions = result.positions
        self.commits += 1
        self.commit_seconds += trio.current_time() - began
        self.committed_events += result.positions.last_seq - seq_before
        self.largest_commit = max(self.largest_commit, len(result.outcomes))
        if result.positions.last_seq != seq_before:
            moved, self.log_moved = self.log_moved, trio.Event()
            moved.set()
        # Split the outcomes back to the callers: each AppendEvents gets its own slice. The
        # Dispatcher is the only appender and takes its replies in the order it sent them, so
        # the deliveries of the whole commit (for fan-out) go with the first reply.
        start = 0
        deliveries = result.deliveries
        committed = time.time_ns()
        for message in messages:
            if isinstance(message, AppendEvents):
                count = sum(len(a.events) for a in message.appends)
                message.reply.set(
                    CommitResult(
                        result.outcomes[start : start + count],
                        deliveries,
                        result.positions,
                        committed,
                    )
                )
                start += count
                deliveries = {}
            elif message.reply is not None:
                message.reply.set(None)

    async def _apply_one(self, message: Any) -> None:
        if isinstance(message, TrimLog):
            await self._trim_step(message)
            return
        reply: Reply[Any] | None = getattr(message, "reply", None)
        try:
            await self._refresh_if_stale()
            value = await self._writer.run(self._operation(message))
        except RouterError as error:
            if reply is not None:
                reply.fail(error)
            return
        except Exception as error:
            self._stale = True
            log.warning("state write failed message=%s error=%s", type(message).__name__, error)
            if reply is not None:
                reply.fail(Unavailable(f"store: {error}"))
            return
        if isinstance(message, CreateExchange):
            self.positions = attrs.evolve(
                self.positions, heads={**self.positions.heads, value.id: value.head}
            )
        elif isinstance(message, DeleteExchange):
            heads = dict(self.positions.heads)
            heads.pop(message.exchange_id, None)
            self.positions = attrs.evolve(self.positions, heads=heads)
        elif isinstance(message, PurgeIds):
            log.info("idempotency keys purged count=%d", value)
        if reply is not None:
            reply.set(value)

    def _operation(self, message: Any) -> Callable[[], Any]:
        storage = self.storage
        if isinstance(message, CreateExchange):
            patterns = message.patterns

            def accepts(event_type: str) -> bool:
                return any(matches(pattern, event_type) for pattern in patterns)

            return lambda: storage.create_exchange(message.name, patterns, now_us(), accepts)
        if isinstance(message, DeleteExchange):
            return lambda: storage.delete_exchange(message.exchange_id)
        if isinstance(message, SaveQueue):
            return lambda: storage.save_queue(message.queue, now_us())
        if isinstance(message, SaveSubscriber):
            return lambda: storage.save_subscriber(message.subscriber, now_us())
        if isinstance(message, PurgeIds):
            return lambda: storage.purge_ids(message.older_than)
        if isinstance(message, StoreWrite):
            return lambda: message.call(storage)
        raise TypeError(f"StateActor: unexpected message {message!r}")

    async def _trim_step(self, message: TrimLog) -> None:
        """One removal step, with the horizon in memory moved as it commits: readers that find
        rows missing wait on ``trimming`` and then see why."""
        began = trio.current_time()
        self.trimming = True
        try:
            await self._refresh_if_stale()
            before = message.before_seq
            if before is None:
                before = await self._writer.run(self._retention_target)
            trimmed = await self._writer.run(lambda: self.storage.trim(before, message.most))
        except RouterError as error:
            if isinstance(error, Unavailable):  # as a failed commit: /readyz says so
                self._stale = True
            if message.reply is not None:
                message.reply.fail(error)
            return
        except Exception as error:
            self._stale = True
            log.warning("removal step failed error=%s", error)
            if message.reply is not None:
                message.reply.fail(Unavailable(f"store: {error}"))
            return
        finally:
            self.trimming = False
            done, self._trim_done = self._trim_done, trio.Event()
            done.set()
        if trimmed.horizon.first_seq > self.horizon.first_seq:
            tails = {**self.horizon.tails, **trimmed.horizon.tails}
            self.horizon = attrs.evolve(trimmed.horizon, tails=tails)
        self.removed_events += trimmed.events
        self.removed_parked += trimmed.parked
        self.trim_steps += 1
        self.trim_seconds += trio.current_time() - began
        if trimmed.parked:
            log.info("parked events past the horizon dropped count=%d", trimmed.parked)
        if message.reply is not None:
            message.reply.set(trimmed)

    def _retention_target(self) -> int:
        """The seq the limits say the log should begin at (writer thread: reads the store)."""
        settings, storage = self.settings, self.storage
        first = self.horizon.first_seq
        target = first
        now = now_us()
        if settings.retain_for_s is not None:
            target = max(target, storage.first_seq_at(now - int(settings.retain_for_s * 1e6)))
        if settings.retain_bytes is not None:
            kept = self.positions.last_seq - first + 1
            size = storage.log_bytes()
            if kept > 0 and size > settings.retain_bytes:
                per_event = size / kept
                target = max(target, first + math.ceil((size - settings.retain_bytes) / per_event))
        if target <= first:
            self.holding = {}
        elif settings.retain_until_acked:
            held = storage.held_by_subscribers()
            self.holding = {(h.queue_id, h.name): h.seq for h in held if h.seq < target}
            floor = min((h.seq for h in held), default=target)
            allowed = min(target, floor)
            if settings.retain_max_for_s is not None:
                cap = storage.first_seq_at(now - int(settings.retain_max_for_s * 1e6))
                allowed = max(allowed, cap)
            target = allowed
        return target

    async def _refresh_if_stale(self) -> None:
        if self._stale:
            self.positions = await self._writer.run(self.storage.positions)
            self._stale = False
            log.info("positions read again last_seq=%d", self.positions.last_seq)

    @staticmethod
    async def _in_thread(call: Callable[[], T]) -> T:
        return await trio.to_thread.run_sync(call, abandon_on_cancel=False)

    async def _serve_reads(self, reader: Reader) -> None:
        try:
            async for message in self.read_mailbox:
                try:
                    if isinstance(message, ReadRange):
                        value: Any = await self._in_thread(
                            functools.partial(
                                reader.read,
                                message.exchange_id,
                                message.first,
                                message.last,
                                message.limit,
                                message.max_bytes,
                            )
                        )
                    elif isinstance(message, ReadLog):
                        value = await self._in_thread(
                            functools.partial(reader.read_log, message.after_seq, message.limit)
                        )
                    elif isinstance(message, FindTime):
                        value = await self._in_thread(
                            functools.partial(
                                reader.first_offset_at,
                                message.exchange_id,
                                message.head,
                                message.time_us,
                                message.low,
                            )
                        )
                    else:
                        raise TypeError(f"StateActor: unexpected read {message!r}")
                except RouterError as error:
                    message.reply.fail(error)
                    continue
                message.reply.set(value)
        finally:
            reader.close()

    async def _purge_ids_now_and_then(self) -> None:
        window_us = int(self.settings.idempotency_keys_s * 1_000_000)
        while True:
            await self.mailbox.send(PurgeIds(now_us() - window_us))
            await trio.sleep(PURGE_EVERY_S)  # a periodic job, not a wait for a condition


def _or_none(value: float | None, unit: str) -> str:
    return "none" if value is None else f"{value:g}{unit}"
