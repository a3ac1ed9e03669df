"""A set of offsets kept as sorted runs of consecutive offsets.

What a ledger settles above its floor: acks come mostly in order, so a few runs hold many offsets,
and a range of offsets is checked against them by arithmetic (how many of ``first..last`` are in,
and which parts are not) in time that grows with the runs it meets, not with the offsets named.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator


class Runs:
    """Offsets as disjoint runs ``starts[i]..ends[i]`` (inclusive), in order, never adjacent."""

    __slots__ = ("_ends", "_size", "_starts")

    def __init__(self, offsets: Iterable[int] = ()) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._size = 0
        for offset in offsets:
            self.add(offset)

    @classmethod
    def of_runs(cls, runs: Iterable[tuple[int, int]]) -> Runs:
        found = cls()
        for first, last in runs:
            found.add_run(first, last)
        return found

    def __len__(self) -> int:
        return self._size

    def __bool__(self) -> bool:
        return self._size > 0

    def __contains__(self, offset: object) -> bool:
        if not isinstance(offset, int):
            return False
        index = bisect.bisect_right(self._starts, offset) - 1
        return index >= 0 and offset <= self._ends[index]

    def __iter__(self) -> Iterator[int]:
        for first, last in zip(self._starts, self._ends, strict=True):
            yield from range(first, last + 1)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Runs):
            return self.runs() == other.runs()
        if isinstance(other, set | frozenset):
            return len(other) == self._size and all(offset in self for offset in other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Runs({self.runs()!r})"

    def runs(self) -> list[tuple[int, int]]:
        return list(zip(self._starts, self._ends, strict=True))

    def first_run(self) -> tuple[int, int] | None:
        return (self._starts[0], self._ends[0]) if self._starts else None

    def add(self, offset: int) -> None:
        self.add_run(offset, offset)

    def add_run(self, first: int, last: int) -> None:
        """Add ``first..last``, joining the runs it touches or overlaps."""
        if last < first:
            return
        starts, ends = self._starts, self._ends
        low = bisect.bisect_left(ends, first - 1)  # the first run ending at or after first - 1
        high = bisect.bisect_right(starts, last + 1)  # past the last run starting by last + 1
        if low < high:
            first = min(first, starts[low])
            last = max(last, ends[high - 1])
            self._size -= sum(ends[i] - starts[i] + 1 for i in range(low, high))
        starts[low:high] = [first]
        ends[low:high] = [last]
        self._size += last - first + 1

    def discard(self, offset: int) -> bool:
        """Take ``offset`` out; whether it was in."""
        index = bisect.bisect_right(self._starts, offset) - 1
        if index < 0 or offset > self._ends[index]:
            return False
        first, last = self._starts[index], self._ends[index]
        self._size -= 1
        if first == last:
            del self._starts[index], self._ends[index]
        elif offset == first:
            self._starts[index] = offset + 1
        elif offset == last:
            self._ends[index] = offset - 1
        else:
            self._ends[index] = offset - 1
            self._starts.insert(index + 1, offset + 1)
            self._ends.insert(index + 1, last)
        return True

    def lowest(self) -> int | None:
        return self._starts[0] if self._starts else None

    def discard_upto(self, offset: int) -> None:
        """Forget every offset at or below ``offset``."""
        starts, ends = self._starts, self._ends
        gone = bisect.bisect_right(ends, offset)
        if gone:
            self._size -= sum(ends[i] - starts[i] + 1 for i in range(gone))
            del starts[:gone], ends[:gone]
        if starts and starts[0] <= offset:
            self._size -= offset - starts[0] + 1
            starts[0] = offset + 1

    def count(self, first: int, last: int) -> int:
        """How many of ``first..last`` are in."""
        return sum(b - a + 1 for a, b in self.within(first, last))

    def within(self, first: int, last: int) -> Iterator[tuple[int, int]]:
        """The parts of ``first..last`` that are in, as runs in order."""
        starts, ends = self._starts, self._ends
        index = bisect.bisect_left(ends, first)
        while index < len(starts) and starts[index] <= last:
            yield max(first, starts[index]), min(last, ends[index])
            index += 1

    def gaps(self, first: int, last: int) -> Iterator[tuple[int, int]]:
        """The parts of ``first..last`` that are not in, as runs in order."""
        at = first
        for start, end in self.within(first, last):
            if start > at:
                yield at, start - 1
            at = end + 1
        if at <= last:
            yield at, last
