"""Exchanges: created (within the patterns the caller may consume), deleted, listed, described,
and their stored history read a page at a time."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from actors.messages import Gap
from actors.subscriber import first_offset, time_gap
from router.control import reach
from router.core import validation
from router.core.errors import InvalidArgument, NotFound
from router.core.model import Delivery, ExchangeRecord, StartPoint, UserRecord
from router.core.wire import bounds
from router.facade.base import Parts


class Exchanges(Parts):
    __slots__ = ()

    async def create_exchange(
        self, name: str, patterns: Sequence[str], by: UserRecord | None = None
    ) -> ExchangeRecord:
        """A new exchange; ``by`` (None: auth is off) may give it only patterns within those
        of the other exchanges it may consume (router.control.reach)."""
        self._serves("create exchanges", "all", "route")
        name, checked = validation.name(name, "name"), validation.patterns(patterns)
        others = ((a.record.name, a.record.patterns) for a in self.dispatcher.exchanges.values())
        reach.permit_patterns(by, checked, name, others)
        return await self.dispatcher.add_exchange(name, checked)

    async def delete_exchange(self, name: str) -> None:
        await self.dispatcher.remove_exchange(validation.name(name, "name"))

    async def list_exchanges(self) -> list[ExchangeRecord]:
        found = await self.dispatcher.list_exchanges()
        return [self._with_tail(record) for record in found]

    def describe_exchange(self, name: str) -> tuple[ExchangeRecord, int]:
        """The exchange with its current head and the events routed to it since start-up."""
        validation.name(name, "name")
        for actor in self.dispatcher.exchanges.values():
            if actor.record.name == name:
                return self._with_tail(attrs.evolve(actor.record, head=actor.head)), actor.events_in
        raise NotFound(f"name: no exchange named {name!r}")

    async def read(
        self, exchange: str, start: StartPoint, most: int, most_bytes: int = 0
    ) -> tuple[Sequence[Delivery], int, int, Gap | None]:
        """Up to ``most`` stored deliveries from ``start``, and no more than fit in
        ``most_bytes`` (at least one; 0: no limit), read no further: (deliveries, head, next
        offset, the gap notice when ``start`` was before the horizon: the page then starts at
        it)."""
        self._serves("read exchanges", "all", "route")
        record, _ = await self.dispatcher.find_exchange(validation.name(exchange, "exchange"))
        head = record.head
        if not 1 <= most <= 10_000:
            raise InvalidArgument(f"max: {most} is outside 1..10000")
        first = await first_offset(start, head, record.id, self.state)
        gap = time_gap(start, first, record.id, self.state)
        while True:
            tail = self.state.horizon.tail(record.id)
            if first < tail:
                gap, first = Gap(first, tail - 1), tail
            if first > head:
                return [], head, first, gap
            last = min(head, first + most - 1)
            deliveries = await self.state.read(record.id, first, last, most, most_bytes)
            if deliveries and bounds(deliveries)[0] == first:
                return deliveries, head, bounds(deliveries)[1] + 1, gap
            await self.state.horizon_settled()  # removed as it was read: read from the horizon
            if self.state.horizon.tail(record.id) <= first:
                return [], head, first, gap
