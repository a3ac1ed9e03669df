"""The storage interface the StateActor uses, and the commit planning both backends share.

Every method here is synchronous and blocking: the StateActor calls them through
``trio.to_thread.run_sync``, one call at a time per connection. A writer (``Storage``) and any
number of readers (``Reader``, one connection each) may be open at once.

Failures that retrying later can cure (server down, connection lost, disk full) raise
:class:`StorageUnavailable`; every write is one transaction, so a failure leaves nothing half-done.
"""

from __future__ import annotations

import abc
import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from router.core.errors import Unavailable
from router.core.model import (
    Delivery,
    EventId,
    ExchangeRecord,
    NewEvent,
    QueueRecord,
    StoredEvent,
    SubscriberRecord,
    TokenRecord,
    UserRecord,
)
from storage._migrations import Schema
from storage.control import ControlPlane, Run
from storage.retention import Horizon, Retention


class StorageUnavailable(Unavailable):
    """The store cannot take this call now (down, disconnected, full). Nothing was written."""


# The cursors a commit saves: (queue id, subscriber name) -> (acked offset, ledger).
Cursors = Mapping[tuple[str, str], tuple[int, str]]


@attrs.frozen
class Positions:
    """Where the log and every exchange stand: what the single writer needs to give out numbers."""

    last_seq: int
    last_published_at: int
    heads: Mapping[int, int]  # exchange id -> last offset


@attrs.frozen
class Restored:
    """Everything the router keeps, as read at start-up."""

    positions: Positions
    exchanges: tuple[ExchangeRecord, ...]
    queues: tuple[QueueRecord, ...]
    subscribers: tuple[SubscriberRecord, ...]
    users: tuple[UserRecord, ...] = ()
    tokens: tuple[TokenRecord, ...] = ()
    owners: tuple[tuple[str, str, str], ...] = ()  # (queue id, subscriber, the user who made it)
    horizon: Horizon = Horizon()


@attrs.frozen
class Append:
    """Events to store, each with the exchange ids its type is routed to (matched by the caller).

    On a route node the events are stored already (by the ingest node) and only routed.
    """

    events: Sequence[NewEvent | StoredEvent]
    routes: Sequence[tuple[int, ...]]
    # Who published them ("": unknown, as with auth off or from an ingest bridge), remembered
    # with their seqs; ``scoped``: an id another publisher used refuses the whole append.
    publisher: str = ""
    scoped: bool = False


@attrs.define(slots=True)  # not frozen: built once per event (see router.core.model)
class EventOutcome:
    seq: int
    duplicate: bool
    offsets: tuple[tuple[int, int], ...]  # (exchange id, offset)
    # Its append used an id another publisher used: nothing of it stored; ``duplicate`` marks
    # the event whose id it was.
    refused: bool = False


@attrs.frozen
class CommitResult:
    outcomes: list[EventOutcome]
    deliveries: dict[int, list[Delivery]]  # exchange id -> new deliveries in offset order
    positions: Positions
    committed_ns: int = 0  # when the commit was done, ns since the epoch (for traces)


@attrs.define
class Plan:
    """Rows to write for one commit, computed in memory before the transaction writes them."""

    events: list[StoredEvent] = attrs.Factory(list)
    log_rows: list[tuple[int, int, int]] = attrs.Factory(list)  # (exchange id, offset, seq)
    outcomes: list[EventOutcome | None] = attrs.Factory(list)
    deliveries: dict[int, list[Delivery]] = attrs.Factory(dict)
    # The commit's row of event_publishers, if it has named publishers: (first seq, last seq,
    # its runs as JSON [[first, last, user], ...], published_at).
    publishers: list[tuple[int, int, str, int]] = attrs.Factory(list)


def id_bytes(event_id: EventId) -> bytes:
    """The 16 bytes of a canonical UUID text, as the stores keep it."""
    return bytes.fromhex(event_id.replace("-", ""))


def id_text(raw: bytes) -> EventId:
    """The canonical text of 16 stored bytes (what ``str(uuid.UUID(bytes=raw))`` gives, faster)."""
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def needs_publishers(appends: Sequence[Append], existing: Mapping[EventId, int]) -> bool:
    """Whether planning needs to know who published the ``existing`` ids (a scoped append
    re-uses one of them)."""
    return bool(existing) and any(
        a.scoped and any(e.id in existing for e in a.events) for a in appends
    )


