"""A queue's ring buffer: the exchange's most recent deliveries, at most ``limit_size``, held
contiguous so a subscriber catching up reads a slice of them rather than storage.

A batch that does not follow on from the newest held (the queue missed some) empties the ring
first: a ring with a hole would answer a slice wrongly, and subscribers fill any gap from
storage anyway.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence

from router.core.model import Delivery


class Ring:
    """The most recent deliveries, in offset order, with no hole."""

    __slots__ = ("_held", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held: collections.deque[Delivery] = collections.deque(maxlen=limit)

    def __len__(self) -> int:
        return len(self._held)

    def fill(self) -> float:
        """How full it is, 0..1."""
        return len(self._held) / self.limit

    def take(self, deliveries: Sequence[Delivery]) -> None:
        """The newest deliveries (in offset order); the oldest held make room."""
        held = self._held
        if held and deliveries[0].offset != held[-1].offset + 1:
            held.clear()  # keep the ring contiguous; subscribers fill gaps from storage
        held.extend(deliveries)

    def slice(self, first: int, last: int) -> tuple[Delivery, ...]:
        """The deliveries held from ``first`` up to ``last``; none when ``first`` is not held."""
        held = self._held
        if not held or first < held[0].offset or first > held[-1].offset:
            return ()
        start = first - held[0].offset
        stop = min(last, held[-1].offset) - held[0].offset + 1
        return tuple(held[index] for index in range(start, stop))
