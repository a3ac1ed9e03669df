"""Every long-lived call ends when its token or grant no longer allows it: Log.Follow,
Admin.FollowParked and REST long-polls, over real gRPC and HTTP against a real router (SQLite).
(Subscribe streams: tests/integration/test_grants.py; publish streams:
tests/faults/test_hostile_access.py.)"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from router._proto.router.v1 import router_grpc
from router._proto.router.v1 import router_pb2 as pb
from router.client import OutgoingEvent, RouterClient
from tests.helpers.polling import until
from tests.helpers.server import ADMIN_TOKEN, RouterProcess, running_router

PROMPTLY_S = 5.0  # a call must end this soon after the change (it ends in milliseconds)


@pytest.fixture
def router(sqlite_url: str, tmp_path: object) -> Iterator[RouterProcess]:
    with running_router(sqlite_url, str(tmp_path)) as process:
        yield process


@asynccontextmanager
async def channel_to(router: RouterProcess) -> AsyncIterator[Channel]:
    host, port = router.address.rsplit(":", 1)
    channel = Channel(host, int(port))
    try:
        yield channel
    finally:
        channel.close()


async def ended(stream: Any, received: list[Any]) -> GRPCError:
    """Read ``stream`` until it fails; what it sent goes into ``received``."""
    with pytest.raises(GRPCError) as raised:
        async with asyncio.timeout(60):
            while (message := await stream.recv_message()) is not None:
                received.append(message)
            await stream.recv_trailing_metadata()
    return raised.value


async def follow_log(router: RouterProcess, token: str, change: Any) -> tuple[GRPCError, int]:
    """Follow the log with ``token``; once connected, run ``change`` and publish an event:
    (how the stream ended, the events it sent)."""
    async with RouterClient(router.address) as admin:
        last_seq = (await admin.server_info()).last_seq
    async with channel_to(router) as channel:
        stub = router_grpc.LogStub(channel)
        metadata = {"authorization": f"Bearer {token}"}
        async with stub.Follow.open(metadata=metadata) as stream:
            await stream.send_message(pb.FollowRequest(after_seq=last_seq), end=True)
            connected = await stream.recv_message()
            assert connected is not None and connected.last_seq >= 0
            received: list[Any] = []
            reading = asyncio.ensure_future(ended(stream, received))
            began = time.monotonic()
            await change()
            error = await asyncio.wait_for(reading, PROMPTLY_S)
            assert time.monotonic() - began < PROMPTLY_S
            async with RouterClient(router.address) as admin:
                await admin.publish([OutgoingEvent("order.created", b"after")])
            return error, sum(len(m.events) for m in received)


def test_log_follow_ends_when_its_token_is_revoked_or_its_user_removed(
    router: RouterProcess,
) -> None:
    async def story() -> None:
        async with RouterClient(router.address) as admin:
            await admin.create_exchange("orders", ["order.#"])
            first = (await admin.add_user("ops", "admin")).token.token
            second = await admin.issue_token("ops")

            async def revoke() -> None:
                await admin.revoke_token(second.token_id)

            error, events = await follow_log(router, second.token, revoke)
            assert error.status is Status.UNAUTHENTICATED and "revoked" in (error.message or "")
            assert events == 0

            async def remove() -> None:
                await admin.remove_user("ops")

            error, events = await follow_log(router, first, remove)
            assert error.status is Status.UNAUTHENTICATED and "'ops'" in (error.message or "")
            assert events == 0

    asyncio.run(story())


async def a_parked_event(router: RouterProcess) -> None:
    """Subscriber "svc" of "orders" with one parked event, through the REST API."""
    admin = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    base = f"{router.http}/v1/exchanges/orders/subscribers/svc"
    async with httpx.AsyncClient(headers=admin) as http:
        pulled = await http.get(f"{base}/events?from=earliest&max=1")
        assert pulled.status_code == 200 and pulled.json()["events"], pulled.text
        parked = await http.post(f"{base}/settle", json={"park": [{"offset": 1, "reason": "x"}]})
        assert parked.status_code == 200, parked.text


async def follow_parked(router: RouterProcess, token: str, change: Any) -> GRPCError:
    async with channel_to(router) as channel:
        stub = router_grpc.AdminStub(channel)
        async with stub.FollowParked.open(metadata={"authorization": f"Bearer {token}"}) as stream:
            request = pb.ListParkedRequest(
                subscriber=pb.SubscriberRef(exchange="orders", name="svc")
            )
            await stream.send_message(request, end=True)
            page = await stream.recv_message()
            assert page is not None and page.total == 1
            reading = asyncio.ensure_future(ended(stream, []))
            await change()
            return await asyncio.wait_for(reading, PROMPTLY_S)


def test_follow_parked_ends_when_its_token_is_revoked_or_its_grant_taken(
    router: RouterProcess,
) -> None:
    async def story() -> None:
        async with RouterClient(router.address) as admin:
            await admin.create_exchange("orders", ["order.#"])
            await admin.publish([OutgoingEvent("order.created", b"1")])
            await a_parked_event(router)
            added = await admin.add_user("watcher", "consumer")
            await admin.add_grants("watcher", [pb.Grant(action="monitor", pattern="*")])
            second = await admin.issue_token("watcher")

            async def revoke() -> None:
                await admin.revoke_token(second.token_id)

            error = await follow_parked(router, second.token, revoke)
            assert error.status is Status.UNAUTHENTICATED, error

            async def take() -> None:
                await admin.revoke_grants("watcher", [pb.Grant(action="monitor", pattern="*")])

            error = await follow_parked(router, added.token.token, take)
            assert error.status is Status.PERMISSION_DENIED and "monitor" in (error.message or "")

    asyncio.run(story())


async def long_poll(router: RouterProcess, token: str, name: str, change: Any) -> httpx.Response:
    """A pull that waits up to 30 s for events; once the subscriber is attached, ``change``
    runs and an event is published: the pull's answer."""
    url = f"{router.http}/v1/exchanges/orders/subscribers/{name}/events?from=latest&wait=30"
    async with (
        httpx.AsyncClient(headers={"authorization": f"Bearer {token}"}, timeout=60) as http,
        RouterClient(router.address) as admin,
    ):
        pull = asyncio.ensure_future(http.get(url))

        async def attached() -> bool:
            found = await admin.list_subscribers("orders", name)
            return bool(found) and found[0].state == "active"

        await until(attached)
        await change()
        await admin.publish([OutgoingEvent("order.created", b"after")])
        return await asyncio.wait_for(pull, PROMPTLY_S)


def test_a_long_poll_ends_when_its_token_is_revoked_or_its_grant_taken(
    router: RouterProcess,
) -> None:
    async def story() -> None:
        async with RouterClient(router.address) as admin:
            await admin.create_exchange("orders", ["order.#"])
            added = await admin.add_user("puller", "consumer")
            second = await admin.issue_token("puller")

            async def revoke() -> None:
                await admin.revoke_token(second.token_id)

            answer = await long_poll(router, second.token, "p1", revoke)
            assert answer.status_code == 401 and "revoked" in answer.text, answer.text

            async def take() -> None:
                await admin.revoke_grants("puller", [pb.Grant(action="consume", pattern="*")])

            answer = await long_poll(router, added.token.token, "p2", take)
            assert answer.status_code == 403 and "orders" in answer.text, answer.text
        async with httpx.AsyncClient(headers={"authorization": f"Bearer {ADMIN_TOKEN}"}) as http:
            metrics = (await http.get(f"{router.http}/metrics")).text
        assert "router_auth_failures_total{" not in metrics  # a revocation is not a failed login

    asyncio.run(story())
