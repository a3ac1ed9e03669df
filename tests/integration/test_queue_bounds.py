"""Queues are bounded: one exchange has at most --max-queues-per-exchange (one per limit_size),
and a queue whose last subscriber is deleted goes, stored row and all. Over real gRPC against a
real router, on both stores."""

from __future__ import annotations

import asyncio

from grpclib.const import Status

from router.client import OutgoingEvent, RouterClient
from tests.helpers.polling import until
from tests.helpers.server import running_router
from tests.integration.test_auth_admin import refused

MOST = 3


async def subscribed(client: RouterClient, name: str, limit_size: int) -> None:
    async with client.subscribe("orders", name, "latest", limit_size):
        pass


async def limits(client: RouterClient) -> list[int]:
    return sorted(q.limit_size for q in await client.list_queues("orders"))


def test_queues_per_exchange_are_bounded_and_an_empty_queue_is_removed(
    db_url: str, tmp_path: object
) -> None:
    extra = ("--max-queues-per-exchange", str(MOST))

    async def before_restart(address: str) -> None:
        async with RouterClient(address) as client:
            await client.create_exchange("orders", ["order.#"])
            await client.create_exchange("payments", ["payment.#"])
            for limit_size in (10, 11, 12):
                await subscribed(client, f"s{limit_size}", limit_size)
            assert await limits(client) == [10, 11, 12]
            await refused(
                subscribed(client, "s13", 13), Status.RESOURCE_EXHAUSTED, "queue.limit_size"
            )
            assert await limits(client) == [10, 11, 12]  # the refusal made nothing
            assert not await client.list_subscribers("orders", "s13")
            await subscribed(client, "another", 10)  # an existing queue takes more
            async with client.subscribe("payments", "p", "latest", 13):
                pass  # the bound is per exchange

            await client.delete_subscriber("orders", "s11", 11)

            async def removed() -> bool:
                return await limits(client) == [10, 12]

            await until(removed)
            await subscribed(client, "s13", 13)  # its place is free again
            await client.delete_subscriber("orders", "s13", 13)
            await until(removed)
            await client.publish([OutgoingEvent("order.created")])  # no queue left behind

    async def after_restart(address: str) -> None:
        async with RouterClient(address) as client:
            assert await limits(client) == [10, 12]  # the removed ones were not stored
            assert sorted(v.name for v in await client.list_subscribers("orders")) == [
                "another",
                "s10",
                "s12",
            ]

    with running_router(db_url, str(tmp_path), *extra) as router:
        asyncio.run(before_restart(router.address))
        router.stop()
        router.start()
        asyncio.run(after_restart(router.address))