def seq_at(connection: Any, mark: str, exchange_id: int, offset: int) -> int | None:
    """The seq at ``offset`` in the exchange's log, None if no row is there. ``mark``: the
    driver's parameter mark."""
    row = connection.execute(
        f"SELECT seq FROM exchange_log WHERE exchange_id = {mark} AND exchange_offset = {mark}",
        (exchange_id, offset),
    ).fetchone()
    return None if row is None else int(row[0])


def publishers_of(connection: Any, mark: str, seqs: Iterable[int]) -> dict[int, str]:
    """Who published each of ``seqs``, where remembered (table event_publishers: one row per
    commit, holding the runs of seqs each named publisher was given). ``mark``: the driver's
    parameter mark."""
    found: dict[int, str] = {}
    for seq in set(seqs):
        row = connection.execute(
            f"SELECT last_seq, runs FROM event_publishers WHERE first_seq <= {mark}"
            " ORDER BY first_seq DESC LIMIT 1",
            (seq,),
        ).fetchone()
        if row is None or int(row[0]) < seq:
            continue
        for first, last, user in json.loads(row[1]):
            if first <= seq <= last:
                found[seq] = str(user)
                break
    return found


def clashing(
    appends: Sequence[Append], existing: Mapping[EventId, int], publishers: Mapping[int, str]
) -> dict[int, int]:
    """The scoped appends that use an id another publisher used (stored, by its seq in
    ``publishers``, or earlier in this commit): append index -> index of the first such event.
    An id whose publisher is unknown (stored before publishers were remembered, or by an
    unnamed publisher) clashes with no one."""
    named = {a.publisher for a in appends if a.publisher}
    if len(named) <= 1 and not publishers:
        return {}
    claimed: dict[EventId, str] = {}
    found: dict[int, int] = {}
    for index, append in enumerate(appends):
        owner = append.publisher
        if append.scoped:
            for position, event in enumerate(append.events):
                other = claimed.get(event.id)
                if other is None and event.id in existing:
                    other = publishers.get(existing[event.id])
                if other and other != owner:
                    found[index] = position
                    break
        if index not in found and owner:
            for event in append.events:
                claimed.setdefault(event.id, owner)
    return found


def plan_commit(
    appends: Sequence[Append],
    existing: Mapping[EventId, int],
    positions: Positions,
    now: int,
    publishers: Mapping[int, str] | None = None,
) -> tuple[Plan, Positions, list[tuple[int, EventId]]]:
    """Give seqs, timestamps and exchange offsets to the events not stored yet.

    ``existing`` maps already-stored ids to their seq, ``publishers`` some of those seqs to who
    published them (see :func:`needs_publishers`). Returns the plan, the positions after it,
    and the duplicates as (index in the flattened input, id) for the caller to resolve. A
    scoped append that uses another publisher's id (:func:`clashing`) is refused whole: its
    outcomes say so and none of its events is stored.
    """
    plan = Plan()
    heads = dict(positions.heads)
    seq = positions.last_seq
    published_at = max(now, positions.last_published_at)
    seen: dict[EventId, EventOutcome] = {}
    duplicates: list[tuple[int, EventId]] = []
    stored_events, log_rows, outcomes = plan.events, plan.log_rows, plan.outcomes
    deliveries = plan.deliveries
    seen_get = seen.get
    refused = clashing(appends, existing, publishers or {})
    runs: list[list[Any]] = []  # [first seq, last seq, publisher] of the named appends
    for index, append in enumerate(appends):
        if index in refused:
            at = refused[index]
            outcomes.extend(EventOutcome(0, i == at, (), True) for i in range(len(append.events)))
            continue
        first = seq + 1
        for event, route in zip(append.events, append.routes, strict=True):
            event_id = event.id
            earlier = seen_get(event_id)
            if earlier is not None:  # twice in this commit: the second copy points at the first
                outcomes.append(EventOutcome(earlier.seq, True, earlier.offsets))
                continue
            if event_id in existing:
                duplicates.append((len(outcomes), event_id))
                outcomes.append(None)
                continue
            seq += 1
            stored = StoredEvent(
                seq, event_id, event.type, event.payload, event.headers, published_at
            )
            stored_events.append(stored)
            outcome = EventOutcome(seq, False, _route(stored, route, heads, log_rows, deliveries))
            seen[event_id] = outcome
            outcomes.append(outcome)
        if append.publisher and seq >= first:
            if runs and runs[-1][2] == append.publisher and runs[-1][1] == first - 1:
                runs[-1][1] = seq
            else:
                runs.append([first, seq, append.publisher])
    if runs:
        text = json.dumps(runs, separators=(",", ":"))
        plan.publishers.append((runs[0][0], runs[-1][1], text, published_at))
    after = Positions(seq, published_at if plan.events else positions.last_published_at, heads)
    return plan, after, duplicates


