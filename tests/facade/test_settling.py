"""Settling (router.facade.settling): a pull consumer's acks, nacks and parks, and its parked
list paged with the events it refers to, re-driven and discarded."""

from __future__ import annotations

import pytest
import trio

from router.app import Router
from router.core.errors import InvalidArgument
from router.core.model import StartPoint
from router.facade.settling import ParkedPage
from tests.facade import EARLIEST, opened, orders


async def parked(router: Router, after: int = 0) -> ParkedPage:
    return await router.list_parked(
        "orders", "billing", after=after, most=1000, limit_size=0, wait_s=0.0
    )


async def test_a_pull_consumer_acks_nacks_and_parks_what_it_took(sqlite_url: str) -> None:
    async with opened(sqlite_url) as router:
        await orders(router, 6)
        _, got, _ = await router.pull("orders", "billing", EARLIEST, 2, 0.0)
        assert await router.ack_sleeping("orders", "billing", got[-1].offset) == 2
        await router.pull("orders", "billing", StartPoint(), 4, 0.0)  # from its cursor
        settled = await router.settle_sleeping(
            "orders", "billing", [(3, 3)], [(4, None)], [(5, "bad sku"), (6, "bad sku")]
        )
        assert (settled.acked_offset, settled.acked, settled.parked) == (3, (3,), (5, 6))
        assert [offset for offset, _ in settled.nacked] == [4]
        page, total = await parked(router)
        assert total == 2
        assert [(p.offset, p.reason, d and d.offset) for p, d in page] == [
            (5, "bad sku", 5),
            (6, "bad sku", 6),
        ]
        after_five, _ = await router.list_parked(
            "orders", "billing", after=5, most=1, limit_size=0, wait_s=0.0
        )
        assert [p.offset for p, _ in after_five] == [6]


async def test_parked_events_are_discarded_or_redriven(sqlite_url: str) -> None:
    async with opened(sqlite_url) as router:
        await orders(router, 3)
        await router.pull("orders", "billing", EARLIEST, 3, 0.0)
        parks = [(offset, "later") for offset in (1, 2, 3)]
        await router.settle_sleeping("orders", "billing", [], [], parks)
        assert await router.change_parked("orders", "billing", [2], False) == [2]
        assert await router.change_parked("orders", "billing", None, True) == [1, 3]
        page, _ = await parked(router)
        assert [p.offset for p, _ in page] == [1, 3]  # discarded: gone; re-driven: until sent


async def test_a_parked_page_is_bounded_and_an_empty_one_waits_as_long_as_asked(
    sqlite_url: str,
) -> None:
    async with opened(sqlite_url) as router:
        await orders(router, 1)
        await router.pull("orders", "billing", EARLIEST, 1, 0.0)
        for most in (0, 10_001):
            with pytest.raises(InvalidArgument, match="max"):
                await router.list_parked(
                    "orders", "billing", after=0, most=most, limit_size=0, wait_s=0.0
                )
        waited = trio.current_time()
        page, _ = await router.list_parked(
            "orders", "billing", after=0, most=10, limit_size=0, wait_s=0.05
        )
        assert page == [] and trio.current_time() - waited >= 0.05
