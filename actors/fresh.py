"""Fresh events, in offset order: the part of a subscriber that reads its next events.

Whatever their source (the queue's ring buffer when it holds them, storage in chunks when it
does not, the live batches the queue pushes once it has caught up), fresh events are handed out
in offset order. Every batch is trimmed against the next offset, so the hand-off from replay to
live can neither skip nor repeat an event; a live batch the queue dropped for a full mailbox
shows as a batch that starts past the next offset, and the gap is filled from the ring or
storage. Past what retention removed, every consumer is told with a gap notice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs
import trio

from actors.dealing import Finished
from actors.holding import Holders
from actors.ledger import Ledger
from actors.messages import GetHead, QueueMessage, SubscriberMessage
from actors.redelivery import Redelivery
from actors.replay import Replay
from actors.runtime import Mailbox, ask
from actors.settler import Settler
from router.core.model import Delivery, now_us
from router.core.wire import Counted, bounds, offsets_of, pieces


@attrs.define(eq=False)
class Fresh:
    """Where a subscriber is in the exchange's events: the next offset to hand out, the last
    handed out, the newest it knows of; and the loop that reads and hands them out."""

    name: str
    replay: Replay
    mailbox: Mailbox[SubscriberMessage]
    queue_mailbox: Mailbox[QueueMessage]
    ledger: Ledger
    holders: Holders
    settler: Settler
    redelivery: Redelivery
    chunk_bytes: int  # the most bytes of one piece handed out (a chunk's)
    head: int  # the newest offset known
    changed: Callable[[], None] = lambda: None
    next_offset: int = 1
    delivered: int = 0
    events_out: int = 0
    redelivered: int = 0  # deliveries of a resumed subscriber made again (a count past 1)

    def ready(self) -> bool:
        """Whether something can be handed out without waiting for a new event or for a
        nack's delay: events past those delivered, re-driven ones, or open ones now due."""
        ledger = self.ledger
        if ledger.redriving or self.head >= max(ledger.high, self.next_offset - 1) + 1:
            return True
        now = now_us()
        later = sum(1 for due in ledger.due.values() if due > now)
        return ledger.open_count() > later

    async def deliver(self) -> None:
        """Hand out fresh events until cancelled (or every consumer left: Finished)."""
        while True:
            starved = False
            while self.next_offset <= self.head:
                await self._skip_removed()
                if not await self.replay.catch_up(self.next_offset, self.head, self.send):
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
            await self.send(deliveries[self.next_offset - deliveries[0].offset :])

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
            self.settler.floor_moved()
        consumers = self.holders.consumers
        for consumer in list(consumers):
            try:
                await consumer.outbox.send(gap)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self.holders.detach(consumer)
        if not consumers:
            raise Finished

    async def send(self, batch: Sequence[Delivery]) -> None:
        """Hand out fresh events (the next ones in offset order), in pieces of at most a
        chunk's bytes: a live batch of large events is not held whole by a consumer's edge (a
        pull takes what fits its own bytes in one piece)."""
        for piece in pieces(batch, 0 if self.replay.pull_bytes() else self.chunk_bytes):
            await self._send_piece(piece)

    async def _send_piece(self, batch: Sequence[Delivery]) -> None:
        first, last = bounds(batch)
        if first <= self.ledger.high:
            await self._send_again(batch)
        else:
            await self.holders.give(batch, fresh=True)
        self.next_offset = last + 1
        self.delivered = last
        self.events_out += len(batch)
        self.changed()

    async def _send_again(self, batch: Sequence[Delivery]) -> None:
        """Fresh events of a subscriber resumed with a ledger: leave out those settled, park those
        delivered ``max_deliveries`` times, count the others' deliveries."""
        ledger, owner = self.ledger, self.holders.owner
        keep: list[int] = []
        counts: list[int] = []
        for index, offset in enumerate(offsets_of(batch)):
            if ledger.is_settled(offset) or offset in self.redelivery.scheduled or offset in owner:
                continue
            if offset <= ledger.high and await self.settler.park_if_spent(offset):
                continue
            if ledger.due and self._not_yet(offset):
                continue
            counts.append(ledger.deliveries(offset) + 1)  # counted once handed out (mark)
            keep.append(index)
        if not keep:
            return
        chosen = [batch[i] for i in keep] if len(keep) != len(batch) else batch
        self.redelivered += sum(1 for count in counts if count > 1)
        await self.holders.give(Counted.of(chosen, counts), fresh=False)

    def _not_yet(self, offset: int) -> bool:
        """Whether ``offset`` was nacked with a delay that has not passed (then it is
        scheduled for when it has)."""
        left_us = self.ledger.due.get(offset, 0) - now_us()
        if left_us <= 0:
            return False
        self.redelivery.schedule(offset, trio.current_time() + left_us / 1e6)
        return True
