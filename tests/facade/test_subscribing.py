"""Subscribing (router.facade.subscribing): an attach creates the subscriber it names, and a
pull attaches, takes no more than asked and leaves without settling anything."""

from __future__ import annotations

import pytest

from router.core.errors import FailedPrecondition, InvalidArgument
from router.core.model import StartKind, StartPoint
from tests.facade import EARLIEST, opened, orders
from tests.helpers.stories import eventually, take


async def test_an_attach_creates_the_subscriber_and_a_later_one_resumes_it(
    sqlite_url: str,
) -> None:
    async with opened(sqlite_url) as router:
        await orders(router, 4)
        subscription = await router.subscribe("orders", "billing", EARLIEST, consumer="10.0.0.1")
        assert [d.offset for d in await take(subscription, 4)] == [1, 2, 3, 4]
        (view,) = router.list_subscribers("orders")
        assert (view.name, view.state, view.consumer) == ("billing", "active", "10.0.0.1")
        await subscription.close()
        await eventually(lambda: router.describe_subscriber("orders", "billing").acked == 4)
        again = await router.subscribe("orders", "billing", StartPoint())
        assert again.start_offset == 5
        await again.close()
        with pytest.raises(InvalidArgument, match="subscriber"):
            await router.subscribe("orders", "", EARLIEST)


async def test_a_pull_takes_at_most_what_it_asks_and_settles_nothing(sqlite_url: str) -> None:
    async with opened(sqlite_url) as router:
        await orders(router, 5)
        _, got, counts = await router.pull("orders", "billing", EARLIEST, 3, 0.0)
        assert ([d.offset for d in got], counts) == ([1, 2, 3], [1, 1, 1])
        view = router.describe_subscriber("orders", "billing")
        assert (view.state, view.acked) == ("sleeping", 0)
        _, got, _ = await router.pull("orders", "late", StartPoint(StartKind.LATEST), 3, 0.0)
        assert got == []  # nothing past the head, and no wait


async def test_an_ingest_node_takes_no_subscribers(sqlite_url: str) -> None:
    async with opened(sqlite_url, role="ingest") as router:
        with pytest.raises(FailedPrecondition, match="on a route node"):
            await router.subscribe("orders", "billing", EARLIEST)
        with pytest.raises(FailedPrecondition, match="on a route node"):
            await router.pull("orders", "billing", EARLIEST, 1, 0.0)
