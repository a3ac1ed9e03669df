"""Sending again: the loops that hand out what actors.redelivery says is due.

What is due (nacked after its back-off, unsettled ``ack_wait`` after it was sent, left by a
consumer that went, re-driven from the parked list) goes out in runs of close offsets: from the
frames kept in memory when there are, else read back from the ring or storage (a read stops at a
chunk's bytes, so a long run goes in several). An event already delivered ``max_deliveries``
times is parked instead. Fresh events wait while this sends (actors.dealing).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import trio

from actors.dealing import Dealer
from actors.holding import Holders
from actors.ledger import Ledger
from actors.redelivery import Redelivery, runs
from actors.replay import Replay
from actors.settler import Settler
from router.core.delivery import DeliverySettings
from router.core.wire import Counted, bounds, frames_of, offsets_of


@attrs.define(eq=False)
class Resender:
    """A subscriber's redeliveries: the loop sending what is due, the loop expiring what was
    out too long, and how many it has sent again."""

    ledger: Ledger
    options: DeliverySettings
    redelivery: Redelivery
    holders: Holders
    settler: Settler
    dealer: Dealer
    replay: Replay
    changed: Callable[[], None] = lambda: None
    redelivered: int = 0

    async def redeliver(self) -> None:
        """Send again what is due (nacked, expired, left by a consumer, re-driven)."""
        again, owner = self.redelivery, self.holders.owner
        while True:
            due = again.take_due(lambda o: self.ledger.is_open(o) and o not in owner)
            if not due:
                self.dealer.credit_freed()  # what was due is settled: fresh events go on
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
            if not await self.settler.park_if_spent(offset):
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
            await self.holders.give(Counted.of_frames(chosen, frames, counts), fresh=False)
            self.changed()
        return rest

    async def expire(self) -> None:
        """Deliveries unsettled ``ack_wait`` after they were sent are due again, now."""
        while True:
            flight = await self.redelivery.next_expired(lambda: self.options.ack_wait_s)
            now = trio.current_time()
            for offset in flight.offsets:
                if self.holders.still_out(flight, offset):
                    self.holders.release(offset)
                    self.redelivery.schedule(offset, now)
