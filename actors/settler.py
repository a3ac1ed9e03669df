"""Settlement: what a subscriber's consumers say of their deliveries, and what it does.

An ack settles every delivery up to its offset (an exclusive subscriber's floor moves; a shared
one settles what that consumer holds); a settle names ranges (judged by actors.settling); a nack
sends a delivery again after its back-off or the delay it names; a park moves it into the parked
list (stored first). A delivery that was delivered ``max_deliveries`` times is parked instead of
sent again. A consumer may settle only what it holds: anything else, an ack past anything
delivered included, is refused with a notice down its stream, which goes on.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence

import attrs
import trio

from actors import settling
from actors.holding import Holders
from actors.ledger import Ledger
from actors.redelivery import Redelivery
from actors.state import StateActor
from actors.subscription import Ack, Consumer, ConsumerMessage, Nack, Park, Rejected, Settle
from router.core import delivery
from router.core.delivery import DeliverySettings, ParkedEvent
from router.core.errors import RouterError
from router.core.model import now_us

log = logging.getLogger("router.subscriber")
SETTLE_STEP = 1024  # offsets settled between two checkpoints


@attrs.define(eq=False)
class Settler:
    """One subscriber's settlement: its ledger (shared with the subscriber), its parked count,
    and when its floor last moved. ``delivered`` says the last fresh offset handed out."""

    queue_id: str
    name: str
    state: StateActor
    ledger: Ledger
    options: DeliverySettings
    holders: Holders
    redelivery: Redelivery
    delivered: Callable[[], int]
    changed: Callable[[], None] = lambda: None
    on_parked: Callable[[], None] = lambda: None  # told after each event it parks
    parked: int = 0
    parked_since: int = 0  # when the oldest parked event was parked (us), 0: none or unknown
    floor_moved_at: float = 0.0

    async def hear(self, consumer: Consumer) -> None:
        """Take ``consumer``'s messages until it leaves."""
        subscription = consumer.subscription
        async with consumer.control:
            async for message in consumer.control:
                consumer.last_heard = trio.current_time()
                await self.take(consumer, message)
                late, subscription.late_ack = subscription.late_ack, 0
                if late:
                    await self.take(consumer, Ack(late))
                while subscription.late:
                    await self.take(consumer, subscription.late.pop(0))

    async def take(self, consumer: Consumer, message: ConsumerMessage) -> None:
        """Apply one message; what it may not change is told to the consumer (``reject``)."""
        if isinstance(message, Ack):
            await self._ack_upto(consumer, message.offset)
        elif isinstance(message, Settle):
            await self._settle_ranges(consumer, message.ranges)
        elif isinstance(message, Nack):
            try:
                if message.delay_s is not None:
                    delivery.delay(message.delay_s)
                delivery.reason(message.reason, "nack.reason")
            except RouterError as error:
                reject(consumer, message.offset, "invalid", str(error))
                return
            if self._check(consumer, message.offset, "nack"):
                await self.nack(message.offset, message.delay_s, message.reason)
        elif isinstance(message, Park):
            try:
                delivery.reason(message.reason)
            except RouterError as error:
                reject(consumer, message.offset, "invalid", str(error))
                return
            if self._check(consumer, message.offset, "park"):
                await self.park(message.offset, message.reason or "parked by the consumer")

    async def _settle_ranges(self, consumer: Consumer, ranges: Sequence[tuple[int, int]]) -> None:
        """Settle what ``consumer`` holds of ``ranges`` (actors.settling judges them by range
        arithmetic) and tell it the rest, once per range and reason. Lets other tasks run every
        SETTLE_STEP offsets settled: a large settle does not hold up the router."""
        joined, refused = settling.merged(ranges)
        for refusal in refused:
            reject(consumer, refusal.first, refusal.code, refusal.text)
        if self.options.shared:
            held = settling.held_of(consumer.holding)
        else:
            held = settling.held_but(self.redelivery.scheduled)
        done = 0
        for first, last, index in joined:
            verdict = settling.judge(first, last, index, self.ledger, held)
            for refusal in verdict.refusals:
                reject(consumer, refusal.first, refusal.code, refusal.text)
            for offset in verdict.settle:
                if self.holders.holds(consumer, offset):  # still: other tasks ran meanwhile
                    await self.settle(offset)
                done += 1
                if done % SETTLE_STEP == 0:
                    await trio.lowlevel.checkpoint()

    def _check(self, consumer: Consumer, offset: int, field: str) -> bool:
        """Whether ``consumer`` may settle ``offset``; if not, it is told why."""
        ledger = self.ledger
        if self.holders.holds(consumer, offset):
            return True
        if offset > ledger.high and offset not in ledger.redriving:
            reject(
                consumer,
                offset,
                "never_delivered",
                f"{field}.offset: {offset} was never delivered (last delivered {ledger.high})",
            )
        elif ledger.is_settled(offset):
            reject(consumer, offset, "already_settled", f"{field}.offset: {offset} is settled")
        else:
            reject(
                consumer,
                offset,
                "not_held",
                f"{field}.offset: {offset} is not held by this consumer"
                " (given to another, or waiting to be delivered again)",
            )
        return False

    async def _ack_upto(self, consumer: Consumer, offset: int) -> None:
        """Settle every delivery up to ``offset``; one past the last delivered changes nothing
        and is told, as a settle of it is (an ack settles deliveries, it moves no cursor)."""
        ledger = self.ledger
        delivered = self.delivered()
        if offset > max(ledger.high, delivered):
            reject(
                consumer,
                offset,
                "never_delivered",
                f"ack.offset: {offset} was never delivered (last delivered {delivered})",
            )
            return
        if self.options.shared:
            for held in sorted(o for o in consumer.holding if o <= offset):
                await self.settle(held)
            return
        owner = self.holders.owner
        redriven = [o for o in ledger.redriving if o <= offset and o in owner]
        for held in redriven:
            await self.settle(held)
        if ledger.settle_upto(offset):
            self.floor_moved()

    async def settle(self, offset: int) -> None:
        if offset in self.ledger.redriving:
            queue_id, name = self.queue_id, self.name
            await self.state.write(lambda storage: storage.unpark(queue_id, name, [offset]))
            self.parked -= 1
        self._settled(offset)

    def _settled(self, offset: int) -> None:
        self.holders.release(offset)
        self.redelivery.forget(offset)
        if self.ledger.settle(offset):
            self.floor_moved()
        self.changed()

    def floor_moved(self) -> None:
        self.floor_moved_at = trio.current_time()
        self.changed()
        self.redelivery.landed(self.ledger.floor)
        self.holders.landed(self.ledger.floor)

    async def nack(self, offset: int, delay_s: float | None, reason: str = "") -> None:
        self.holders.release(offset)
        count = self.ledger.deliveries(offset)
        if await self.park_if_spent(offset, reason):
            return
        wait = self.options.backoff(count) if delay_s is None else delay_s
        self.redelivery.schedule(offset, trio.current_time() + wait)
        if wait > 0:
            self.ledger.due[offset] = now_us() + int(wait * 1e6)
            self.changed()

    async def park_if_spent(self, offset: int, failure: str = "") -> bool:
        """Park ``offset`` when it was delivered ``max_deliveries`` times; whether it was."""
        most = self.options.max_deliveries
        count = self.ledger.deliveries(offset)
        if most and count >= most:
            spent = f"delivered {count} times (max_deliveries {most})"
            await self.park(offset, f"{spent}: {failure}" if failure else spent)
            return True
        return False

    async def park(self, offset: int, reason: str) -> None:
        """Into the parked list (stored first), then settled: the cursor moves past it."""
        parked = ParkedEvent(offset, reason, self.ledger.deliveries(offset), now_us())
        queue_id, name = self.queue_id, self.name
        await self.state.write(lambda storage: storage.park(queue_id, name, parked))
        if offset not in self.ledger.redriving:
            self.parked += 1
        if not self.parked_since:
            self.parked_since = parked.parked_at
        self.ledger.redriving.discard(offset)
        self._settled(offset)
        self.on_parked()
        log.info(
            "event parked queue=%s subscriber=%s offset=%d reason=%s",
            queue_id,
            name,
            offset,
            reason,
        )

    def redrive(self, offsets: Sequence[int]) -> None:
        """Parked events to deliver again, now (the queue marked them in storage)."""
        now = trio.current_time()
        for offset in offsets:
            self.ledger.redriving.add(offset)
            self.ledger.counts.pop(offset, None)
            self.redelivery.schedule(offset, now)

    def discarded(self, offsets: Sequence[int]) -> None:
        """Parked events removed from the parked list (those being re-driven are settled)."""
        for offset in offsets:
            if offset in self.ledger.redriving:
                self.ledger.redriving.discard(offset)
                self.holders.release(offset)
                self.redelivery.forget(offset)
        self.parked -= len(offsets)


def reject(consumer: Consumer, offset: int, code: str, message: str) -> None:
    """Tell ``consumer`` its settle, nack or park of ``offset`` changed nothing (when its
    stream has room: a notice is not worth a wait)."""
    with contextlib.suppress(trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
        consumer.outbox.send_nowait(Rejected(offset, code, message))