def plan_routing(appends: Sequence[Append], positions: Positions) -> tuple[Plan, Positions]:
    """Give exchange offsets to events stored already (by an ingest node), in seq order.

    A route node's ``positions.last_seq`` is the last seq it routed: events at or before it were
    routed before (a follower asked again after a restart) and are skipped as duplicates.
    """
    plan = Plan()
    heads = dict(positions.heads)
    last_seq, last_at = positions.last_seq, positions.last_published_at
    for append in appends:
        for event, route in zip(append.events, append.routes, strict=True):
            assert isinstance(event, StoredEvent), "a route node routes stored events"
            if event.seq <= last_seq:
                plan.outcomes.append(EventOutcome(event.seq, True, ()))
                continue
            last_seq, last_at = event.seq, event.published_at
            offsets = _route(event, route, heads, plan.log_rows, plan.deliveries)
            plan.outcomes.append(EventOutcome(event.seq, False, offsets))
    return plan, Positions(last_seq, last_at, heads)


def _route(
    stored: StoredEvent,
    route: tuple[int, ...],
    heads: dict[int, int],
    log_rows: list[tuple[int, int, int]],
    deliveries: dict[int, list[Delivery]],
) -> tuple[tuple[int, int], ...]:
    """The next offset in each exchange of ``route``, with its log row and its delivery."""
    offsets = []
    for exchange_id in route:
        if exchange_id not in heads:
            continue  # deleted while the publish was on its way
        offset = heads[exchange_id] + 1
        heads[exchange_id] = offset
        offsets.append((exchange_id, offset))
        log_rows.append((exchange_id, offset, stored.seq))
        into = deliveries.get(exchange_id)
        if into is None:
            into = deliveries[exchange_id] = []
        into.append(Delivery(offset, stored))
    return tuple(offsets)


