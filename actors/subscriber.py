"""The SubscriberActor: one named durable subscriber with its consumers attached.

Fresh events come in offset order, whatever their source (actors.fresh). An ``exclusive``
subscriber hands them to its one consumer as they come. A ``shared`` one deals them among up to
``max_consumers`` consumers, each holding at most its ``prefetch`` unsettled deliveries:
round-robin, or pinned by a key header (a key's events go to the consumer that holds its earlier
ones, so per-key order holds).

Deliveries are settled by acks (cumulative or per offset) or by parking (into the parked list,
in storage). A nack, a delivery unsettled after ``ack_wait``, or a consumer leaving with
deliveries it held, sends them again (after the back-off, or at once); an event delivered
``max_deliveries`` times is parked. The ledger (actors.ledger) keeps what is settled and the
delivery counts; it is saved with the cursor, coalesced, at most every
``cursor_flush_interval_s``, and once more (waiting for the commit) when the subscriber ends.

This module keeps the run loop, attach and detach, and the cursor flush; its parts own their
state apart: the protocol the edges hold (actors.subscription), the start point and catch-up
reads (actors.replay), the fresh events in offset order (actors.fresh), dealing among consumers
(actors.dealing), who holds what and the handing out (actors.holding), settlement
(actors.settler), what goes again and when (actors.redelivery) and its sending
(actors.resending), and a consumer's silence (actors.silence).
"""

from __future__ import annotations

import bisect
import itertools
import logging
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import trio

from actors.attaching import expect_settings
from actors.dealing import Dealer, Finished
from actors.fresh import Fresh
from actors.holding import Holders
from actors.ledger import Ledger
from actors.messages import Attach, Committed, QueueMessage, SubscriberMessage
from actors.redelivery import Redelivery
from actors.replay import Replay
from actors.replay import first_offset as first_offset
from actors.replay import time_gap as time_gap
from actors.resending import Resender
from actors.runtime import Mailbox
from actors.settler import Settler
from actors.silence import watch_silence
from actors.state import StateActor
from actors.subscription import OUTBOX_ITEMS, Consumer, ConsumerMessage
from actors.subscription import (
    Outgoing as Outgoing,
)
from actors.subscription import (
    Subscription as Subscription,
)
from router.core.delivery import DeliverySettings
from router.core.errors import FailedPrecondition, ResourceExhausted, RouterError
from router.core.model import QueueRecord, StartPoint, SubscriberRecord
from router.core.settings import Settings
from router.core.views import SubscriberView, parked_for_s

log = logging.getLogger("router.subscriber")
MAILBOX_BATCHES = 16


