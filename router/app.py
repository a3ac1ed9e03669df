"""Wiring: the Router opens storage, restores state and runs the actor tree under one nursery.

    async with open_router(settings) as router:
        await router.create_exchange("orders", ["order.*"])
        acks = await router.publish([...])

Start-up restores exchanges, queues and subscribers (all sleeping) before ``open_router`` yields,
so edges start listening only on a ready router. Leaving the block cancels the tree: subscribers
flush their cursors, the running commit completes, storage closes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

from actors.dispatcher import Dispatcher
from actors.manager import ConsumerManager
from actors.messages import (
    AdvanceCursor,
    ChangeParked,
    ChangeSettings,
    ForgetSubscriber,
    Gap,
    MoveCursor,
    Rejected,
    Settled,
    SettleSleeping,
)
from actors.queue import QueueActor, QueueView, SubscriberView
from actors.runtime import Callback, Policy, ask, supervise
from actors.state import StateActor
from actors.subscriber import Subscription, first_offset, time_gap
from router.control import reach
from router.control.audit import Audit
from router.control.auth import Auth
from router.control.contracts import Contracts
from router.core import validation
from router.core.build import build
from router.core.consumers import ParkedEvent
from router.core.errors import FailedPrecondition, InvalidArgument, NotFound, RouterError
from router.core.model import (
    Delivery,
    ExchangeRecord,
    NewEvent,
    PublishAck,
    QueueConfig,
    Role,
    StartPoint,
    StoredEvent,
    TypeSchema,
    UserRecord,
    now_us,
)
from router.core.settings import Settings
from router.core.urls import redact as redact  # re-exported: the edges show URLs redacted
from router.core.wire import bounds, counts_of
from router.observe import asyncapi
from router.observe.stats import Cluster, Retained, ServerInfo, Stats
from router.observe.tracing import Tracing
from storage import open_storage
from storage.leadership import Lease

log = logging.getLogger("router")
STORED_READ_S = 10.0  # how long a pull may take to read events that are already stored
FOLLOW_COALESCE_S = 0.2  # a parked-list follower re-reads the list at most this often


@attrs.define(eq=False)
class Router:
    """The facade the edges call. Every method validates its input before any actor sees it."""

    settings: Settings
    state: StateActor
    dispatcher: Dispatcher
    manager: ConsumerManager
    auth: Auth
    audit: Audit
    contracts: Contracts
    tracing: Tracing | None = None  # router.observe.tracing: OpenTelemetry, when configured
    # The first admin's token when this start created it (to show once), else None.
    initial_admin_token: str | None = None
    started_at: int = attrs.Factory(now_us)
    amqp_ingest: Any = None  # router.amqp.ingest.Ingest when --amqp-url is given
    follower: Any = None  # router.node.follow.Follower on a route node
    # Who leads the routers sharing this PostgreSQL, refreshed with each lease renewal; None on
    # SQLite and route nodes, which do not take part in leadership.
    cluster: Cluster | None = None
    _asyncio_thread: Any = None  # router.bridge.AsyncioThread: grpclib and aiormq run on it
    _own_thread: bool = False

    def use_bridge(self, bridge: Any) -> None:
        """The bridge ``serve`` opened (it outlives the servers' cancellation, for draining)."""
        self._asyncio_thread = bridge

    def asyncio_thread(self) -> Any:
        """The asyncio loop in its own thread that hosts grpclib and aiormq."""
        if self._asyncio_thread is None:
            from router.bridge import AsyncioThread

            self._asyncio_thread = AsyncioThread()
            self._own_thread = True
        return self._asyncio_thread

    def close(self) -> None:
        if self._own_thread:
            self._asyncio_thread.close()

    def _serves(self, what: str, *roles: str) -> None:
        """FailedPrecondition unless this node's role does ``what``."""
        if self.settings.role not in roles:
            where = "the ingest node" if "ingest" in roles else "a route node"
            raise FailedPrecondition(
                f"role: this node runs --role {self.settings.role}; {what} on {where}"
            )

    async def publish(
        self,
        events: Sequence[NewEvent],
        carrier: Mapping[str, str] | None = None,
        by: UserRecord | None = None,
    ) -> Sequence[PublishAck]:
        """Store and route ``events``; the acks come after the commit. ``carrier``: the call's
        trace context (traceparent, tracestate), for router.observe.tracing. ``by``: the user publishing
        (None: auth off, or a bridge): an id another user published is refused with
        ALREADY_EXISTS, not acked as a duplicate (:func:`publisher`)."""
        if self.tracing is not None:
            events, span = self.tracing.publishing(events, carrier)
            try:
                acks = await self._publish(events, by)
            except RouterError as error:
                self.tracing.finished(span, error, True)
                raise
            self.tracing.finished(span, acks, False)
            return acks
        return await self._publish(events, by)

    async def _publish(
        self, events: Sequence[NewEvent], by: UserRecord | None
    ) -> Sequence[PublishAck]:
        self._serves("publish", "all", "ingest")
        validation.batch_size(len(events), self.settings)
        self.contracts.check(events)
        return await self.dispatcher.publish(tuple(events), *publisher(by))

    def publish_soon(
        self,
        told: Callable[[Any, bool], None],
        events: Sequence[NewEvent],
        carrier: Mapping[str, str] | None = None,
        by: UserRecord | None = None,
    ) -> None:
        """:meth:`publish` from a plain Trio callback: ``told(acks, False)`` after the commit, or
        ``told(error, True)``; no Trio task waits for it (gRPC publishes, unary and streamed)."""
        if self.tracing is not None:
            events, span = self.tracing.publishing(events, carrier)
            told = self.tracing.told(span, told)
        try:
            self._serves("publish", "all", "ingest")
            validation.batch_size(len(events), self.settings)
            self.contracts.check(events)
        except RouterError as error:
            told(error, True)
            return
        self.dispatcher.publish_soon(tuple(events), Callback(told=told), *publisher(by))

    async def route_stored(self, events: Sequence[StoredEvent]) -> None:
        """A route node: give offsets to events its ingest node stored, and deliver them."""
        await self.dispatcher.publish(tuple(events))

    async def log_position(self) -> int:
        """The log's last committed seq (on the nodes that keep the log)."""
        self._serves("follow the log", "all", "ingest")
        return self.state.positions.last_seq

    async def log_after(self, after_seq: int, most: int) -> tuple[list[StoredEvent], int]:
        """Committed events after ``after_seq`` (up to ``most``), waiting for the next commit when
        there are none yet: (events, the log's last seq)."""
        self._serves("follow the log", "all", "ingest")
        if after_seq < 0:
            raise InvalidArgument(f"after_seq: {after_seq} is negative")
        if not 0 <= most <= 10_000:
            raise InvalidArgument(f"max_batch: {most} is outside 0..10000")
        state = self.state
        while True:
            moved = state.log_moved
            if state.positions.last_seq > after_seq:
                events = await state.read_log(after_seq, most or self.settings.replay_chunk)
                if events:
                    return events, state.positions.last_seq
            await moved.wait()

    async def create_exchange(
        self, name: str, patterns: Sequence[str], by: UserRecord | None = None
    ) -> ExchangeRecord:
        """A new exchange; ``by`` (None: auth is off) may give it only patterns within those
        of the other exchanges it may consume (router.control.reach)."""
        self._serves("create exchanges", "all", "route")
        name, checked = validation.name(name, "name"), validation.patterns(patterns)
        others = ((a.record.name, a.record.patterns) for a in self.dispatcher.exchanges.values())
        reach.permit_patterns(by, checked, name, others)
        return await self.dispatcher.add_exchange(name, checked)

    async def delete_exchange(self, name: str) -> None:
        await self.dispatcher.remove_exchange(validation.name(name, "name"))

    async def list_exchanges(self) -> list[ExchangeRecord]:
        found = await self.dispatcher.list_exchanges()
        return [self._with_tail(record) for record in found]

    def _with_tail(self, record: ExchangeRecord) -> ExchangeRecord:
        return attrs.evolve(record, first_offset=self.state.horizon.tail(record.id))

    async def subscribe(
        self,
        exchange: str,
        name: str,
        start: StartPoint,
        limit_size: int = 0,
        consumer: str = "",
        settings: dict[str, Any] | None = None,
        prefetch: int = 0,
        most: int = 0,
        owner: UserRecord | None = None,
        most_bytes: int = 0,
    ) -> Subscription:
        """Attach a consumer (``consumer``: its address, shown to operators). ``settings`` are
        those of a new subscriber (router.core.consumers); ``prefetch`` this consumer's own; ``most``
        the deliveries it takes before it leaves (a pull; 0: no end), ``most_bytes`` their
        stored bytes (at least one delivery; 0: no end). A subscriber this call creates is
        counted as ``owner``'s, within its quota."""
        self._serves("subscribe", "all", "route")
        exchange = validation.name(exchange, "exchange")
        name = validation.name(name, "subscriber")
        limit_size = validation.limit_size(limit_size, self.settings)
        queue_id = QueueConfig(exchange, limit_size).key()
        exists = self.manager.exchange_of(queue_id, name) is not None
        attach = reach.Attach()  # creating one: nothing is moved, it will be the owner's
        if exists:
            attach = reach.permit_attach(self.auth, owner, exchange, name, queue_id, start)
        creator = None if exists else owner
        # Creating one: its place in the owner's quota is taken before the first await and
        # held until it is owned, so that calls arriving together are counted together.
        key = (exchange, name)
        if creator is not None:
            self.auth.take_subscriber(creator, key, self.manager.exchange_of)
        try:
            subscription = await self.manager.subscribe(
                exchange, name, limit_size, start, consumer, settings, prefetch, most, most_bytes
            )
            try:
                if creator is not None:
                    await self.auth.own(creator, subscription.queue_id, name)
                if attach.moves or attach.foreign:  # a move is audited as ResetSubscriber is
                    action = "subscriber.move" if attach.moves else "subscriber.attach"
                    who, detail = (owner.name if owner else ""), json.dumps({"start": str(start)})
                    await self.audit.record(who, action, f"{exchange}/{name}", consumer, detail)
            except RouterError:
                await subscription.close()
                raise
        finally:
            if creator is not None:
                self.auth.creating.give_back(creator.name, key)
        return subscription

    async def read(
        self, exchange: str, start: StartPoint, most: int, most_bytes: int = 0
    ) -> tuple[Sequence[Delivery], int, int, Gap | None]:
        """Up to ``most`` stored deliveries from ``start``, and no more than fit in
        ``most_bytes`` (at least one; 0: no limit), read no further: (deliveries, head, next
        offset, the gap notice when ``start`` was before the horizon: the page then starts at
        it)."""
        self._serves("read exchanges", "all", "route")
        record, _ = await self.dispatcher.find_exchange(validation.name(exchange, "exchange"))
        head = record.head
        if not 1 <= most <= 10_000:
            raise InvalidArgument(f"max: {most} is outside 1..10000")
        first = await first_offset(start, head, record.id, self.state)
        gap = time_gap(start, first, record.id, self.state)
        while True:
            tail = self.state.horizon.tail(record.id)
            if first < tail:
                gap, first = Gap(first, tail - 1), tail
            if first > head:
                return [], head, first, gap
            last = min(head, first + most - 1)
            deliveries = await self.state.read(record.id, first, last, most, most_bytes)
            if deliveries and bounds(deliveries)[0] == first:
                return deliveries, head, bounds(deliveries)[1] + 1, gap
            await self.state.horizon_settled()  # removed as it was read: read from the horizon
            if self.state.horizon.tail(record.id) <= first:
                return [], head, first, gap

    def describe_exchange(self, name: str) -> tuple[ExchangeRecord, int]:
        """The exchange with its current head and the events routed to it since start-up."""
        validation.name(name, "name")
        for actor in self.dispatcher.exchanges.values():
            if actor.record.name == name:
                return self._with_tail(attrs.evolve(actor.record, head=actor.head)), actor.events_in
        raise NotFound(f"name: no exchange named {name!r}")

    def links(self) -> dict[str, dict[str, Any]]:
        """The state of the router's links to other systems (RabbitMQ, an upstream ingest node)."""
        found = {}
        if self.amqp_ingest is not None:
            found["amqp"] = attrs.asdict(self.amqp_ingest.stats)
        if self.follower is not None:
            found["upstream"] = attrs.asdict(self.follower.stats)
        return found

    def stats(self, with_subscribers: bool = True) -> Stats:
        """Counters since start-up and gauges, read in one go (Trio runs one task at a time);
        rates are differences between two snapshots. ``with_subscribers=False`` leaves the
        per-subscriber views out (the rate sampler, once a second, counts none of them)."""
        exchanges = [
            (self._with_tail(attrs.evolve(actor.record, head=actor.head)), actor.events_in)
            for actor in self.dispatcher.exchanges.values()
        ]
        state = self.state
        return Stats(
            at_us=now_us(),
            last_seq=state.positions.last_seq,
            published=self.dispatcher.published,
            exchanges=sorted(exchanges, key=lambda pair: pair[0].name),
            queues=self.list_queues(),
            subscribers=self.list_subscribers() if with_subscribers else [],
            links=self.links(),
            committed=state.committed_events,
            commits=state.commits,
            commit_seconds=state.commit_seconds,
            commit_failures=state.commit_failures,
            largest_commit=state.largest_commit,
            storage_failing=state.stale,
            auth_failures=self.audit.failures_now(),
            quotas=self.auth.quota_use(),
            types=self.contracts.stats(),
            retention=Retained(
                state.horizon.first_seq,
                state.horizon.removed_until,
                state.removed_events,
                state.removed_parked,
                state.trim_steps,
                state.trim_seconds,
                state.gap_notices,
                state.gap_events,
                state.trim_failures,
            ),
        )

    def info(self) -> ServerInfo:
        """What this server is, and its size right now."""
        return ServerInfo(
            version=str(build()),
            storage=self.settings.db_url.split(":", 1)[0],
            auth=self.auth.enabled,
            role=self.settings.role,
            started_at_us=self.started_at,
            last_seq=self.state.positions.last_seq,
            exchanges=len(self.dispatcher.exchanges),
            queues=len(self.manager.queues),
            first_seq=self.state.horizon.first_seq,
            removed_until_us=self.state.horizon.removed_until,
            removed_events=self.state.removed_events,
            retention=retention_text(self.settings),
            **(attrs.asdict(self.cluster, recurse=False) if self.cluster else {}),
        )

    async def trim_log(
        self, before_seq: int, before_time_us: int, dry_run: bool, most: int
    ) -> TrimReport:
        """One removal step towards a seq or a time (``router log trim``); a dry run counts."""
        self._serves("remove events", "all")
        if (before_seq > 0) == (before_time_us > 0):
            raise InvalidArgument("before_seq: give a seq or a time (before_time_us), one of them")
        if before_seq < 0 or before_time_us < 0:
            raise InvalidArgument("before_seq: must not be negative")
        most = most or 10_000
        if not 1 <= most <= 100_000:
            raise InvalidArgument(f"max: {most} is outside 1..100000")
        state = self.state
        if before_time_us:
            before = await state.write(lambda storage: storage.first_seq_at(before_time_us))
        else:
            before = before_seq
        before = min(before, state.positions.last_seq + 1)
        first = state.horizon.first_seq
        if dry_run:
            count = max(0, before - first)
            return TrimReport(count, 0, max(first, before), state.horizon.removed_until, 0)
        trimmed = await state.trim(before, most)
        horizon = trimmed.horizon
        return TrimReport(
            trimmed.events,
            max(0, before - horizon.first_seq),
            horizon.first_seq,
            horizon.removed_until,
            trimmed.parked,
        )

    # --- event types and their schemas (router.control.contracts), and the AsyncAPI document ---

    async def register_type(
        self,
        pattern: str,
        schema: str,
        mode: str = "",
        description: str = "",
        owner: str = "",
        *,
        by: str = "",
        force: bool = False,
    ) -> TypeSchema:
        """A new version of an event type's contract (router.control.contracts), checked from the
        next publish on; one narrower than the current is refused unless ``force``."""
        self._serves("event types", "all", "ingest")
        return await self.contracts.register(
            pattern, schema, mode, description, owner, by=by, force=force
        )

    async def delete_type(self, pattern: str) -> None:
        self._serves("event types", "all", "ingest")
        await self.contracts.delete(pattern)

    def type_schema(self, pattern: str, version: int = 0) -> TypeSchema:
        return self.contracts.current(pattern, version)

    def list_types(self) -> list[TypeSchema]:
        return self.contracts.listed()

    def asyncapi(self, by: UserRecord | None = None) -> dict[str, Any]:
        """This router as an AsyncAPI 3.0 document (router.observe.asyncapi), as ``by`` (None: auth is
        off) may see it: every event type, and the exchanges it may monitor or consume."""
        exchanges = [actor.record for actor in self.dispatcher.exchanges.values()]
        shown = [e for e in exchanges if reach.sees_exchange(by, e.name)]
        return asyncapi.document(self.settings, shown, self.contracts.listed())

    # --- queues and subscribers (read-only snapshots, and changes to sleeping subscribers) ---

    def list_queues(self, exchange: str = "") -> list[QueueView]:
        queues = self.manager.queues.values()
        return sorted(
            (q.view() for q in queues if not exchange or q.record.config.exchange == exchange),
            key=lambda v: (v.exchange, v.limit_size),
        )

    def list_subscribers(self, exchange: str = "", name: str = "") -> list[SubscriberView]:
        views: list[SubscriberView] = []
        for queue in self.manager.queues.values():
            if not exchange or queue.record.config.exchange == exchange:
                views.extend(queue.subscriber_views(name))
        return sorted(views, key=lambda v: (v.exchange, v.name, v.queue_id))

    def describe_subscriber(self, exchange: str, name: str, limit_size: int = 0) -> SubscriberView:
        (view,) = self._queue_of(exchange, name, limit_size).subscriber_views(name)
        return view

    async def delete_subscriber(self, exchange: str, name: str, limit_size: int = 0) -> None:
        queue = self._queue_of(exchange, name, limit_size)
        await ask(queue.mailbox, lambda r: ForgetSubscriber(name, r))

    async def reset_subscriber(
        self, exchange: str, name: str, start: StartPoint, limit_size: int = 0
    ) -> SubscriberView:
        queue = self._queue_of(exchange, name, limit_size)
        await ask(queue.mailbox, lambda r: MoveCursor(name, start, r))
        (view,) = queue.subscriber_views(name)
        return view

    async def ack_sleeping(
        self,
        exchange: str,
        name: str,
        offset: int,
        limit_size: int = 0,
        by: UserRecord | None = None,
    ) -> int:
        """A pull consumer's cumulative ack: the saved cursor moves forward to ``offset``; ``by``
        (None: auth is off) must be its creator or a manager (router.control.reach)."""
        queue = self._queue_of(exchange, name, limit_size)
        reach.permit_settle(self.auth, by, exchange, name, queue.record.id)
        acked: int = await ask(queue.mailbox, lambda r: AdvanceCursor(name, offset, r))
        return acked

    async def pull(
        self,
        exchange: str,
        name: str,
        start: StartPoint,
        most: int,
        wait_s: float,
        limit_size: int = 0,
        owner: UserRecord | None = None,
        consumer: str = "",
        most_bytes: int = 0,
    ) -> tuple[Subscription, list[Delivery], list[int]]:
        """Attach, take up to ``most`` deliveries and no more than fit in ``most_bytes`` (at
        least one; 0: no limit), leave: (the subscription, the deliveries, each one's delivery
        count). Nothing is settled here: see :meth:`ack_sleeping` and :meth:`settle_sleeping`;
        the subscriber hands out no more than that, and reads no more from storage, so what
        the caller does not get is not counted as delivered.

        Waits up to ``wait_s`` for new events when none are stored past the start; events that
        are stored already are read whatever ``wait_s`` says.
        """
        subscription = await self.subscribe(
            exchange,
            name,
            start,
            limit_size,
            consumer,
            most=most,
            owner=owner,
            most_bytes=most_bytes,
        )
        got: list[Delivery] = []
        counts: list[int] = []
        try:
            ready = subscription.ready  # stored, re-driven or due: read whatever wait_s says
            with trio.move_on_after(max(wait_s, STORED_READ_S if ready else 0.0)):
                batch = await subscription.next_batch()
                while batch:
                    got.extend(batch)
                    counts.extend(counts_of(batch))
                    if len(got) >= most:
                        break
                    try:
                        item = subscription.batches.receive_nowait()
                    except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                        break
                    if isinstance(item, Gap):
                        subscription.gaps.append(item)
                        item = ()
                    batch = () if isinstance(item, Rejected) else item
        finally:
            await subscription.close()
        return subscription, got[:most], counts[:most]

    async def settle_sleeping(
        self,
        exchange: str,
        name: str,
        acks: Sequence[tuple[int, int]],
        nacks: Sequence[tuple[int, float | None]],
        parks: Sequence[tuple[int, str]],
        limit_size: int = 0,
        by: UserRecord | None = None,
    ) -> Settled:
        """A pull consumer's per-event acks, nacks and parks (see :class:`SettleSleeping`), by
        its creator or a manager (router.control.reach)."""
        queue = self._queue_of(exchange, name, limit_size)
        reach.permit_settle(self.auth, by, exchange, name, queue.record.id)
        settled: Settled = await ask(
            queue.mailbox,
            lambda r: SettleSleeping(name, tuple(acks), tuple(nacks), tuple(parks), r),
        )
        return settled

    async def set_subscriber_settings(
        self, exchange: str, name: str, changes: dict[str, Any], limit_size: int = 0
    ) -> SubscriberView:
        queue = self._queue_of(exchange, name, limit_size)
        await ask(queue.mailbox, lambda r: ChangeSettings(name, changes, r))
        (view,) = queue.subscriber_views(name)
        return view

    async def list_parked(
        self,
        exchange: str,
        name: str,
        after: int = 0,
        most: int = 1000,
        limit_size: int = 0,
        wait_s: float = 0.0,
    ) -> tuple[list[tuple[ParkedEvent, Delivery | None]], int]:
        """A page of the parked list with the stored events it refers to, and its length.
        With ``wait_s``, an empty page waits that long for an event to be parked past ``after``."""
        if not 1 <= most <= 10_000:
            raise InvalidArgument(f"max: {most} is outside 1..10000")
        queue = self._queue_of(exchange, name, limit_size)
        deadline = trio.current_time() + wait_s
        while True:
            parked = queue.parked_signal(name)
            found = await self._parked_page(queue, name, after, most)
            if found[0] or trio.current_time() >= deadline:
                return found
            with trio.move_on_at(deadline):
                await parked.wait()

    async def follow_parked(
        self, exchange: str, name: str, limit_size: int = 0
    ) -> AsyncIterator[tuple[list[tuple[ParkedEvent, Delivery | None]], int]]:
        """The parked list, then each event parked from then on (a re-parked one again), in
        pages with the list's length; for a repair tool that consumes it. Runs until the
        caller stops."""
        queue = self._queue_of(exchange, name, limit_size)
        seen: dict[int, int] = {}  # offset -> parked_at, as sent
        while True:
            parked = queue.parked_signal(name)
            after = 0
            while True:
                page, total = await self._parked_page(queue, name, after, 1000)
                if not page:
                    break
                after = page[-1][0].offset
                new = [(p, d) for p, d in page if seen.get(p.offset) != p.parked_at]
                for p, _ in new:
                    seen[p.offset] = p.parked_at
                if new:
                    yield new, total
            await parked.wait()
            # A throttle, not a wait for a condition: each wake-up re-reads the whole list, so a
            # burst of parks costs one re-read per period instead of one per park.
            await trio.sleep(FOLLOW_COALESCE_S)

    async def _parked_page(
        self, queue: QueueActor, name: str, after: int, most: int
    ) -> tuple[list[tuple[ParkedEvent, Delivery | None]], int]:
        queue_id, exchange_id = queue.record.id, queue.record.exchange_id
        parked: list[ParkedEvent] = await self.state.write(
            lambda storage: storage.parked_events(queue_id, name, after, most)
        )
        events: dict[int, Delivery] = {}
        at = 0
        while at < len(parked):
            first = parked[at].offset
            stop = at
            while stop < len(parked) and parked[stop].offset - first < 2_000:
                stop += 1
            last = parked[stop - 1].offset
            for delivery in await self.state.read(exchange_id, first, last, last - first + 1):
                events[delivery.offset] = delivery
            at = stop
        views = queue.subscriber_views(name)
        if not views:
            raise NotFound(f"subscriber: {name!r} was deleted")
        return [(p, events.get(p.offset)) for p in parked], views[0].parked

    async def change_parked(
        self,
        exchange: str,
        name: str,
        offsets: Sequence[int] | None,
        redrive: bool,
        limit_size: int = 0,
    ) -> list[int]:
        """Re-drive (deliver again through the subscriber) or discard parked events: those at
        ``offsets``, or all with None. Returns the offsets changed."""
        queue = self._queue_of(exchange, name, limit_size)
        chosen = None if offsets is None else tuple(offsets)
        changed: list[int] = await ask(
            queue.mailbox, lambda r: ChangeParked(name, chosen, redrive, r)
        )
        return changed

    def _queue_of(self, exchange: str, name: str, limit_size: int) -> QueueActor:
        validation.name(exchange, "exchange")
        validation.name(name, "name")
        found = [
            q
            for q in self.manager.queues.values()
            if q.record.config.exchange == exchange
            and (name in q.active or name in q.sleeping)
            and (not limit_size or q.record.config.limit_size == limit_size)
        ]
        if not found:
            raise NotFound(f"subscriber: no subscriber {name!r} on exchange {exchange!r}")
        if len(found) > 1:
            sizes = ", ".join(str(q.record.config.limit_size) for q in found)
            raise InvalidArgument(
                f"limit_size: {name!r} is on {len(found)} queues of {exchange!r} (limit sizes"
                f" {sizes}); say which"
            )
        return found[0]


@asynccontextmanager
async def open_router(
    settings: Settings,
    lease: Lease | None = None,
    keep_admin_token: Callable[[str], None] | None = None,
) -> AsyncIterator[Router]:
    """The router's actors over its store; with ``lease``, as the leader of that epoch
    (storage.leadership): its store writes through the connection holding the lock. On a store
    with no users, a token made for the first user ``admin`` goes to ``keep_admin_token``
    before it is stored (router.node.admin_token)."""
    tracing = Tracing.from_environment()
    if tracing is not None:
        log.info("tracing: OpenTelemetry spans for publish, route and deliver")
    storage = open_storage(
        settings.db_url, settings.node if settings.role == "route" else None, lease
    )
    try:
        state = StateActor(storage, settings)
        restored = await state.restore()
        dispatcher = Dispatcher(state, settings)
        manager = ConsumerManager(state, dispatcher, settings)
        async with trio.open_nursery() as outer:
            # Policy: the state actor, dispatcher and manager are the router; if one fails the
            # router stops (everything acknowledged is already in storage).
            await outer.start(_escalating, "state", state.run)
            async with trio.open_nursery() as inner:
                await inner.start(_escalating, "dispatcher", dispatcher.run, restored.exchanges)
                await inner.start(
                    _escalating, "manager", manager.run, restored.queues, restored.subscribers
                )
                auth = Auth(state, enabled=settings.auth)
                auth.load(restored.users, restored.tokens, restored.owners)
                initial = await auth.bootstrap(settings.admin_token, keep_admin_token)
                await inner.start(_escalating, "auth", auth.run)
                log.info(
                    "router ready role=%s db=%s exchanges=%d events=%d users=%d auth=%s",
                    settings.role,
                    redact(settings.db_url),
                    len(restored.exchanges),
                    restored.positions.last_seq,
                    len(auth.users),
                    "on" if settings.auth else "OFF",
                )
                contracts = Contracts(
                    state,
                    await state.write(lambda storage: storage.type_schemas())
                    if settings.role != "route"
                    else (),
                )
                router = Router(
                    settings,
                    state,
                    dispatcher,
                    manager,
                    auth,
                    Audit(state),
                    contracts,
                    tracing,
                    initial,
                )
                try:
                    yield router
                finally:
                    router.close()
                    if tracing is not None:
                        tracing.shutdown()
                # Shutdown, outside in: subscribers flush their cursors through the state
                # actor, which stops last, after the commit it is running.
                inner.cancel_scope.cancel()
            outer.cancel_scope.cancel()
    finally:
        storage.close()


async def _escalating(
    name: str, run: object, *args: object, task_status: trio.TaskStatus[None]
) -> None:
    async def go() -> None:
        await run(*args, task_status=task_status)  # type: ignore[operator]

    await supervise(name, go, Policy.ESCALATE)


@attrs.frozen
class TrimReport:
    removed: int
    remaining: int
    first_seq: int
    removed_until_us: int
    parked_dropped: int


def retention_text(settings: Settings) -> str:
    """The retention limits in a line ("" when everything is kept)."""
    parts = []
    if settings.retain_for_s is not None:
        parts.append(f"for {settings.retain_for_s:g}s")
    if settings.retain_bytes is not None:
        parts.append(f"bytes {settings.retain_bytes}")
    if parts and settings.retain_until_acked:
        cap = settings.retain_max_for_s
        parts.append("until acked" + (f" (at most {cap:g}s)" if cap is not None else ""))
    return ", ".join(parts)


def publisher(user: UserRecord | None) -> tuple[str, bool]:
    """Who publishes, as the store remembers it, and whether another user's ids are refused to
    it: an admin may read every event, so its re-publish of any id is acked as a duplicate."""
    if user is None:
        return "", False
    return user.name, user.role is not Role.ADMIN
