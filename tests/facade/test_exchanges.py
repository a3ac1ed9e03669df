"""Exchanges (router.facade.exchanges): described with their head and tail, and their history
read a page at a time, from the horizon once the oldest events are removed."""

from __future__ import annotations

import pytest

from router.core.errors import FailedPrecondition, InvalidArgument, NotFound
from router.core.model import StartKind, StartPoint
from tests.facade import EARLIEST, opened, orders
from tests.helpers.stories import events


async def test_an_exchange_is_described_with_its_head_tail_and_events_in(sqlite_url: str) -> None:
    async with opened(sqlite_url) as router:
        made = await router.create_exchange("orders", ["order.*"])
        await router.publish(events(3) + events(1, "user.created"))
        record, events_in = router.describe_exchange("orders")
        assert (record.id, record.head, record.first_offset, events_in) == (made.id, 3, 1, 3)
        (listed,) = await router.list_exchanges()
        assert (listed.name, listed.first_offset) == ("orders", 1)
        with pytest.raises(NotFound, match="no exchange named 'nope'"):
            router.describe_exchange("nope")
        await router.delete_exchange("orders")
        assert await router.list_exchanges() == []


async def test_history_is_read_a_page_at_a_time_from_the_horizon(sqlite_url: str) -> None:
    async with opened(sqlite_url) as router:
        await orders(router, 5)
        page, head, after, gap = await router.read("orders", EARLIEST, 2)
        assert ([d.offset for d in page], head, after, gap) == ([1, 2], 5, 3, None)
        page, _, after, _ = await router.read("orders", StartPoint(StartKind.OFFSET, 4), 10)
        assert ([d.offset for d in page], after) == ([4, 5], 6)
        await router.trim_log(3, 0, False, 0)
        page, _, _, gap = await router.read("orders", EARLIEST, 10)
        assert ([d.offset for d in page], gap) == ([3, 4, 5], None)
        page, _, _, gap = await router.read("orders", StartPoint(StartKind.OFFSET, 1), 10)
        assert [d.offset for d in page] == [3, 4, 5]
        assert gap is not None and (gap.first, gap.last) == (1, 2)
        page, _, after, _ = await router.read("orders", StartPoint(StartKind.LATEST), 10)
        assert (page, after) == ([], 6)
        with pytest.raises(InvalidArgument, match="max"):
            await router.read("orders", EARLIEST, 0)


async def test_an_ingest_node_neither_creates_nor_reads_exchanges(sqlite_url: str) -> None:
    async with opened(sqlite_url, role="ingest") as router:
        with pytest.raises(FailedPrecondition, match="on a route node"):
            await router.create_exchange("orders", ["#"])
        with pytest.raises(FailedPrecondition, match="on a route node"):
            await router.read("orders", EARLIEST, 1)
