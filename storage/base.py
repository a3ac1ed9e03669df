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

import attrs

from router.errors import Unavailable
from router.model import (
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
from router.wire import encode_event
from storage.control import ControlPlane
from storage.retention import Horizon, Retention


class StorageUnavailable(Unavailable):
    """The store cannot take this call now (down, disconnected, full). Nothing was written."""


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


@attrs.define(slots=True)  # not frozen: built once per event (see router.model)
class EventOutcome:
    seq: int
    duplicate: bool
    offsets: tuple[tuple[int, int], ...]  # (exchange id, offset)


@attrs.frozen
class CommitResult:
    outcomes: list[EventOutcome]
    deliveries: dict[int, list[Delivery]]  # exchange id -> new deliveries in offset order
    positions: Positions
    committed_ns: int = 0  # when the commit was done, ns since the epoch (for traces)


@attrs.define
class _Plan:
    """Rows to write for one commit, computed in memory before the transaction writes them."""

    events: list[StoredEvent] = attrs.Factory(list)
    log_rows: list[tuple[int, int, int]] = attrs.Factory(list)  # (exchange id, offset, seq)
    outcomes: list[EventOutcome | None] = attrs.Factory(list)
    deliveries: dict[int, list[Delivery]] = attrs.Factory(dict)


def id_bytes(event_id: EventId) -> bytes:
    """The 16 bytes of a canonical UUID text, as the stores keep it."""
    return bytes.fromhex(event_id.replace("-", ""))


def id_text(raw: bytes) -> EventId:
    """The canonical text of 16 stored bytes (what ``str(uuid.UUID(bytes=raw))`` gives, faster)."""
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# The migration (both dialects) after which the events table has its ``wire`` column, filled from
# the columns it replaces (payload, headers) before the next migration drops them.
WIRE_MIGRATION = 3
WIRE_FILL_ROWS = 5_000


def wire_from_columns(
    seq: int, event_id: EventId, type_: str, payload: bytes, headers: str, published_at: int
) -> bytes:
    """The wire form of an event stored before migration 3 (headers were a JSON object)."""
    found = tuple(sorted(json.loads(headers).items())) if headers else ()
    return encode_event(StoredEvent(seq, event_id, type_, payload, found, published_at))


def plan_commit(
    appends: Sequence[Append],
    existing: Mapping[EventId, int],
    positions: Positions,
    now: int,
) -> tuple[_Plan, Positions, list[tuple[int, EventId]]]:
    """Give seqs, timestamps and exchange offsets to the events not stored yet.

    ``existing`` maps already-stored ids to their seq. Returns the plan, the positions after it,
    and the duplicates as (index in the flattened input, id) for the caller to resolve.
    """
    plan = _Plan()
    heads = dict(positions.heads)
    seq = positions.last_seq
    published_at = max(now, positions.last_published_at)
    seen: dict[EventId, EventOutcome] = {}
    duplicates: list[tuple[int, EventId]] = []
    stored_events, log_rows, outcomes = plan.events, plan.log_rows, plan.outcomes
    deliveries = plan.deliveries
    seen_get = seen.get
    for append in appends:
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
    after = Positions(seq, published_at if plan.events else positions.last_published_at, heads)
    return plan, after, duplicates


def plan_routing(appends: Sequence[Append], positions: Positions) -> tuple[_Plan, Positions]:
    """Give exchange offsets to events stored already (by an ingest node), in seq order.

    A route node's ``positions.last_seq`` is the last seq it routed: events at or before it were
    routed before (a follower asked again after a restart) and are skipped as duplicates.
    """
    plan = _Plan()
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

        A :class:`router.wire.WireBatch`: the events as stored, framed, parsed only if looked at.
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
    """The single writer's connection. Only the StateActor calls it.

    Users, tokens and subscriber deletion come from :class:`storage.control.ControlPlane`;
    removing the oldest events from :class:`storage.retention.Retention`.
    """

    url: str

    @abc.abstractmethod
    def migrate(self) -> list[int]:
        """Apply the migrations not yet applied, in order; return their versions."""

    @abc.abstractmethod
    def restore(self) -> Restored: ...

    @abc.abstractmethod
    def positions(self) -> Positions:
        """Read the log's and exchanges' heads again (after a failure left them in doubt)."""

    @abc.abstractmethod
    def commit(
        self,
        appends: Sequence[Append],
        cursors: Mapping[tuple[str, str], tuple[int, str]],
        positions: Positions,
        now: int,
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
    plan: _Plan, resolved: Mapping[int, EventOutcome], positions: Positions
) -> CommitResult:
    outcomes = [
        outcome if outcome is not None else resolved[index]
        for index, outcome in enumerate(plan.outcomes)
    ]
    return CommitResult(outcomes, plan.deliveries, positions)
