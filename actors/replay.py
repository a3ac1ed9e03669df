"""Replay: where a subscriber starts, and how it catches up to the head in offset order.

A start point becomes an offset here (:func:`first_offset`, for subscribe, reset and read alike),
with the gap notice a time start before the horizon owes (:func:`time_gap`). A :class:`Replay`
reads a subscriber's catch-up in chunks from the queue's ring or from storage, up to READ_AHEAD
of them at once, each no larger than a chunk's bytes (or a pull's bytes still to take), and asks
for fewer events while chunks come back cut short by their bytes.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Awaitable, Callable, Sequence

import attrs
import trio

from actors.messages import QueueMessage, RingSlice
from actors.runtime import Mailbox, ask
from actors.state import StateActor
from actors.subscription import Consumer, Gap
from router.core.errors import InvalidArgument, OutOfRange
from router.core.model import Delivery, QueueRecord, StartKind, StartPoint, SubscriberRecord
from router.core.settings import Settings
from router.core.wire import bounds, fitting, sizes_of

log = logging.getLogger("router.subscriber")
READ_AHEAD = 3  # replay chunks being read at once for one subscriber


@attrs.define(eq=False)
class _Read:
    """One chunk of a catch-up, asked for ahead of its turn."""

    first: int
    last: int
    batch: Sequence[Delivery] = ()
    done: trio.Event = attrs.Factory(trio.Event)


@attrs.define(eq=False)
class Replay:
    """One subscriber's start point and catch-up reads. ``pull`` names its pull consumer (an
    exclusive subscriber's only one), whose budgets bound what is read, or None."""

    queue: QueueRecord
    queue_mailbox: Mailbox[QueueMessage]
    state: StateActor
    settings: Settings
    pull: Callable[[], Consumer | None] = lambda: None
    gap: Gap | None = None  # a time start point before the horizon, told with the first batch
    fit: int = 0  # events of the last chunk cut short by its bytes (0: none was)

    async def start_at(self, start: StartPoint, stored: SubscriberRecord | None, head: int) -> int:
        """The first offset to deliver: after the saved cursor for ``stored`` (after ``head``
        for a subscriber new to the queue), else where ``start`` points."""
        if start.kind is StartKind.STORED:
            return stored.acked + 1 if stored is not None else head + 1
        found = await first_offset(start, head, self.queue.exchange_id, self.state)
        self.gap = time_gap(start, found, self.queue.exchange_id, self.state)
        return found

    def gap_before(self, next_offset: int, name: str) -> Gap | None:
        """The gap notice owed before ``next_offset``: the time start's, or the offsets from it
        that retention removed (then ``first`` is ``next_offset``); counted and logged."""
        tail = self.state.horizon.tail(self.queue.exchange_id)
        gap, self.gap = self.gap, None
        if next_offset < tail:
            gap = Gap(next_offset, tail - 1)
        if gap is None:
            return None
        self.state.gap_notices += 1
        self.state.gap_events += gap.last - gap.first + 1 if gap.first else 0
        log.warning(
            "gap: events removed by retention before delivery queue=%s subscriber=%s from=%d to=%d",
            self.queue.id,
            name,
            gap.first,
            gap.last,
        )
        return gap

    async def catch_up(
        self, next_offset: int, head: int, send: Callable[[Sequence[Delivery]], Awaitable[None]]
    ) -> bool:
        """Send from ``next_offset`` towards ``head``, reading up to READ_AHEAD chunks at once.

        Offsets are dense, so the chunks ahead are known before the one being sent arrives; the
        store answers them on its separate read connections while this one is encoded and sent.
        A chunk is sent only when it starts exactly at the next offset; a short or empty one ends
        the call (the caller loops), so a gap or a repeat cannot get through. False when nothing
        could be read at ``next_offset``.
        """
        chunk, most_ahead = self.reading()
        ahead: collections.deque[_Read] = collections.deque()
        planned = next_offset
        empty = False
        async with trio.open_nursery() as nursery:
            while ahead or planned <= head:
                while planned <= head and len(ahead) < most_ahead:
                    read = _Read(planned, min(head, planned + chunk - 1))
                    nursery.start_soon(self._read_into, read)
                    ahead.append(read)
                    planned = read.last + 1
                read = ahead.popleft()
                await read.done.wait()
                batch = read.batch
                if not batch:
                    nursery.cancel_scope.cancel()
                    empty = True
                    break
                first, last = bounds(batch)
                if first != next_offset:
                    nursery.cancel_scope.cancel()
                    return True
                await send(batch)
                next_offset = last + 1
                if last != read.last:
                    # cut short by its bytes: the next reads ask for as many as fitted
                    self.fit = len(batch)
                    nursery.cancel_scope.cancel()
                    return True
                if self.fit and 2 * sum(sizes_of(batch)) < self.settings.replay_chunk_bytes:
                    grown = self.fit * 2  # the events got smaller: ask for more again
                    self.fit = grown if grown < self.settings.replay_chunk else 0
        if empty:  # removed by retention (then the caller sends a gap notice), or deleted
            await self.state.horizon_settled()
            return next_offset < self.state.horizon.tail(self.queue.exchange_id)
        return True

    async def _read_into(self, read: _Read) -> None:
        read.batch = await self.fetch(read.first, read.last)
        read.done.set()

    def reading(self) -> tuple[int, int]:
        """How many events one catch-up read asks for, and how many reads run ahead: a chunk
        (fewer while chunks come back cut short by their bytes), READ_AHEAD of them; for a pull,
        no more than it takes, one read at a time."""
        chunk = self.settings.replay_chunk
        if self.fit:
            chunk = min(chunk, self.fit)
        consumer = self.pull()
        if consumer is not None:
            if consumer.budget > 0:
                chunk = min(chunk, consumer.budget)
            if consumer.budget >= 0 or consumer.bytes_budget >= 0:
                return chunk, 1
        return chunk, READ_AHEAD

    async def fetch(self, first: int, last: int) -> Sequence[Delivery]:
        """Deliveries from ``first`` towards ``last``: from the ring if it holds them, else from
        storage; no more than fit in a chunk's bytes (at least one), or for a pull in the bytes
        it still takes: what is loaded is what will be sent."""
        most = self.pull_bytes() or self.settings.replay_chunk_bytes
        held: tuple[Delivery, ...] = await ask(
            self.queue_mailbox, lambda r: RingSlice(first, last, r)
        )
        if held:
            return held[: fitting(held, most)]
        return await self.state.read(self.queue.exchange_id, first, last, last - first + 1, most)

    def pull_bytes(self) -> int:
        """The bytes a pull still takes; 0: none (or no pull)."""
        consumer = self.pull()
        return max(0, consumer.bytes_budget) if consumer is not None else 0


