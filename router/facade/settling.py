"""A pull consumer's settlement of what it took (a cumulative ack, or per-event acks, nacks and
parks, by its creator or a manager), and the parked lists: paged, followed, re-driven or
discarded."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import trio

from actors.messages import AdvanceCursor, ChangeParked, Settled, SettleSleeping
from actors.queue import QueueActor
from actors.runtime import ask
from router.control import reach
from router.core.delivery import ParkedEvent
from router.core.errors import InvalidArgument, NotFound
from router.core.model import Delivery, UserRecord
from router.facade.base import Parts

FOLLOW_COALESCE_S = 0.2  # a parked-list follower re-reads the list at most this often
ParkedPage = tuple[list[tuple[ParkedEvent, Delivery | None]], int]


class Settling(Parts):
    __slots__ = ()

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

    async def list_parked(
        self,
        exchange: str,
        name: str,
        *,
        after: int,
        most: int,
        limit_size: int,
        wait_s: float,
    ) -> ParkedPage:
        """A page of the parked list past offset ``after`` (up to ``most``) with the stored events
        it refers to, and its length. ``limit_size``: the subscriber's queue (0: the only one);
        with ``wait_s``, an empty page waits that long for an event to be parked past ``after``."""
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
    ) -> AsyncIterator[ParkedPage]:
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
            await trio.sleep(FOLLOW_COALESCE_S)  # the throttle's period

    async def _parked_page(self, queue: QueueActor, name: str, after: int, most: int) -> ParkedPage:
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
