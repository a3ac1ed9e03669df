"""Fake neighbours for driving one actor through its messages, without the rest of the tree.

:class:`FakeState` stands in for the StateActor: one exchange's log in memory, the cursors it
was asked to save, and a switch to make reads fail like a store that went away.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import trio

from actors.runtime import Reply
from router.core.delivery import ParkedEvent
from router.core.errors import NotFound, RouterError
from router.core.model import Delivery, StoredEvent, SubscriberRecord
from router.core.wire import fitting
from storage.base import Append, CommitResult
from storage.retention import Horizon


def deliveries(first: int, last: int, type_: str = "order.created") -> tuple[Delivery, ...]:
    """Offsets ``first``..``last`` of one exchange; seq = offset, published_at = offset ms."""
    return tuple(
        Delivery(
            offset,
            StoredEvent(offset, str(uuid.uuid4()), type_, f"{offset}".encode(), (), offset * 1000),
        )
        for offset in range(first, last + 1)
    )


@attrs.define(eq=False)
class FakeState:
    """The StateActor's surface, in memory. ``log[i]`` is offset ``i + 1``."""

    log: list[Delivery] = attrs.Factory(list)
    cursors: dict[tuple[str, str], int] = attrs.Factory(dict)
    cursor_saves: list[tuple[str, str, int]] = attrs.Factory(list)  # SaveCursor, in order
    reads: list[tuple[int, int]] = attrs.Factory(list)
    read_error: RouterError | None = None
    appends: list[tuple[tuple[Append, ...], Reply[CommitResult]]] = attrs.Factory(list)
    appended: trio.Event = attrs.Factory(trio.Event)
    cursor_saved: trio.Event = attrs.Factory(trio.Event)  # set at the first SaveCursor
    ledgers: dict[tuple[str, str], str] = attrs.Factory(dict)
    parked: dict[tuple[str, str], dict[int, ParkedEvent]] = attrs.Factory(dict)
    horizon: Horizon = Horizon()
    holding: dict[tuple[str, str], int] = attrs.Factory(dict)
    gap_notices: int = 0
    gap_events: int = 0

    def remove_before(self, exchange_id: int, offset: int) -> None:
        """What a removal step does to one exchange: its offsets before ``offset`` are gone."""
        self.log = [d for d in self.log if d.offset >= offset]
        self.horizon = Horizon(tails={**self.horizon.tails, exchange_id: offset})

    async def horizon_settled(self) -> None:
        await trio.lowlevel.checkpoint()

    async def read(
        self, exchange_id: int, first: int, last: int, limit: int, max_bytes: int = 0
    ) -> Sequence[Delivery]:
        await trio.lowlevel.checkpoint()
        if self.read_error is not None:
            raise self.read_error
        self.reads.append((first, last))
        found = tuple(d for d in self.log if first <= d.offset <= last)[:limit]
        return found[: fitting(found, max_bytes)]

    async def find_time(self, exchange_id: int, head: int, time_us: int) -> int:
        for delivery in self.log:
            if delivery.offset > head:
                break
            if delivery.event.published_at >= time_us:
                return delivery.offset
        return head + 1

    async def save_subscriber(self, record: SubscriberRecord) -> None:
        self.cursors[(record.queue_id, record.name)] = record.acked

    async def save_cursor(
        self, queue_id: str, name: str, acked: int, ledger: str = "", wait: bool = False
    ) -> None:
        self.cursors[(queue_id, name)] = acked
        self.ledgers[(queue_id, name)] = ledger
        self.cursor_saves.append((queue_id, name, acked))
        self.cursor_saved.set()

    # --- the parked list, as Storage keeps it (through ``write``) ---

    def park(self, queue_id: str, name: str, parked: ParkedEvent) -> None:
        self.parked.setdefault((queue_id, name), {})[parked.offset] = parked

    def parked_events(
        self, queue_id: str, name: str, after: int = 0, limit: int = 1000
    ) -> list[ParkedEvent]:
        found = self.parked.get((queue_id, name), {})
        return [found[o] for o in sorted(found) if o > after][:limit]

    def parked_state(self, queue_id: str, name: str, floor: int) -> tuple[set[int], set[int]]:
        found = self.parked.get((queue_id, name), {}).values()
        return (
            {p.offset for p in found if p.offset > floor and not p.redriving},
            {p.offset for p in found if p.redriving},
        )

    def _chosen(
        self, queue_id: str, name: str, offsets: Sequence[int] | None
    ) -> tuple[dict[int, ParkedEvent], list[int]]:
        found = self.parked.get((queue_id, name), {})
        for offset in offsets or ():
            if offset not in found:
                raise NotFound(f"offset: {offset} is not in the parked list of {name!r}")
        return found, sorted(found) if offsets is None else sorted(set(offsets))

    def redrive(self, queue_id: str, name: str, offsets: Sequence[int] | None) -> list[int]:
        found, chosen = self._chosen(queue_id, name, offsets)
        for offset in chosen:
            found[offset] = attrs.evolve(found[offset], redriving=True)
        return chosen

    def discard_parked(self, queue_id: str, name: str, offsets: Sequence[int] | None) -> list[int]:
        found, chosen = self._chosen(queue_id, name, offsets)
        for offset in chosen:
            del found[offset]
        return chosen

    def unpark(self, queue_id: str, name: str, offsets: Sequence[int]) -> None:
        for offset in offsets:
            self.parked.get((queue_id, name), {}).pop(offset, None)

    async def write(self, call: Callable[[Any], Any]) -> Any:
        return call(self)

    def delete_subscriber(self, queue_id: str, name: str) -> None:  # as Storage does
        self.cursors.pop((queue_id, name), None)

    async def start_append(self, appends: tuple[Append, ...]) -> Reply[CommitResult]:
        """Like the StateActor: the reply is set later, by the test (the 'commit')."""
        reply: Reply[CommitResult] = Reply()
        self.appends.append((appends, reply))
        self.appended.set()
        self.appended = trio.Event()
        return reply
