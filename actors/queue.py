"""The QueueActor: the live side of one subscription configuration.

It holds a ring buffer of the exchange's most recent ``limit_size`` deliveries (actors.ring),
the active subscribers (each a SubscriberActor in this actor's nursery, with one consumer or,
shared, several) and the sleeping ones (name -> their record: ack floor, ledger, settings; what
is done to them while they sleep is actors.sleeping's). Live batches are offered to each active
subscriber without waiting: one whose mailbox is full misses the batch and later reads the gap
from the ring or storage, so a slow consumer slows only itself and memory stays bounded by
configuration.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import attrs
import trio

from actors.attaching import expect_settings, start_for
from actors.messages import (
    AdvanceCursor,
    Attach,
    ChangeParked,
    ChangeSettings,
    Committed,
    ExchangeDeleted,
    ForgetSubscriber,
    GetHead,
    MoveCursor,
    QueueMessage,
    Retire,
    RingSlice,
    SettleSleeping,
)
from actors.ring import Ring
from actors.runtime import Mailbox, Policy, supervise
from actors.sleeping import Sleepers
from actors.state import StateActor
from actors.subscriber import SubscriberActor
from router.core.delivery import DeliverySettings
from router.core.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    RouterError,
    Unavailable,
)
from router.core.model import QueueRecord, SubscriberRecord, now_us
from router.core.settings import Settings
from router.core.views import QueueView as QueueView
from router.core.views import SubscriberView as SubscriberView
from router.core.views import sleeping_view

log = logging.getLogger("router.queue")


@attrs.define(eq=False)
class QueueActor:
    """Mailbox: QueueMessage; supervised by the ConsumerManager with Policy.ESCALATE."""

    record: QueueRecord
    state: StateActor
    settings: Settings
    head: int = 0
    sleeping: dict[str, SubscriberRecord] = attrs.Factory(dict)
    active: dict[str, SubscriberActor] = attrs.Factory(dict)
    ring: Ring = attrs.field(init=False)
    sleepers: Sleepers = attrs.field(init=False)
    mailbox: Mailbox[QueueMessage] = attrs.Factory(lambda: Mailbox(256))
    since: dict[str, int] = attrs.Factory(dict)  # subscriber -> when it last changed state (us)
    events_in: int = 0
    events_out_before: int = 0  # delivered by subscribers that have gone to sleep since
    # subscriber -> deliveries it made again since the router started, kept while it sleeps
    redelivered: dict[str, int] = attrs.Factory(dict)
    _parked_signals: dict[str, trio.Event] = attrs.Factory(dict)  # name -> set when one parks
    _nursery: trio.Nursery | None = None
    on_empty: Callable[[], None] = lambda: None  # told when its last subscriber goes

    def __attrs_post_init__(self) -> None:
        self.ring = Ring(self.record.config.limit_size)
        started = now_us()
        self.since = {name: started for name in self.sleeping}
        self.sleepers = Sleepers(
            self.record, self.state, self.sleeping, self.since, self.active, self._parked
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            async for message in self.mailbox:
                if isinstance(message, Committed):
                    self._take(message)
                elif isinstance(message, GetHead):
                    message.reply.set(self.head)
                elif isinstance(message, RingSlice):
                    message.reply.set(self.ring.slice(message.first, message.last))
                elif isinstance(message, Attach):
                    self._attach(message)
                    self._if_empty()
                elif isinstance(message, ForgetSubscriber | MoveCursor | AdvanceCursor):
                    await self.sleepers.change(message, self.head)
                    if message.name not in self.sleeping:  # forgotten: a new one starts at 0
                        self.redelivered.pop(message.name, None)
                    self._if_empty()
                elif isinstance(message, Retire):
                    if await self._retire(message):
                        self.mailbox.shut()  # its exchange must not wait for it to read
                        nursery.cancel_scope.cancel()
                        break
                elif isinstance(message, SettleSleeping):
                    await self.sleepers.settle(message, self.head)
                elif isinstance(message, ChangeSettings):
                    await self._change_settings(message)
                elif isinstance(message, ChangeParked):
                    await self._change_parked(message)
                elif isinstance(message, ExchangeDeleted):
                    for subscriber in self.active.values():
                        subscriber.end(NotFound(f"exchange: {message.name!r} was deleted"))
                    nursery.cancel_scope.cancel()
                    break
                else:
                    raise TypeError(f"QueueActor: unexpected message {message!r}")

    def _if_empty(self) -> None:
        if not self.active and not self.sleeping:
            self.on_empty()

    async def _retire(self, message: Retire) -> bool:
        """End this queue, with its stored row, if it still has no subscriber."""
        if self.active or self.sleeping:
            message.reply.set(False)
            return False
        queue_id = self.record.id
        try:
            removed = await self.state.write(lambda storage: storage.delete_queue(queue_id))
        except RouterError as error:
            log.warning("queue not removed queue=%s error=%s", queue_id, error)
            removed = False
        message.reply.set(removed)
        if removed:
            log.info("queue removed queue=%s (no subscriber left)", queue_id)
        return removed

    def _take(self, message: Committed) -> None:
        deliveries = message.deliveries
        self.ring.take(deliveries)
        self.head = deliveries[-1].offset
        self.events_in += len(deliveries)
        for subscriber in self.active.values():
            subscriber.offer(message)

    def view(self) -> QueueView:
        """A snapshot (Trio runs one task at a time, so reading the fields here is consistent)."""
        limit = self.record.config.limit_size
        return QueueView(
            self.record.id,
            self.record.config.exchange,
            limit,
            len(self.ring),
            self.ring.fill(),
            self.head,
            len(self.active),
            len(self.sleeping),
            self.events_in,
            self.events_out_before + sum(s.events_out for s in self.active.values()),
        )

    def subscriber_views(self, name: str = "") -> list[SubscriberView]:
        head, fill, now, since = self.head, self.ring.fill(), now_us(), self.since
        views = [
            s.view(head, since.get(n, 0), fill, now)
            for n, s in self.active.items()
            if not name or n == name
        ]
        views += [
            sleeping_view(
                self.record, n, record, head, since.get(n, 0), fill, now, self.redelivered.get(n, 0)
            )
            for n, record in self.sleeping.items()
            if not name or n == name
        ]
        holding = self.state.holding
        if holding:
            queue_id = self.record.id
            views = [
                attrs.evolve(v, holding_log=True) if (queue_id, v.name) in holding else v
                for v in views
            ]
        return sorted(views, key=lambda v: v.name)

    async def _change_settings(self, message: ChangeSettings) -> None:
        name = message.name
        running = self.active.get(name)
        stored = running.record() if running is not None else self.sleeping.get(name)
        try:
            if stored is None:
                raise NotFound(f"subscriber: no subscriber {name!r} on this queue")
            options = stored.settings.replace(**message.changes)
            if running is not None and options.mode is not stored.settings.mode:
                raise FailedPrecondition(
                    f"settings.mode: subscriber {name!r} has {len(running.consumers)} consumer(s)"
                    " attached; its mode changes while it sleeps"
                )
            if running is not None and len(running.consumers) > options.max_consumers:
                raise FailedPrecondition(
                    f"settings.max_consumers: {options.max_consumers} is below the"
                    f" {len(running.consumers)} consumers attached"
                )
            record = attrs.evolve(stored, settings=options)
            await self.state.save_subscriber(record)
        except RouterError as error:
            message.reply.fail(error)
            return
        if running is not None:
            running.change(options)
        else:
            self.sleeping[name] = record
        log.info("subscriber settings queue=%s subscriber=%s %s", self.record.id, name, options)
        message.reply.set(record)

    async def _change_parked(self, message: ChangeParked) -> None:
        name, offsets, queue_id = message.name, message.offsets, self.record.id
        running = self.active.get(name)
        if running is None and name not in self.sleeping:
            message.reply.fail(NotFound(f"subscriber: no subscriber {name!r} on this queue"))
            return
        try:
            if message.redrive:
                if offsets is not None and running is not None:
                    busy = [o for o in offsets if o in running.ledger.redriving]
                    if busy:
                        raise FailedPrecondition(f"offset: {busy[0]} is being re-driven already")
                changed = await self.state.write(
                    lambda storage: storage.redrive(queue_id, name, offsets)
                )
                if running is not None:
                    running.redrive([o for o in changed if o not in running.ledger.redriving])
            else:
                changed = await self.state.write(
                    lambda storage: storage.discard_parked(queue_id, name, offsets)
                )
                if running is not None:
                    running.discarded(changed)
                else:
                    self.sleepers.discarded(name, changed)
        except RouterError as error:
            message.reply.fail(error)
            return
        log.info(
            "parked events %s queue=%s subscriber=%s count=%d",
            "re-driven" if message.redrive else "discarded",
            queue_id,
            name,
            len(changed),
        )
        message.reply.set(changed)

    def parked_signal(self, name: str) -> trio.Event:
        """Set the next time ``name`` parks an event (for those following its parked list)."""
        return self._parked_signals.setdefault(name, trio.Event())

    def _parked(self, name: str) -> None:
        signal = self._parked_signals.pop(name, None)
        if signal is not None:
            signal.set()

    def _attach(self, message: Attach) -> None:
        name = message.name
        running = self.active.get(name)
        if running is not None:
            running.join(message)
            return
        stored = self.sleeping.get(name)
        try:
            if stored is None:
                options = DeliverySettings.make(**(message.settings or {}))
            else:
                options = stored.settings
                expect_settings(name, options, message.settings)
            if message.prefetch < 0 or message.prefetch > 100_000:
                raise InvalidArgument(f"prefetch: {message.prefetch} is outside 0..100000")
        except RouterError as error:
            message.reply.fail(error)
            return
        self.sleeping.pop(name, None)
        subscriber = SubscriberActor(
            queue=self.record,
            name=name,
            start=start_for(message.start, stored is not None),
            stored=stored,
            head=self.head,
            queue_mailbox=self.mailbox,
            state=self.state,
            settings=self.settings,
            consumer=message.consumer,
            prefetch=message.prefetch,
            most=message.most,
            most_bytes=message.most_bytes,
            on_parked=lambda: self._parked(name),
            options=options,
            redelivered_before=self.redelivered.get(name, 0),
        )
        self.active[name] = subscriber
        self.since[name] = now_us()
        assert self._nursery is not None
        self._nursery.start_soon(self._run_subscriber, subscriber, message.reply)

    @staticmethod
    def _failed(subscriber: SubscriberActor, attached: Any, error: BaseException) -> None:
        reason = error if isinstance(error, RouterError) else Unavailable("subscriber failed")
        attached.fail(reason)
        subscriber.end(reason)

    async def _run_subscriber(self, subscriber: SubscriberActor, attached: Any) -> None:
        """Run one subscriber; whatever ends it, it goes back to sleeping with its cursor."""
        try:
            # Policy: a subscriber's failure ends its consumer's stream with the reason and puts
            # the subscriber to sleep; the queue and the other subscribers carry on.
            await supervise(
                f"subscriber:{self.record.config.exchange}/{subscriber.name}",
                lambda: subscriber.run(attached),
                Policy.ISOLATE,
                on_failure=lambda error: self._failed(subscriber, attached, error),
            )
        finally:
            self.active.pop(subscriber.name, None)
            self.events_out_before += subscriber.events_out
            self.redelivered[subscriber.name] = subscriber.redelivered()
            if subscriber.subscription is not None:
                self.sleeping[subscriber.name] = subscriber.record()
            elif subscriber.stored is not None:
                self.sleeping[subscriber.name] = subscriber.stored
            self.since[subscriber.name] = now_us()
            for subscription in subscriber.detached():
                subscription.slept.set()
            if subscriber.name in self.sleeping:
                log.info(
                    "subscriber sleeping queue=%s subscriber=%s acked=%d",
                    self.record.id,
                    subscriber.name,
                    self.sleeping[subscriber.name].acked,
                )
