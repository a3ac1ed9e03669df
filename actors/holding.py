"""Handing out: which consumer holds each delivery a subscriber has out, and the handing itself.

Every consumer has a window, its ``prefetch``: deliveries it was sent and has not settled, at
most. An ``exclusive`` subscriber hands a batch to its one consumer in pieces that fit its window
(a pull's budgets cut it first; a pull's window holds what it asked for), waiting for acks to make
room, so what the window holds back is not sent and its ack_wait does not run; a ``shared`` one
deals it among its consumers within their credit (actors.dealing). Every redelivery, and every
delivery a shared subscriber has out, is owned: the consumer it went to and when, so a settle,
nack or expiry can tell whether that consumer still holds it. An exclusive subscriber's fresh
deliveries are not owned one by one: the ledger implies them, and its window keeps them as runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs
import trio

from actors.dealing import Dealer, Finished, keys_of, within_budget, within_bytes
from actors.ledger import Ledger
from actors.redelivery import Flight, Redelivery
from actors.runs import Runs
from actors.subscription import Consumer
from router.core.delivery import DeliverySettings, Dispatch
from router.core.model import Delivery
from router.core.wire import Counted, offsets_of, part

# An exclusive consumer's window goes out in pieces of at most this share of it: it acks the
# first while the others are on their way, so a consumer reading as fast as it can never waits
# on an ack's trip. A piece is smaller when the window has less room: what fits goes at once.
WINDOW_PIECES = 2


@attrs.define(eq=False)
class Holders:
    """What a subscriber's ``consumers`` (its own list) hold, and the handing out to them.
    ``detach`` takes a consumer found gone; ``changed`` says the ledger changed."""

    consumers: list[Consumer]
    dealer: Dealer
    redelivery: Redelivery
    ledger: Ledger
    options: DeliverySettings
    detach: Callable[[Consumer], None] = lambda consumer: None
    changed: Callable[[], None] = lambda: None
    # offset -> (consumer, sent at): every delivery a shared subscriber has out, and the
    # redeliveries an exclusive one has out (its fresh ones are implied by the ledger)
    owner: dict[int, tuple[Consumer, float]] = attrs.Factory(dict)
    # exclusive: the offsets its consumer was sent (or is being sent) and has not settled
    out: Runs = attrs.Factory(Runs)

    async def give(self, batch: Sequence[Delivery], fresh: bool) -> None:
        """Hand ``batch`` (fresh or not) to the consumers: to the one of an exclusive subscriber
        in pieces its window takes, dealt among those of a shared one."""
        if self.options.shared:
            await self._deal(batch, fresh)
            return
        consumer = self._only()
        if consumer.budget >= 0 or consumer.bytes_budget >= 0:
            batch = await within_budget(consumer, batch)
        step = max(1, consumer.prefetch // WINDOW_PIECES)
        if consumer.budget >= 0:  # a pull settles after it ends: what it asked for goes whole
            step = consumer.prefetch
        at = 0
        while at < len(batch):
            room = await self._room(consumer, fresh)
            stop = min(len(batch), at + step, at + room)
            piece = batch if at == 0 and stop == len(batch) else part(batch, at, stop)
            await self._hand(consumer, piece, fresh)
            at = stop

    async def _room(self, consumer: Consumer, fresh: bool) -> int:
        """The room in the exclusive ``consumer``'s window (its prefetch less what it has out),
        once there is some: what fits goes at once, so a consumer holding less than its window
        is never kept waiting for more; fresh events wait while redeliveries are due (they go
        first)."""
        while True:
            room = consumer.prefetch - len(self.out)
            if room > 0 and not self.dealer.behind(fresh):
                return room
            if consumer.gone:
                raise Finished
            await self.dealer.freed()

    async def _hand(self, consumer: Consumer, batch: Sequence[Delivery], fresh: bool) -> None:
        """One piece to the exclusive ``consumer``, counted in its window before the wait for
        its stream (a settle of these offsets meanwhile takes them out of it again)."""
        offsets = offsets_of(batch)
        if offsets[-1] - offsets[0] + 1 == len(offsets):
            self.out.add_run(offsets[0], offsets[-1])
        else:
            for offset in offsets:
                self.out.add(offset)
        await self._put(consumer, batch)
        consumer.events_out += len(batch)
        now = trio.current_time()
        if fresh:
            self.ledger.deliver_fresh(offsets[-1])
        else:
            self.mark(offsets)
            for offset in offsets:
                self.owner[offset] = (consumer, now)
        self.redelivery.flew(offsets, consumer, now, fresh)

    def mark(self, offsets: Sequence[int]) -> None:
        """Count the deliveries of offsets just handed out again (or, resumed, for the first
        time past the high mark)."""
        for offset in offsets:
            self.ledger.deliver_again(offset)
        self.changed()

    def _only(self) -> Consumer:
        if not self.consumers:
            raise Finished
        return self.consumers[0]

    async def _put(self, consumer: Consumer, batch: Sequence[Delivery]) -> None:
        """Into the exclusive consumer's stream; when it has gone, the subscriber is done."""
        try:
            await consumer.outbox.send(batch)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.detach(consumer)
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
                self.detach(consumer)  # it left: deal this piece again among the others
                continue
            consumer.events_out += len(taken)
            consumer.holding.update(taken)
            if fresh and not isinstance(piece, Counted):
                self.redelivery.keep(taken, piece)
            if consumer.budget >= 0:
                consumer.budget -= len(taken)
            for offset in taken:
                self.owner[offset] = (consumer, now)
            if keys is not None:
                self.dealer.pin(consumer, taken, keys[at:stop])
            if fresh:
                self.ledger.deliver_fresh(taken[-1])
            else:
                self.mark(taken)
            self.changed()
            self.redelivery.flew(taken, consumer, now, True)
            at = stop

    def release(self, offset: int) -> Consumer | None:
        """``offset`` is no longer out with a consumer (settled, nacked, expired, its holder
        gone); returns who held it."""
        found = self.owner.pop(offset, None)
        self.dealer.unpin(offset)
        if self.out.discard(offset):
            self.dealer.credit_freed()
        if found is None:
            return None
        consumer = found[0]
        if offset in consumer.holding:
            consumer.holding.discard(offset)
            self.dealer.credit_freed()
        return consumer

    def landed(self, floor: int) -> None:
        """The ack floor moved to ``floor``: what the exclusive consumer had out at or below it
        is settled, and leaves its window (a re-driven offset stays until it is settled)."""
        out = self.out
        lowest = out.lowest()
        if lowest is None or lowest > floor:
            return
        again = [o for o in self.ledger.redriving if o <= floor and o in out]
        out.discard_upto(floor)
        for offset in again:
            out.add(offset)
        self.dealer.credit_freed()

    def holds(self, consumer: Consumer, offset: int) -> bool:
        """Whether ``consumer`` holds ``offset`` unsettled (so it may settle it)."""
        if self.options.shared:
            return offset in consumer.holding
        return self.ledger.is_open(offset) and offset not in self.redelivery.scheduled

    def still_out(self, flight: Flight, offset: int) -> bool:
        """Whether ``offset`` is unsettled with the consumer ``flight`` gave it to."""
        found = self.owner.get(offset)
        if found is not None:
            return found == (flight.consumer, flight.sent_at)
        return (
            flight.fresh
            and not self.options.shared
            and self.ledger.is_open(offset)
            and offset not in self.redelivery.scheduled
        )
