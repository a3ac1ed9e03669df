"""The log: what a route node follows from its ingest node (position, events after a seq, and
routing them on the route node), and the removal of its oldest events (``router log trim``)."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from router.core.errors import InvalidArgument
from router.core.model import StoredEvent
from router.facade.base import Parts


@attrs.frozen
class TrimReport:
    removed: int
    remaining: int
    first_seq: int
    removed_until_us: int
    parked_dropped: int


class Log(Parts):
    __slots__ = ()

    async def route_stored(self, events: Sequence[StoredEvent]) -> None:
        """A route node: give offsets to events its ingest node stored, and deliver them."""
        await self.dispatcher.publish(tuple(events))

    async def log_position(self) -> int:
        """The log's last committed seq (on the nodes that keep the log)."""
        self._serves("follow the log", "all", "ingest")
        return self.state.positions.last_seq

    async def log_after(self, after_seq: int, most: int) -> tuple[list[StoredEvent], int]:
        """Committed events after ``after_seq`` (up to ``most``), waiting for the next commit when
        there are none yet: (events, the log's last seq)."""
        self._serves("follow the log", "all", "ingest")
        if after_seq < 0:
            raise InvalidArgument(f"after_seq: {after_seq} is negative")
        if not 0 <= most <= 10_000:
            raise InvalidArgument(f"max_batch: {most} is outside 0..10000")
        state = self.state
        while True:
            moved = state.log_moved
            if state.positions.last_seq > after_seq:
                events = await state.read_log(after_seq, most or self.settings.replay_chunk)
                if events:
                    return events, state.positions.last_seq
            await moved.wait()

    async def trim_log(
        self, before_seq: int, before_time_us: int, dry_run: bool, most: int
    ) -> TrimReport:
        """One removal step towards a seq or a time (``router log trim``); a dry run counts."""
        self._serves("remove events", "all")
        if (before_seq > 0) == (before_time_us > 0):
            raise InvalidArgument("before_seq: give a seq or a time (before_time_us), one of them")
        if before_seq < 0 or before_time_us < 0:
            raise InvalidArgument("before_seq: must not be negative")
        most = most or 10_000
        if not 1 <= most <= 100_000:
            raise InvalidArgument(f"max: {most} is outside 1..100000")
        state = self.state
        if before_time_us:
            before = await state.write(lambda storage: storage.first_seq_at(before_time_us))
        else:
            before = before_seq
        before = min(before, state.positions.last_seq + 1)
        first = state.horizon.first_seq
        if dry_run:
            count = max(0, before - first)
            return TrimReport(count, 0, max(first, before), state.horizon.removed_until, 0)
        trimmed = await state.trim(before, most)
        horizon = trimmed.horizon
        return TrimReport(
            trimmed.events,
            max(0, before - horizon.first_seq),
            horizon.first_seq,
            horizon.removed_until,
            trimmed.parked,
        )
