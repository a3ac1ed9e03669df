"""The SubscriberActor: one named durable subscriber with its consumers attached.

Fresh events come in offset order, whatever their source: the queue's ring buffer when it holds
them, storage (in chunks) when it does not, the live batches the queue pushes once it has caught
up. Every batch is trimmed against the next offset, so the handoff from replay to live can
neither skip nor repeat an event; when the queue had to drop live batches for it (its consumer
was slow), the gap shows as a batch that starts past the next offset and is filled from the ring
or storage.

An ``exclusive`` subscriber hands them to its one consumer as they come. A ``shared`` one deals
them among up to ``max_consumers`` consumers, each holding at most its ``prefetch`` unsettled
deliveries: round-robin, or pinned by a key header (a key's events go to the consumer that holds
its earlier ones, so per-key order holds).

Deliveries are settled by acks (cumulative or per offset) or by parking (into the parked list,
in storage). A nack, a delivery unsettled after ``ack_wait``, or a consumer leaving with
deliveries it held, sends them again (after the back-off, or at once); an event delivered
``max_deliveries`` times is parked. The ledger (actors.ledger) keeps what is settled and the
delivery counts; it is saved with the cursor, coalesced, at most every
``cursor_flush_interval_s``, and once more (waiting for the commit) when the subscriber ends.

This module keeps the run loop, attach and detach, settlement and the cursor flush; its parts
own their state apart: the protocol the edges hold (actors.subscription), the start point and
catch-up reads (actors.replay), dealing among consumers (actors.dealing), and what goes again
(actors.redelivery).
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import trio

from actors import settling
from actors.attaching import expect_settings
from actors.dealing import Dealer, Finished, keys_of, within_budget, within_bytes
from actors.ledger import Ledger
from actors.messages import (
    Attach,
    Committed,
    GetHead,
    QueueMessage,
    SubscriberMessage,
)
from actors.redelivery import Flight, Redelivery, runs
from actors.replay import Replay
from actors.replay import first_offset as first_offset
from actors.replay import time_gap as time_gap
from actors.runtime import Mailbox, ask
from actors.state import StateActor
from actors.subscription import (
    OUTBOX_ITEMS,
    Ack,
    Consumer,
    ConsumerMessage,
    Nack,
    Park,
    Rejected,
    Settle,
)
from actors.subscription import (
    Outgoing as Outgoing,
)
from actors.subscription import (
    Subscription as Subscription,
)
from router.core import consumers
from router.core.consumers import ConsumerSettings, Dispatch, ParkedEvent
from router.core.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    ResourceExhausted,
    RouterError,
)
from router.core.model import Delivery, QueueRecord, StartPoint, SubscriberRecord, now_us
from router.core.settings import Settings
from router.core.wire import (
    Counted,
    bounds,
    frames_of,
    offsets_of,
    part,
    pieces,
)

log = logging.getLogger("router.subscriber")
MAILBOX_BATCHES = 16
SETTLE_STEP = 1024  # offsets settled between two checkpoints


@attrs.define(eq=False)
class SubscriberActor:
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
    options: ConsumerSettings = ConsumerSettings()
    on_parked: Callable[[], None] = lambda: None  # told after each event it parks
    mailbox: Mailbox[SubscriberMessage] = attrs.Factory(lambda: Mailbox(MAILBOX_BATCHES))
    next_offset: int = 1
    delivered: int = 0
    ledger: Ledger = attrs.Factory(Ledger)
    saved: tuple[int, str] = (0, "")
    parked: int = 0
    parked_since: int = 0  # when the oldest parked event was parked (us), 0: none or unknown
    redelivered: int = 0
    events_out: int = 0
    floor_moved_at: float = 0.0
    consumers: list[Consumer] = attrs.Factory(list)
    subscription: Subscription | None = None  # the first consumer's
    _nursery: trio.Nursery | None = None
    _changed: trio.Event = attrs.Factory(trio.Event)
    # offset -> (consumer, sent at): every delivery a shared subscriber has out, and the
    # redeliveries an exclusive one has out (its fresh ones are implied by the ledger)
    _owner: dict[int, tuple[Consumer, float]] = attrs.Factory(dict)
    _joining: list[Attach] = attrs.Factory(list)  # consumers that came while it started
    _sleepers: list[Subscription] = attrs.Factory(list)  # detached last: told once it sleeps
    replay: Replay = attrs.field(init=False)
    dealer: Dealer = attrs.field(init=False)
    redelivery: Redelivery = attrs.Factory(Redelivery)

    def __attrs_post_init__(self) -> None:
        self.replay = Replay(self.queue, self.queue_mailbox, self.state, self.settings, self._pull)
        self.dealer = Dealer(self.consumers, self.redelivery.behind)

    # --- what the queue calls ---

    @property
    def acked(self) -> int:
        return self.ledger.floor

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
            self.parked,
            self.parked_since,
        )

    def detached(self) -> list[Subscription]:
        """The subscriptions of the consumers detached last (the queue tells them it slept)."""
        found = self._sleepers + [c.subscription for c in self.consumers]
        if self.subscription is not None and self.subscription not in found:
            found.append(self.subscription)
        return found

    def unsettled(self) -> int:
        return self.ledger.open_count()

    def oldest_unsettled_s(self) -> float:
        """The age of the oldest delivery still out. Looks at the first offset still out of at
        most a few flights: a view must not cost a walk over every delivery in flight."""
        now = trio.current_time()
        floor = self.ledger.floor
        for flight in itertools.islice(self.redelivery.flights, 64):
            offsets = flight.offsets
            start = bisect.bisect_right(offsets, floor)
            for offset in itertools.islice(offsets, start, start + 64):
                if self._still_out(flight, offset):
                    return now - flight.sent_at
        return 0.0

    def stalled(self) -> bool:
        return (
            bool(self.consumers)
            and self.head > self.ledger.floor
            and self.ledger.floor < self.delivered
            and trio.current_time() - self.floor_moved_at >= self.options.stall_after_s
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

    def change(self, options: ConsumerSettings) -> None:
        """New settings while running (the queue checked the mode is unchanged)."""
        self.options = options
        self.redelivery.ack_wait_changed()

    def redrive(self, offsets: Sequence[int]) -> None:
        """Parked events to deliver again, now (the queue marked them in storage)."""
        now = trio.current_time()
        for offset in offsets:
            self.ledger.redriving.add(offset)
            self.ledger.counts.pop(offset, None)
            self.redelivery.schedule(offset, now)

    def discarded(self, offsets: Sequence[int]) -> None:
        for offset in offsets:
            if offset in self.ledger.redriving:
                self.ledger.redriving.discard(offset)
                self._release(offset)
                self.redelivery.forget(offset)
        self.parked -= len(offsets)

    # --- the actor ---

    async def run(self, attached: Any) -> None:
        """Resolve the start, answer ``attached`` with the first consumer's Subscription, and
        deliver until the last consumer leaves.

        Ends when the consumers close their handles or stay silent past the timeout, or on
        cancellation (shutdown, exchange deleted). The ledger is flushed in every case.
        """
        try:
            start = await self.replay.start_at(self.start, self.stored, self.head)
            stored = self.stored
            resumed = stored is not None and stored.acked == start - 1
            if stored is not None and resumed:
                self.ledger = Ledger.restore(start - 1, stored.ledger)
            else:
                self.ledger = Ledger(start - 1, start - 1)
                await self.state.save_subscriber(
                    SubscriberRecord(self.queue.id, self.name, start - 1, self.options)
                )
            if stored is not None and stored.parked:
                await self._take_parked_state(resumed)
        except RouterError as error:
            attached.fail(error)
            for message in self._joining:
                message.reply.fail(error)
            raise
        self.next_offset = start
        self.delivered = start - 1
        self.saved = (self.ledger.floor, self.ledger.to_json())
        self.floor_moved_at = trio.current_time()
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
                nursery.start_soon(self._redeliver)
                nursery.start_soon(self._expire)
                if self.ledger.redriving:
                    self.redrive(sorted(self.ledger.redriving))
                try:
                    await self._deliver()
                except* Finished:
                    pass  # every consumer left while events were being handed out
                nursery.cancel_scope.cancel()
        except* Finished:
            pass  # the same, seen from the redelivery task
        finally:
            self._nursery = None
            with trio.CancelScope(shield=True, deadline=trio.current_time() + 5):
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
            self.queue.id, self.name, self.next_offset, self.head, batches, control_send
        )
        consumer = Consumer(
            address, prefetch or self.options.prefetch, subscription, outbox, control, most or -1
        )
        consumer.last_heard = trio.current_time()
        consumer.bytes_budget = most_bytes or -1
        if shared:  # its credit counts the room in its outbox
            subscription.taken = self.dealer.credit_freed
        subscription.ready = self._ready()
        self.consumers.append(consumer)
        self.dealer.credit_freed()
        return consumer

    def _ready(self) -> bool:
        """Whether something can be handed out without waiting for a new event or for a
        nack's delay: events past those delivered, re-driven ones, or open ones now due."""
        ledger = self.ledger
        if ledger.redriving or self.head >= max(ledger.high, self.next_offset - 1) + 1:
            return True
        now = now_us()
        later = sum(1 for due in ledger.due.values() if due > now)
        return ledger.open_count() > later

    async def _serve(self, consumer: Consumer) -> None:
        """One consumer's life: hear it, watch its silence; detach it when it goes."""
        try:
            with consumer.scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._watch_silence, consumer)
                    await self._hear(consumer)
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
                self._release(offset)
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

    # --- fresh events, in offset order ---

    async def _deliver(self) -> None:
        while True:
            starved = False
            while self.next_offset <= self.head:
                await self._skip_removed()
                if not await self._catch_up():
                    starved = True  # the head we knew is gone (exchange deleted): just wait
                    break
            if not starved and self.mailbox.waiting() == 0:
                # Batches the queue dropped for us while the mailbox was full leave no trace in
                # it, so before waiting ask the queue how far the exchange has gone.
                head = await ask(self.queue_mailbox, GetHead)
                if head >= self.next_offset:
                    self.head = max(self.head, head)
                    continue
            message = await self.mailbox.receive()
            deliveries = message.deliveries
            self.head = max(self.head, deliveries[-1].offset)
            if deliveries[0].offset > self.next_offset:
                continue  # a gap: the loop above fills it from the ring or storage
            if deliveries[-1].offset < self.next_offset:
                continue  # already delivered
            await self._send(deliveries[self.next_offset - deliveries[0].offset :])

    async def _catch_up(self) -> bool:
        """Send from ``next_offset`` towards the known head (see :meth:`Replay.catch_up`)."""
        return await self.replay.catch_up(self.next_offset, self.head, self._send)

    async def _skip_removed(self) -> None:
        """Past what retention removed: tell every consumer (a gap notice, before the next
        batch), settle the offsets gone, and go on at the oldest kept one."""
        gap = self.replay.gap_before(self.next_offset, self.name)
        if gap is None:
            return
        if gap.first:
            self.ledger.settle_upto(gap.last)
            self.ledger.deliver_fresh(gap.last)
            self.next_offset = gap.last + 1
            self.delivered = max(self.delivered, gap.last)
            self._floor_moved()
        for consumer in list(self.consumers):
            try:
                await consumer.outbox.send(gap)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._detach(consumer)
        if not self.consumers:
            raise Finished

    def _pull(self) -> Consumer | None:
        """A pull's consumer (an exclusive subscriber's only one), whose budgets bound reads."""
        return self.consumers[0] if not self.options.shared and self.consumers else None

    async def _send(self, batch: Sequence[Delivery]) -> None:
        """Hand out fresh events (the next ones in offset order), in pieces of at most a
        chunk's bytes: a live batch of large events is not held whole by a consumer's edge (a
        pull takes what fits its own bytes in one piece)."""
        for piece in pieces(
            batch, 0 if self.replay.pull_bytes() else self.settings.replay_chunk_bytes
        ):
            await self._send_piece(piece)

    async def _send_piece(self, batch: Sequence[Delivery]) -> None:
        first, last = bounds(batch)
        ledger = self.ledger
        if first <= ledger.high:
            await self._send_again(batch)
        else:
            await self._give(batch, fresh=True)
        self.next_offset = last + 1
        self.delivered = last
        self.events_out += len(batch)
        self._changed.set()

    async def _send_again(self, batch: Sequence[Delivery]) -> None:
        """Fresh events of a subscriber resumed with a ledger: leave out those settled, park those
        delivered ``max_deliveries`` times, count the others' deliveries."""
        ledger = self.ledger
        keep: list[int] = []
        counts: list[int] = []
        for index, offset in enumerate(offsets_of(batch)):
            if (
                ledger.is_settled(offset)
                or offset in self.redelivery.scheduled
                or offset in self._owner
            ):
                continue
            if offset <= ledger.high and await self._park_if_spent(offset):
                continue
            if ledger.due and self._not_yet(offset):
                continue
            counts.append(ledger.deliveries(offset) + 1)  # counted once handed out (_mark)
            keep.append(index)
        if not keep:
            return
        chosen = [batch[i] for i in keep] if len(keep) != len(batch) else batch
        await self._give(Counted.of(chosen, counts), fresh=False)

    def _not_yet(self, offset: int) -> bool:
        """Whether ``offset`` was nacked with a delay that has not passed (then it is
        scheduled for when it has)."""
        left_us = self.ledger.due.get(offset, 0) - now_us()
        if left_us <= 0:
            return False
        self.redelivery.schedule(offset, trio.current_time() + left_us / 1e6)
        return True

    # --- handing out ---

    async def _give(self, batch: Sequence[Delivery], fresh: bool) -> None:
        """Hand ``batch`` (fresh or not) to the consumers: all of it to the one of an exclusive
        subscriber, dealt among those of a shared one."""
        if self.options.shared:
            await self._deal(batch, fresh)
            return
        consumer = self._only()
        if consumer.budget >= 0 or consumer.bytes_budget >= 0:
            batch = await within_budget(consumer, batch)
        await self._put(consumer, batch)
        consumer.events_out += len(batch)
        now = trio.current_time()
        offsets = offsets_of(batch)
        if fresh:
            self.ledger.deliver_fresh(offsets[-1])
        else:
            self._mark(offsets)
            for offset in offsets:
                self._owner[offset] = (consumer, now)
        self.redelivery.flew(offsets, consumer, now, fresh)

    def _mark(self, offsets: Sequence[int]) -> None:
        """Count the deliveries of offsets just handed out again (or, resumed, for the first
        time past the high mark)."""
        for offset in offsets:
            self.ledger.deliver_again(offset)
        self._changed.set()

    def _only(self) -> Consumer:
        if not self.consumers:
            raise Finished
        return self.consumers[0]

    async def _put(self, consumer: Consumer, batch: Sequence[Delivery]) -> None:
        """Into the exclusive consumer's stream; when it has gone, the subscriber is done."""
        try:
            await consumer.outbox.send(batch)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._detach(consumer)
            raise Finished from None

    async def _deal(self, batch: Sequence[Delivery], fresh: bool) -> None:
        """Deal ``batch`` among the shared subscriber's consumers, within their prefetch; fresh
        events wait while redeliveries are due (they go first)."""
        offsets = offsets_of(batch)
        pinned = self.options.dispatch is Dispatch.PINNED
        keys = keys_of(batch, self.options.key_header) if pinned else None
        at = 0
        while at < len(offsets):
            consumer, stop = await self.dealer.next_piece(keys, at, len(offsets), fresh)
            piece = part(batch, at, stop)
            if consumer.bytes_budget >= 0:
                piece = within_bytes(consumer, piece)
                if not piece:
                    continue  # it has taken all the bytes it asked for: deal to another
                stop = at + len(piece)
            now = trio.current_time()
            taken = offsets[at:stop]
            try:
                consumer.outbox.send_nowait(piece)  # it had credit, so its outbox had room
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._detach(consumer)  # it left: deal this piece again among the others
                continue
            consumer.events_out += len(taken)
            consumer.holding.update(taken)
            if fresh and not isinstance(piece, Counted):
                self.redelivery.keep(taken, piece)
            if consumer.budget >= 0:
                consumer.budget -= len(taken)
            for offset in taken:
                self._owner[offset] = (consumer, now)
            if keys is not None:
                self.dealer.pin(consumer, taken, keys[at:stop])
            if fresh:
                self.ledger.deliver_fresh(taken[-1])
            else:
                self._mark(taken)
            self._changed.set()
            self.redelivery.flew(taken, consumer, now, True)
            at = stop

    def _release(self, offset: int) -> Consumer | None:
        """``offset`` is no longer out with a consumer (settled, nacked, expired, its holder
        gone); returns who held it."""
        found = self._owner.pop(offset, None)
        self.dealer.unpin(offset)
        if found is None:
            return None
        consumer = found[0]
        if offset in consumer.holding:
            consumer.holding.discard(offset)
            self.dealer.credit_freed()
        return consumer

    # --- settlement ---

    async def _hear(self, consumer: Consumer) -> None:
        subscription = consumer.subscription
        async with consumer.control:
            async for message in consumer.control:
                consumer.last_heard = trio.current_time()
                if not await self._take(consumer, message):
                    break
                late, subscription.late_ack = subscription.late_ack, 0
                if late and not await self._take(consumer, Ack(late)):
                    break
                while subscription.late:
                    if not await self._take(consumer, subscription.late.pop(0)):
                        return

    async def _take(self, consumer: Consumer, message: ConsumerMessage) -> bool:
        """Apply one message; False when the consumer broke the protocol (its stream ends)."""
        if isinstance(message, Ack):
            return await self._ack_upto(consumer, message.offset)
        if isinstance(message, Settle):
            await self._settle_ranges(consumer, message.ranges)
        elif isinstance(message, Nack):
            try:
                if message.delay_s is not None:
                    consumers.delay(message.delay_s)
                consumers.reason(message.reason, "nack.reason")
            except RouterError as error:
                self._reject(consumer, message.offset, "invalid", str(error))
                return True
            if self._check(consumer, message.offset, "nack"):
                await self._nack(message.offset, message.delay_s, message.reason)
        elif isinstance(message, Park):
            try:
                consumers.reason(message.reason)
            except RouterError as error:
                self._reject(consumer, message.offset, "invalid", str(error))
                return True
            if self._check(consumer, message.offset, "park"):
                await self._park(message.offset, message.reason or "parked by the consumer")
        return True

    async def _settle_ranges(self, consumer: Consumer, ranges: Sequence[tuple[int, int]]) -> None:
        """Settle what ``consumer`` holds of ``ranges`` (actors.settling judges them by range
        arithmetic) and tell it the rest, once per range and reason. Lets other tasks run every
        SETTLE_STEP offsets settled: a large settle does not hold up the router."""
        joined, refused = settling.merged(ranges)
        for refusal in refused:
            self._reject(consumer, refusal.first, refusal.code, refusal.text)
        if self.options.shared:
            held = settling.held_of(consumer.holding)
        else:
            held = settling.held_but(self.redelivery.scheduled)
        done = 0
        for first, last, index in joined:
            verdict = settling.judge(first, last, index, self.ledger, held)
            for refusal in verdict.refusals:
                self._reject(consumer, refusal.first, refusal.code, refusal.text)
            for offset in verdict.settle:
                if self._holds(consumer, offset):  # still: other tasks ran at the checkpoints
                    await self._settle(offset)
                done += 1
                if done % SETTLE_STEP == 0:
                    await trio.lowlevel.checkpoint()

    def _holds(self, consumer: Consumer, offset: int) -> bool:
        if self.options.shared:
            return offset in consumer.holding
        return self.ledger.is_open(offset) and offset not in self.redelivery.scheduled

    def _check(self, consumer: Consumer, offset: int, field: str) -> bool:
        """Whether ``consumer`` may settle ``offset``; if not, it is told why."""
        ledger = self.ledger
        if self._holds(consumer, offset):
            return True
        if offset > ledger.high and offset not in ledger.redriving:
            self._reject(
                consumer,
                offset,
                "never_delivered",
                f"{field}.offset: {offset} was never delivered (last delivered {ledger.high})",
            )
        elif ledger.is_settled(offset):
            self._reject(
                consumer, offset, "already_settled", f"{field}.offset: {offset} is settled"
            )
        else:
            self._reject(
                consumer,
                offset,
                "not_held",
                f"{field}.offset: {offset} is not held by this consumer"
                " (given to another, or waiting to be delivered again)",
            )
        return False

    def _reject(self, consumer: Consumer, offset: int, code: str, message: str) -> None:
        with contextlib.suppress(
            trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError
        ):
            consumer.outbox.send_nowait(Rejected(offset, code, message))

    async def _ack_upto(self, consumer: Consumer, offset: int) -> bool:
        ledger = self.ledger
        if offset > max(ledger.high, self.delivered):
            consumer.subscription.ended.append(
                InvalidArgument(
                    f"ack.offset: {offset} was never delivered (last delivered {self.delivered})"
                )
            )
            return False
        if self.options.shared:
            for held in sorted(o for o in consumer.holding if o <= offset):
                await self._settle(held)
            return True
        redriven = [o for o in ledger.redriving if o <= offset and o in self._owner]
        for held in redriven:
            await self._settle(held)
        if ledger.settle_upto(offset):
            self._floor_moved()
        return True

    async def _settle(self, offset: int) -> None:
        if offset in self.ledger.redriving:
            queue_id, name = self.queue.id, self.name
            await self.state.write(lambda storage: storage.unpark(queue_id, name, [offset]))
            self.parked -= 1
        self._release(offset)
        self.redelivery.forget(offset)
        if self.ledger.settle(offset):
            self._floor_moved()
        self._changed.set()

    def _floor_moved(self) -> None:
        self.floor_moved_at = trio.current_time()
        self._changed.set()
        self.redelivery.landed(self.ledger.floor)

    async def _nack(self, offset: int, delay_s: float | None, reason: str = "") -> None:
        self._release(offset)
        count = self.ledger.deliveries(offset)
        if await self._park_if_spent(offset, reason):
            return
        wait = self.options.backoff(count) if delay_s is None else delay_s
        self.redelivery.schedule(offset, trio.current_time() + wait)
        if wait > 0:
            self.ledger.due[offset] = now_us() + int(wait * 1e6)
            self._changed.set()

    async def _park_if_spent(self, offset: int, failure: str = "") -> bool:
        most = self.options.max_deliveries
        count = self.ledger.deliveries(offset)
        if most and count >= most:
            spent = f"delivered {count} times (max_deliveries {most})"
            await self._park(offset, f"{spent}: {failure}" if failure else spent)
            return True
        return False

    async def _park(self, offset: int, reason: str) -> None:
        """Into the parked list (stored first), then settled: the cursor moves past it."""
        parked = ParkedEvent(offset, reason, self.ledger.deliveries(offset), now_us())
        queue_id, name = self.queue.id, self.name
        await self.state.write(lambda storage: storage.park(queue_id, name, parked))
        if offset not in self.ledger.redriving:
            self.parked += 1
        if not self.parked_since:
            self.parked_since = parked.parked_at
        self.ledger.redriving.discard(offset)
        self._release(offset)
        self.redelivery.forget(offset)
        if self.ledger.settle(offset):
            self._floor_moved()
        self._changed.set()
        self.on_parked()
        log.info(
            "event parked queue=%s subscriber=%s offset=%d reason=%s",
            self.queue.id,
            self.name,
            offset,
            reason,
        )

    # --- delivering again ---

    async def _redeliver(self) -> None:
        """Send again what is due (nacked, expired, left by a consumer, re-driven)."""
        again = self.redelivery
        while True:
            due = again.take_due(lambda o: self.ledger.is_open(o) and o not in self._owner)
            if not due:
                await again.wait_due()
                continue
            again.resending = len(due)
            try:
                await self._send_due(sorted(due))
            finally:
                again.resending = 0
                self.dealer.credit_freed()  # fresh events waited behind these

    async def _send_due(self, offsets: list[int]) -> None:
        send: list[int] = []
        for offset in offsets:
            if not await self._park_if_spent(offset):
                send.append(offset)
        for run in runs(send):
            while run:
                run = await self._send_run(run)

    async def _send_run(self, run: list[int]) -> list[int]:
        """Send again what of ``run`` one read reaches (a read stops at a chunk's bytes); the
        rest of the run, to send next."""
        kept, ledger = self.redelivery.kept, self.ledger
        found: dict[int, bytes] = {}
        rest: list[int] = []
        missing = [o for o in run if not isinstance(kept.get(o), bytes)]
        if missing:
            batch = await self.replay.fetch(missing[0], missing[-1])
            found = dict(zip(offsets_of(batch), frames_of(batch), strict=True))
            if batch and bounds(batch)[1] < missing[-1]:
                reach = bounds(batch)[1]
                rest = [o for o in run if o > reach]
                run = [o for o in run if o <= reach]
        chosen: list[int] = []
        frames: list[bytes] = []
        for offset in run:
            data = kept.get(offset)
            if not isinstance(data, bytes):
                data = found.get(offset)
            if data is not None and ledger.is_open(offset):
                chosen.append(offset)
                frames.append(data)
        if chosen:
            counts = [ledger.deliveries(o) + 1 for o in chosen]
            self.redelivered += len(chosen)
            await self._give(Counted.of_frames(chosen, frames, counts), fresh=False)
            self._changed.set()
        return rest

    async def _expire(self) -> None:
        """Deliveries unsettled ``ack_wait`` after they were sent are due again, now."""
        while True:
            flight = await self.redelivery.next_expired(lambda: self.options.ack_wait_s)
            now = trio.current_time()
            for offset in flight.offsets:
                if self._still_out(flight, offset):
                    self._release(offset)
                    self.redelivery.schedule(offset, now)

    def _still_out(self, flight: Flight, offset: int) -> bool:
        """Whether ``offset`` is unsettled with the consumer ``flight`` gave it to."""
        found = self._owner.get(offset)
        if found is not None:
            return found == (flight.consumer, flight.sent_at)
        return (
            flight.fresh
            and not self.options.shared
            and self.ledger.is_open(offset)
            and offset not in self.redelivery.scheduled
        )

    # --- the consumer's silence, and saving ---

    async def _watch_silence(self, consumer: Consumer) -> None:
        timeout = self.settings.consumer_timeout_s
        if math.isinf(timeout):
            return
        while True:
            deadline = consumer.last_heard + timeout
            if trio.current_time() >= deadline:
                consumer.subscription.ended.append(
                    DeadlineExceeded(f"no ack or heartbeat for {timeout:g}s")
                )
                consumer.scope.cancel()
                return
            await trio.sleep_until(deadline)

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
