"""Redelivery: what a subscriber has out, and what it will send again, when.

Every batch handed out is a flight; a delivery still unsettled ``ack_wait`` after its flight
left is due again at once. A nack makes its delivery due after its back-off (or the delay it
names), and a consumer that leaves makes what it held due at once, as a re-drive does for parked
events. What is due goes out in runs of close offsets, ahead of fresh events. A shared
subscriber keeps each delivery's frame while it is scheduled (up to KEEP_MOST of them), so it is
sent again from memory rather than read back.
"""

from __future__ import annotations

import collections
import heapq
import math
from collections.abc import Callable, Sequence

import attrs
import trio

from actors.subscription import Consumer
from router.core.model import Delivery
from router.core.wire import frame_at

REDELIVER_BATCH = 500  # redeliveries read and sent together at most
KEEP_MOST = 10_000  # a shared subscriber's scheduled redeliveries kept as frames, at most


@attrs.define(eq=False, slots=True)
class Flight:
    """Deliveries sent together: ack_wait runs from ``sent_at``."""

    offsets: Sequence[int]
    consumer: Consumer
    sent_at: float
    fresh: bool


@attrs.define(eq=False)
class Redelivery:
    """One subscriber's flights, and its deliveries scheduled to go again (a heap by when)."""

    due: list[tuple[float, int]] = attrs.Factory(list)  # (when, offset) heap
    scheduled: dict[int, float] = attrs.Factory(dict)  # offset -> when it is due
    flights: collections.deque[Flight] = attrs.Factory(collections.deque)
    # shared: offset -> the batch it was dealt in (while out) or its frame (while scheduled), so
    # a redelivery is sent again from memory, not read back from the ring or storage
    kept: dict[int, Sequence[Delivery] | bytes] = attrs.Factory(dict)
    resending: int = 0  # redeliveries taken from the heap and not yet handed out
    _due_changed: trio.Event = attrs.Factory(trio.Event)
    _flown: trio.Event = attrs.Factory(trio.Event)

    def schedule(self, offset: int, at: float) -> None:
        """``offset`` is due again at ``at`` (Trio time); a later call supersedes it."""
        kept = self.kept.get(offset)
        if kept is not None and not isinstance(kept, bytes):
            if len(self.scheduled) < KEEP_MOST:
                self.kept[offset] = frame_at(kept, offset)  # not the whole batch it came in
            else:
                del self.kept[offset]  # read back when due
        self.scheduled[offset] = at
        heapq.heappush(self.due, (at, offset))
        self._due_changed.set()

    def forget(self, offset: int) -> None:
        """``offset`` is settled or parked: not due again, nothing kept of it."""
        self.scheduled.pop(offset, None)
        self.kept.pop(offset, None)

    def keep(self, offsets: Sequence[int], batch: Sequence[Delivery]) -> None:
        """Fresh ``offsets`` dealt in ``batch``: kept to be sent again from memory."""
        self.kept.update(dict.fromkeys(offsets, batch))

    def behind(self, fresh: bool) -> bool:
        """Whether fresh events wait: redeliveries are being sent or are due."""
        if not fresh:
            return False
        return bool(self.resending) or bool(self.due and self.due[0][0] <= trio.current_time())

    def take_due(self, sendable: Callable[[int], bool]) -> list[int]:
        """The offsets due now (REDELIVER_BATCH at most) that are still ``sendable``; those
        settled or rescheduled since are passed over."""
        now = trio.current_time()
        due: list[int] = []
        while self.due and self.due[0][0] <= now and len(due) < REDELIVER_BATCH:
            at, offset = heapq.heappop(self.due)
            if self.scheduled.get(offset) != at:
                continue  # settled or rescheduled since
            del self.scheduled[offset]
            if sendable(offset):
                due.append(offset)
        return due

    async def wait_due(self) -> None:
        """Until the next offset is due or one is scheduled."""
        self._due_changed = trio.Event()
        with trio.move_on_at(self.due[0][0] if self.due else math.inf):
            await self._due_changed.wait()

    def flew(self, offsets: Sequence[int], consumer: Consumer, sent_at: float, fresh: bool) -> None:
        """``offsets`` were handed to ``consumer``: their ack_wait runs from ``sent_at``."""
        self.flights.append(Flight(offsets, consumer, sent_at, fresh))
        self._flown.set()

    def ack_wait_changed(self) -> None:
        self._flown.set()  # ack_wait may be shorter now

    def landed(self, floor: int) -> None:
        """The ack floor moved to ``floor``: fresh flights wholly below it are settled."""
        flights = self.flights
        while flights and flights[0].fresh and flights[0].offsets[-1] <= floor:
            flights.popleft()

    async def next_expired(self, ack_wait_s: Callable[[], float]) -> Flight:
        """The oldest flight, once ``ack_wait_s()`` has passed since it left."""
        flights = self.flights
        while True:
            if not flights:
                self._flown = trio.Event()
                await self._flown.wait()
                continue
            deadline = flights[0].sent_at + ack_wait_s()
            if trio.current_time() < deadline:
                self._flown = trio.Event()
                with trio.move_on_at(deadline):
                    await self._flown.wait()
                continue
            return flights.popleft()


def runs(offsets: Sequence[int]) -> list[list[int]]:
    """Sorted offsets as runs close enough to read together."""
    found: list[list[int]] = []
    for offset in offsets:
        if found and offset - found[-1][-1] <= 64 and offset - found[-1][0] < REDELIVER_BATCH:
            found[-1].append(offset)
        else:
            found.append([offset])
    return found