async def first_offset(
    start: StartPoint, head: int, exchange_id: int, state: StateActor, field: str = "start"
) -> int:
    """The first offset a start point names, given the exchange's ``head``.

    The one place where earliest, latest, offset and time become an offset (subscribe, reset,
    read). ``stored`` belongs to a subscriber's cursor, so it is refused here; an offset outside
    1..head+1 is OUT_OF_RANGE.
    """
    if start.kind is StartKind.EARLIEST:
        return state.horizon.tail(exchange_id)  # the oldest kept event
    if start.kind is StartKind.LATEST:
        return head + 1
    if start.kind is StartKind.OFFSET:
        if not 1 <= start.value <= head + 1:
            raise OutOfRange(
                f"{field}.offset: {start.value} is outside 1..{head + 1} (head is {head})"
            )
        return start.value
    if start.kind is StartKind.TIME:
        return await state.find_time(exchange_id, head, start.value)
    raise InvalidArgument(
        f"{field}: stored has no meaning here; give earliest, latest, offset or time"
    )


def time_gap(start: StartPoint, found: int, exchange_id: int, state: StateActor) -> Gap | None:
    """The gap notice a time start point owes: one at or before the newest removed event
    lands on the oldest kept offset, and the events from that time to it are gone (which
    offsets they had is not kept)."""
    if start.kind is not StartKind.TIME or start.value > state.horizon.removed_until:
        return None
    tail = state.horizon.tail(exchange_id)
    return Gap(0, tail - 1) if found == tail > 1 else None