class Reader(abc.ABC):
    """One read connection: replay chunks and point look-ups. Not shared between threads at once."""

    @abc.abstractmethod
    def read(
        self, exchange_id: int, first: int, last: int, limit: int, max_bytes: int = 0
    ) -> Sequence[Delivery]:
        """Deliveries of ``exchange_id`` with ``first <= offset <= last``, at most ``limit``,
        and with ``max_bytes`` (0: no limit) no more than fit in it (at least one, however
        large): the rows past it are not fetched.

        A :class:`router.core.wire.WireBatch`: the events as stored, framed, parsed only if looked at.
        """

    @abc.abstractmethod
    def published_at(self, exchange_id: int, offset: int) -> int | None:
        """The timestamp of the event at ``offset`` in the exchange, or None past the head."""

    @abc.abstractmethod
    def read_log(self, after_seq: int, limit: int) -> list[StoredEvent]:
        """Stored events with ``seq > after_seq`` in seq order, at most ``limit`` (for followers)."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def first_offset_at(self, exchange_id: int, head: int, time_us: int, low: int = 1) -> int:
        """The first offset from ``low`` (the oldest kept) whose event was published at or after
        ``time_us`` (head + 1 if none)."""
        return first_offset_where(head, lambda o: self.published_at(exchange_id, o), time_us, low)


class Storage(Retention, ControlPlane):
    """The single writer's connection to a store, either backend. Only the StateActor calls it.

    Users, tokens, exchanges, queues and subscribers come from
    :class:`storage.control.ControlPlane`; removing the oldest events from
    :class:`storage.retention.Retention`. Restoring and the positions are read here, with SQL
    both backends share; each gives only its newest event (``_last_event``).
    """

    url: str
    _tails: dict[int, int]  # exchange id -> oldest kept offset, as positions() last read them

    @abc.abstractmethod
    def migrate(self, upto: int | None = None) -> list[int]:
        """Apply the migrations not yet applied (those up to ``upto``), in order; return their
        versions. Raises SchemaNewer (storage._migrations), changing nothing, when the store's
        schema is newer than this router knows."""

    @abc.abstractmethod
    def schema_state(self) -> Schema:
        """Where the store's schema stands against this router's (reads only)."""

    def restore(self) -> Restored:
        """Everything the router keeps, as read at start-up."""
        positions = self.positions()
        return Restored(
            positions,
            self.exchanges(positions.heads),
            self.queues(),
            self.subscribers(),
            tuple(self.users()),
            tuple(self.tokens()),
            tuple(self.subscriber_owners()),
            self.horizon(),
        )

    @abc.abstractmethod
    def _last_event(self, run: Run) -> tuple[int, int] | None:
        """(seq, published_at) of the newest event of the log, None when it is empty."""

    def positions(self) -> Positions:
        """Read the log's and exchanges' heads again (after a failure left them in doubt)."""
        heads, tails = {}, {}
        with self._control() as run:
            last = self._last_event(run)
            for exchange_id, first_kept in run("SELECT id, first_kept FROM exchanges", ()):
                ((head,),) = run(
                    "SELECT coalesce(max(exchange_offset), 0) FROM exchange_log"
                    " WHERE exchange_id = ?",
                    (exchange_id,),
                )
                heads[int(exchange_id)] = max(int(head), int(first_kept) - 1)
                tails[int(exchange_id)] = int(first_kept)
            if last is None:  # every event removed: the horizon still says how far the log went
                ((first_seq, removed_until),) = run(
                    "SELECT first_seq, removed_until FROM log_horizon", ()
                )
                last = (int(first_seq) - 1, int(removed_until))
        self._tails = tails
        return Positions(int(last[0]), int(last[1]), heads)

    @abc.abstractmethod
    def commit(
        self, appends: Sequence[Append], cursors: Cursors, positions: Positions, now: int
    ) -> CommitResult:
        """Store the new events, route them, save the cursors (acked, ledger): one transaction."""

    @abc.abstractmethod
    def create_exchange(
        self, name: str, patterns: tuple[str, ...], created_at: int, matcher: Callable[[str], bool]
    ) -> ExchangeRecord:
        """Create an exchange and index every stored event whose type ``matcher`` accepts.

        Raises AlreadyExists when the name is taken. The returned record's ``head`` counts the
        events indexed from history.
        """

    @abc.abstractmethod
    def purge_ids(self, older_than: int) -> int:
        """Forget idempotency keys of events published before ``older_than``; return how many.
        A store may keep some a while longer (SQLite's largest id index: ADR 0011), never shorter."""

    @abc.abstractmethod
    def reader(self) -> Reader: ...

    @abc.abstractmethod
    def close(self) -> None: ...


def first_offset_where(
    head: int, value_at: Callable[[int], int | None], target: int, low: int = 1
) -> int:
    """The first offset in low..head whose value is >= ``target`` (head + 1 if none); ``low`` is
    the exchange's oldest kept offset (retention removes the ones before it).

    Seqs and timestamps never decrease along an exchange's offsets, so a binary search over the
    primary key answers "where is seq S" and "where does time T begin" without another index.
    """
    high = head + 1
    while low < high:
        middle = (low + high) // 2
        value = value_at(middle)
        if value is None or value >= target:
            high = middle
        else:
            low = middle + 1
    return low


def resolve_duplicates(
    duplicates: Iterable[tuple[int, EventId]],
    seqs: Mapping[EventId, int],
    heads: Mapping[int, int],
    seq_at: Callable[[int, int], int | None],
    tails: Mapping[int, int],
) -> dict[int, EventOutcome]:
    """Outcomes for re-published ids: the original seq and its offsets in today's exchanges
    (none where retention has removed it since)."""
    resolved: dict[int, EventOutcome] = {}
    for index, event_id in duplicates:
        seq = seqs[event_id]
        offsets = []
        for exchange_id, head in heads.items():
            low = tails.get(exchange_id, 1)
            offset = first_offset_where(head, functools.partial(seq_at, exchange_id), seq, low)
            if offset <= head and seq_at(exchange_id, offset) == seq:
                offsets.append((exchange_id, offset))
        resolved[index] = EventOutcome(seq, True, tuple(offsets))
    return resolved


def finish_commit(
    plan: Plan, resolved: Mapping[int, EventOutcome], positions: Positions
) -> CommitResult:
    outcomes = [
        outcome if outcome is not None else resolved[index]
        for index, outcome in enumerate(plan.outcomes)
    ]
    return CommitResult(outcomes, plan.deliveries, positions)