@attrs.define(eq=False)
class SubscriberActor:
    """Mailbox: SubscriberMessage; supervised by its QueueActor with Policy.ISOLATE."""

    queue: QueueRecord
    name: str
    start: StartPoint
    stored: SubscriberRecord | None  # the saved subscriber, None for one new to this queue
    head: int  # the newest offset the queue knew of when the first consumer attached
    queue_mailbox: Mailbox[QueueMessage]
    state: StateActor
    settings: Settings
    consumer: str = ""  # the first consumer's address, for operators
    prefetch: int = 0  # the first consumer's own prefetch (0: the subscriber's)
    most: int = 0  # the first consumer's budget (a pull), 0: none
    most_bytes: int = 0  # and its bytes, 0: none
    options: DeliverySettings = DeliverySettings()
    on_parked: Callable[[], None] = lambda: None  # told after each event it parks
    redelivered_before: int = 0  # made again by its earlier attachments since the router started
    mailbox: Mailbox[SubscriberMessage] = attrs.Factory(lambda: Mailbox(MAILBOX_BATCHES))
    ledger: Ledger = attrs.Factory(Ledger)
    saved: tuple[int, str] = (0, "")
    consumers: list[Consumer] = attrs.Factory(list)
    subscription: Subscription | None = None  # the first consumer's
    _nursery: trio.Nursery | None = None
    _changed: trio.Event = attrs.Factory(trio.Event)
    _joining: list[Attach] = attrs.Factory(list)  # consumers that came while it started
    _sleepers: list[Subscription] = attrs.Factory(list)  # detached last: told once it sleeps
    replay: Replay = attrs.field(init=False)
    dealer: Dealer = attrs.field(init=False)
    redelivery: Redelivery = attrs.Factory(Redelivery)
    holders: Holders = attrs.field(init=False)
    settler: Settler = attrs.field(init=False)
    fresh: Fresh = attrs.field(init=False)
    resender: Resender = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.replay = Replay(self.queue, self.queue_mailbox, self.state, self.settings, self._pull)
        self.dealer = Dealer(self.consumers, self.redelivery.behind)
        self.holders = Holders(
            self.consumers,
            self.dealer,
            self.redelivery,
            self.ledger,
            self.options,
            self._detach,
            self._note_change,
        )
        stored = self.stored
        self.settler = Settler(
            self.queue.id,
            self.name,
            self.state,
            self.ledger,
            self.options,
            self.holders,
            self.redelivery,
            lambda: self.fresh.delivered,
            self._note_change,
            self.on_parked,
            stored.parked if stored is not None else 0,
            stored.parked_since if stored is not None else 0,
        )
        self.fresh = Fresh(
            self.name,
            self.replay,
            self.mailbox,
            self.queue_mailbox,
            self.ledger,
            self.holders,
            self.settler,
            self.redelivery,
            self.settings.replay_chunk_bytes,
            self.head,
            self._note_change,
        )
        self.resender = Resender(
            self.ledger,
            self.options,
            self.redelivery,
            self.holders,
            self.settler,
            self.dealer,
            self.replay,
            self._note_change,
        )

    def _use(self, ledger: Ledger) -> None:
        """The ledger resolved at start, for the subscriber and each of its parts."""
        self.ledger = ledger
        for part in (self.holders, self.settler, self.fresh, self.resender):
            part.ledger = ledger

    def _note_change(self) -> None:
        """The ledger changed: the next flush saves it."""
        self._changed.set()

    # --- what the queue calls ---

    @property
    def acked(self) -> int:
        return self.ledger.floor

    @property
    def events_out(self) -> int:
        return self.fresh.events_out

    def offer(self, message: Committed) -> None:
        """Called by the queue: take a live batch if there is room, never wait. A batch not
        taken shows later as a gap, filled from the ring or storage."""
        try:
            self.mailbox.send_nowait(message)
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # full (the gap is read later) or ended (nothing to deliver to)

    def record(self) -> SubscriberRecord:
        """What the queue keeps of it while it sleeps."""
        return SubscriberRecord(
            self.queue.id,
            self.name,
            self.ledger.floor,
            self.options,
            self.ledger.to_json(),
            self.settler.parked,
            self.settler.parked_since,
        )

    def detached(self) -> list[Subscription]:
        """The subscriptions of the consumers detached last (the queue tells them it slept)."""
        found = self._sleepers + [c.subscription for c in self.consumers]
        if self.subscription is not None and self.subscription not in found:
            found.append(self.subscription)
        return found

    def view(self, head: int, since_us: int, fill: float, now_us: int) -> SubscriberView:
        """What the router shows of it (``head``, ``fill``: its queue's)."""
        settler = self.settler
        return SubscriberView(
            self.queue.config.exchange,
            self.queue.id,
            self.name,
            "active",
            self.ledger.floor,
            self.fresh.delivered,
            head,
            since_us,
            self.fresh.events_out,
            fill,
            ",".join(c.address for c in self.consumers),
            self.options,
            len(self.consumers),
            self.ledger.open_count(),
            settler.parked,
            self.redelivered(),
            self.oldest_unsettled_s(),
            self.stalled(),
            parked_for_s(settler.parked, settler.parked_since, now_us),
        )

    def redelivered(self) -> int:
        """Deliveries made again since the router started: sent again (actors.resending) and,
        on a resume, sent again from the ledger (actors.fresh), on this attachment and before."""
        return self.redelivered_before + self.resender.redelivered + self.fresh.redelivered

    def oldest_unsettled_s(self) -> float:
        """The age of the oldest delivery still out. Looks at the first offset still out of at
        most a few flights: a view must not cost a walk over every delivery in flight."""
        now = trio.current_time()
        floor = self.ledger.floor
        for flight in itertools.islice(self.redelivery.flights, 64):
            offsets = flight.offsets
            start = bisect.bisect_right(offsets, floor)
            for offset in itertools.islice(offsets, start, start + 64):
                if self.holders.still_out(flight, offset):
                    return now - flight.sent_at
        return 0.0

    def stalled(self) -> bool:
        return (
            bool(self.consumers)
            and self.fresh.head > self.ledger.floor
            and self.ledger.floor < self.fresh.delivered
            and trio.current_time() - self.settler.floor_moved_at >= self.options.stall_after_s
        )

    def end(self, reason: RouterError) -> None:
        """End every consumer's stream with ``reason`` (the queue ends the actor)."""
        for consumer in self.consumers:
            if not consumer.subscription.ended:
                consumer.subscription.ended.append(reason)
        if self.subscription is not None and not self.subscription.ended:
            self.subscription.ended.append(reason)

    def join(self, message: Attach) -> None:
        """Another consumer for this (shared) subscriber: answered at once, or once the
        subscriber has started (its first consumer's attachment is being resolved)."""
        if self._nursery is None and self.subscription is None:
            self._joining.append(message)
            return
        try:
            message.reply.set(
                self._join(
                    message.consumer,
                    message.prefetch,
                    message.settings,
                    message.most,
                    message.most_bytes,
                )
            )
        except RouterError as error:
            message.reply.fail(error)

    def _join(
        self,
        address: str,
        prefetch: int,
        settings: dict[str, Any] | None,
        most: int,
        most_bytes: int = 0,
    ) -> Subscription:
        expect_settings(self.name, self.options, settings)
        if not self.options.shared:
            raise already_attached(self.name)
        if len(self.consumers) >= self.options.max_consumers:
            raise ResourceExhausted(
                f"subscriber: {self.name!r} has {len(self.consumers)} consumers attached"
                f" (max_consumers {self.options.max_consumers})"
            )
        if self._nursery is None:
            raise FailedPrecondition(f"subscriber: {self.name!r} is going to sleep; try again")
        consumer = self._consumer(address, prefetch, most, most_bytes)
        self._nursery.start_soon(self._serve, consumer)
        log.info(
            "consumer joined queue=%s subscriber=%s consumers=%d",
            self.queue.id,
            self.name,
            len(self.consumers),
        )
        return consumer.subscription

    def change(self, options: DeliverySettings) -> None:
        """New settings while running (the queue checked the mode is unchanged)."""
        self.options = options
        for part in (self.holders, self.settler, self.resender):
            part.options = options
        self.redelivery.ack_wait_changed()

    def redrive(self, offsets: Sequence[int]) -> None:
        """Parked events to deliver again, now (the queue marked them in storage)."""
        self.settler.redrive(offsets)

    def discarded(self, offsets: Sequence[int]) -> None:
        self.settler.discarded(offsets)

    # --- the actor ---

    async def run(self, attached: Any) -> None:
        """Resolve the start, answer ``attached`` with the first consumer's Subscription, and
        deliver until the last consumer leaves.

        Ends when the consumers close their handles or stay silent past the timeout, or on
        cancellation (shutdown, exchange deleted). The ledger is flushed in every case.
        """
        try:
            start = await self._resolve_start()
        except RouterError as error:
            attached.fail(error)
            for message in self._joining:
                message.reply.fail(error)
            raise
        self.fresh.next_offset = start
        self.fresh.delivered = start - 1
        self.saved = (self.ledger.floor, self.ledger.to_json())
        self.settler.floor_moved_at = trio.current_time()
        first = self._consumer(self.consumer, self.prefetch, self.most, self.most_bytes)
        self.subscription = first.subscription
        first.subscription.start_offset = start
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._serve, first)
                attached.set(first.subscription)
                for message in self._joining:
                    self.join(message)
                self._joining.clear()
                log.info(
                    "subscriber attached queue=%s subscriber=%s start=%d mode=%s",
                    self.queue.id,
                    self.name,
                    start,
                    self.options.mode.value,
                )
                nursery.start_soon(self._flush_now_and_then)
                nursery.start_soon(self.resender.redeliver)
                nursery.start_soon(self.resender.expire)
                if self.ledger.redriving:
                    self.redrive(sorted(self.ledger.redriving))
                try:
                    await self.fresh.deliver()
                except* Finished:
                    pass  # every consumer left while events were being handed out
                nursery.cancel_scope.cancel()
        except* Finished:
            pass  # the same, seen from the redelivery task
        finally:
            self._nursery = None
            with trio.CancelScope(shield=True, deadline=trio.current_time() + 5):
                await self._leave()

    async def _resolve_start(self) -> int:
        """The first offset to deliver, with the ledger it resumes (or a new one, saved)."""
        start = await self.replay.start_at(self.start, self.stored, self.head)
        stored = self.stored
        resumed = stored is not None and stored.acked == start - 1
        if stored is not None and resumed:
            self._use(Ledger.restore(start - 1, stored.ledger))
        else:
            self._use(Ledger(start - 1, start - 1))
            await self.state.save_subscriber(
                SubscriberRecord(self.queue.id, self.name, start - 1, self.options)
            )
        if stored is not None and stored.parked:
            await self._take_parked_state(resumed)
        return start

    async def _leave(self) -> None:
        """Detach every consumer and save the ledger once more, waiting for the commit."""
        for consumer in list(self.consumers):
            self._detach(consumer)
        now = (self.ledger.floor, self.ledger.to_json())
        if now != self.saved:
            try:
                await self.state.save_cursor(self.queue.id, self.name, *now, wait=True)
                self.saved = now
            except RouterError as error:
                log.warning("cursor not saved subscriber=%s error=%s", self.name, error)

    async def _take_parked_state(self, resumed: bool) -> None:
        """The parked list is the truth for what was parked above the floor and what is being
        re-driven (a crash can come between parking and the next ledger save). A subscriber
        moved to another start point delivers again what it had parked past it."""
        queue_id, name, floor = self.queue.id, self.name, self.ledger.floor
        above, redriving = await self.state.write(
            lambda storage: storage.parked_state(queue_id, name, floor)
        )
        self.ledger.take_parked(above if resumed else set(), redriving)

    def _consumer(self, address: str, prefetch: int, most: int, most_bytes: int = 0) -> Consumer:
        shared = self.options.shared
        outbox, batches = trio.open_memory_channel[Outgoing](OUTBOX_ITEMS if shared else 1)
        control_send, control = trio.open_memory_channel[ConsumerMessage](64)
        subscription = Subscription(
            self.queue.id, self.name, self.fresh.next_offset, self.fresh.head, batches, control_send
        )
        window = prefetch or self.options.prefetch
        if most and not shared:  # a pull settles after it ends: its window holds what it asks
            window = max(window, most)
        consumer = Consumer(address, window, subscription, outbox, control, most or -1)
        consumer.last_heard = trio.current_time()
        consumer.bytes_budget = most_bytes or -1
        if shared:  # its credit counts the room in its outbox
            subscription.taken = self.dealer.credit_freed
        subscription.ready = self.fresh.ready()
        self.consumers.append(consumer)
        self.dealer.credit_freed()
        return consumer

    def _pull(self) -> Consumer | None:
        """A pull's consumer (an exclusive subscriber's only one), whose budgets bound reads."""
        return self.consumers[0] if not self.options.shared and self.consumers else None

    async def _serve(self, consumer: Consumer) -> None:
        """One consumer's life: hear it, watch its silence; detach it when it goes."""
        try:
            with consumer.scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(watch_silence, consumer, self.settings.consumer_timeout_s)
                    await self.settler.hear(consumer)
                    nursery.cancel_scope.cancel()
        finally:
            self._detach(consumer)
            if not self.consumers and self._nursery is not None:
                self._nursery.cancel_scope.cancel()  # the last one left: the subscriber sleeps

    def _detach(self, consumer: Consumer) -> None:
        if consumer.gone:
            return
        consumer.gone = True
        consumer.outbox.close()
        self.consumers.remove(consumer)
        if consumer.holding:
            now = trio.current_time()  # its deliveries go to the others at once
            for offset in sorted(consumer.holding):
                self.holders.release(offset)
                self.redelivery.schedule(offset, now)
        if not self.consumers:
            self._sleepers.append(consumer.subscription)
        else:
            consumer.subscription.slept.set()
            log.info(
                "consumer left queue=%s subscriber=%s consumers=%d",
                self.queue.id,
                self.name,
                len(self.consumers),
            )

    # --- saving ---

    async def _flush_now_and_then(self) -> None:
        """Save the ledger at most once per interval, and only after it changed: an idle
        subscriber costs no wake-ups."""
        while True:
            await self._changed.wait()
            await trio.sleep(self.settings.cursor_flush_interval_s)  # coalescing period
            self._changed = trio.Event()
            now = (self.ledger.floor, self.ledger.to_json())
            if now != self.saved:
                await self.state.save_cursor(self.queue.id, self.name, *now)
                self.saved = now


def already_attached(name: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"subscriber: {name!r} already has a consumer attached (one consumer per subscriber)"
    )
