"""Count quotas hold when calls arrive together, and the bytes quota pays for headers: over real
gRPC and REST against a real router (SQLite)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import httpx
import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from router._proto.router.v1 import router_pb2 as pb
from router.client import OutgoingEvent, RouterClient
from tests.helpers.server import RouterProcess, running_router
from tests.integration.test_auth_admin import refused

ATTEMPTS = 20


@pytest.fixture
def router(sqlite_url: str, tmp_path: object) -> Iterator[RouterProcess]:
    with running_router(sqlite_url, str(tmp_path)) as process:
        yield process


async def user_with_quotas(router: RouterProcess, name: str, **quotas: int) -> str:
    async with RouterClient(router.address) as admin:
        if not await admin.list_exchanges():
            await admin.create_exchange("orders", ["order.#"])
        token = (await admin.add_user(name, "consumer")).token.token
        await admin.add_grants(name, [pb.Grant(action="publish", pattern="#")])
        await admin.set_quotas(name, **quotas)
    return token


async def open_together(client: RouterClient, names: list[str]) -> tuple[int, int]:
    """Open one Subscribe stream per name, all at once, and hold those that open until every
    attempt has an answer: (opened, refused with RESOURCE_EXHAUSTED)."""
    answered = asyncio.Event()
    outcomes: list[bool] = []

    async def attempt(name: str) -> None:
        try:
            async with client.subscribe("orders", name, "latest"):
                outcomes.append(True)
                if len(outcomes) == len(names):
                    answered.set()
                await answered.wait()
        except GRPCError as error:
            assert error.status is Status.RESOURCE_EXHAUSTED, error
            outcomes.append(False)
            if len(outcomes) == len(names):
                answered.set()

    await asyncio.gather(*(attempt(name) for name in names))
    return outcomes.count(True), outcomes.count(False)


def test_subscribe_calls_arriving_together_stay_within_the_streams_quota(
    router: RouterProcess,
) -> None:
    async def story() -> tuple[int, int]:
        token = await user_with_quotas(router, "racer", streams=2)
        async with RouterClient(router.address, token=token) as client:
            return await open_together(client, [f"s{n}" for n in range(ATTEMPTS)])

    opened, refusals = asyncio.run(story())
    assert opened == 2 and refusals == ATTEMPTS - 2, (opened, refusals)


def test_subscribe_calls_arriving_together_stay_within_the_subscribers_quota(
    router: RouterProcess,
) -> None:
    async def story() -> tuple[int, int, int]:
        token = await user_with_quotas(router, "racer", subscribers=3)
        async with RouterClient(router.address, token=token) as client:
            opened, refusals = await open_together(client, [f"s{n}" for n in range(ATTEMPTS)])
        async with RouterClient(router.address) as admin:
            created = len(await admin.list_subscribers("orders"))
        return opened, refusals, created

    opened, refusals, created = asyncio.run(story())
    assert (opened, created) == (3, 3) and refusals == ATTEMPTS - 3, (opened, refusals, created)


def test_a_name_counts_once_per_exchange_whatever_its_queue_options(
    router: RouterProcess,
) -> None:
    async def story() -> None:
        token = await user_with_quotas(router, "reuser", subscribers=2)
        async with RouterClient(router.address, token=token) as client:
            for limit_size in (10, 11, 12):  # one subscriber name, three queues: one place
                async with client.subscribe("orders", "same", "latest", limit_size):
                    pass
            async with client.subscribe("orders", "other", "latest"):
                pass
            for limit_size in (10, 13):
                await refused(
                    _opened(client, "third", limit_size),
                    Status.RESOURCE_EXHAUSTED,
                    "subscribers",
                )
            async with client.subscribe("orders", "other", "latest", 14):
                pass  # a place it holds already

    asyncio.run(story())


def heavy(count: int) -> dict[str, str]:
    """Headers of the largest names and values the router takes: 320 bytes each."""
    return {f"{n}".rjust(64, "k"): "v" * 256 for n in range(count)}


async def _opened(client: RouterClient, name: str, limit_size: int) -> None:
    async with client.subscribe("orders", name, "latest", limit_size):
        pass


def test_the_bytes_quota_counts_header_keys_and_values(router: RouterProcess) -> None:
    async def story() -> str:
        token = await user_with_quotas(router, "headers", bytes_per_s=1000)
        async with RouterClient(router.address, token=token) as client:
            await client.publish([OutgoingEvent("order.created", b"x" * 10, heavy(2))])
            await refused(  # 2 x (64 + 256) = 640 bytes, more than the 490 left in the bucket
                client.publish([OutgoingEvent("order.created", b"", heavy(2))]),
                Status.RESOURCE_EXHAUSTED,
                "bytes/s",
            )
            await refused(  # 4 x 320 bytes of headers and no payload: never fits
                client.publish([OutgoingEvent("order.created", b"", heavy(4))]),
                Status.RESOURCE_EXHAUSTED,
                "more than user 'headers' may send in a second",
            )
        return token

    token = asyncio.run(story())
    body = {"events": [{"type": "order.created", "headers": heavy(4)}]}
    with contextlib.closing(httpx.Client()) as http:
        answer = http.post(
            f"{router.http}/v1/events", json=body, headers={"authorization": f"Bearer {token}"}
        )
    assert answer.status_code == 429, answer.text
