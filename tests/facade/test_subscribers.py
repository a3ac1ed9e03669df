"""Queues and subscribers (router.facade.subscribers): listed and described, moved, their
settings changed and deleted through their queue, and found by name and limit size."""

from __future__ import annotations

import pytest

from router.core.errors import InvalidArgument, NotFound
from router.core.model import StartKind, StartPoint
from tests.facade import EARLIEST, opened, orders
from tests.helpers.stories import events


async def test_subscribers_are_listed_described_moved_changed_and_deleted(
    sqlite_url: str,
) -> None:
    async with opened(sqlite_url) as router:
        await orders(router, 0)
        await router.create_exchange("users", ["user.*"])
        await router.publish(events(4))
        for exchange, name in (("orders", "billing"), ("orders", "audit"), ("users", "crm")):
            await router.pull(exchange, name, EARLIEST, 1, 0.0)
        assert [q.exchange for q in router.list_queues()] == ["orders", "users"]
        assert [q.exchange for q in router.list_queues("users")] == ["users"]
        assert [v.name for v in router.list_subscribers()] == ["audit", "billing", "crm"]
        assert [v.name for v in router.list_subscribers("orders", "billing")] == ["billing"]
        moved = await router.reset_subscriber("orders", "billing", StartPoint(StartKind.OFFSET, 3))
        assert moved.acked == 2
        changed = await router.set_subscriber_settings("orders", "billing", {"max_deliveries": 3})
        assert changed.settings.max_deliveries == 3
        assert router.describe_subscriber("orders", "billing") == changed
        await router.delete_subscriber("orders", "billing")
        assert [v.name for v in router.list_subscribers("orders")] == ["audit"]
        with pytest.raises(NotFound, match="no subscriber 'billing' on exchange 'orders'"):
            router.describe_subscriber("orders", "billing")


async def test_a_name_on_two_queues_needs_its_limit_size(sqlite_url: str) -> None:
    async with opened(sqlite_url) as router:
        await orders(router, 0)
        for size in (10, 20):
            await router.pull("orders", "billing", EARLIEST, 1, 0.0, limit_size=size)
        with pytest.raises(InvalidArgument, match=r"limit sizes 10, 20\); say which"):
            router.describe_subscriber("orders", "billing")
        view = router.describe_subscriber("orders", "billing", 20)
        assert view.queue_id == next(q.id for q in router.list_queues() if q.limit_size == 20)
        with pytest.raises(InvalidArgument, match="exchange"):
            router.describe_subscriber("", "billing")
