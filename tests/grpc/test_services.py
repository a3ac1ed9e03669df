"""The gRPC handlers in memory (grpclib's ChannelFor): no socket, the real Router behind them.

The calls run on the bridge's asyncio thread, as a client's would; the handlers cross into Trio
as they do when served. The process-level tests (tests/integration) keep the real path.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from grpclib.testing import ChannelFor

from router._proto.router.v1 import router_grpc
from router._proto.router.v1 import router_pb2 as pb
from router.app import open_router
from router.bridge import open_bridge
from router.core.settings import Settings
from router.grpc.admin import AdminService
from router.grpc.publish import PublisherService
from router.grpc.server import Codec

T = TypeVar("T")


async def in_memory(sqlite_url: str, calls: Callable[[Channel], Awaitable[T]]) -> T:
    """Run ``calls`` against the Admin and Publisher services of a router on ``sqlite_url``."""
    async with (
        open_router(Settings(db_url=sqlite_url, auth=False)) as router,
        open_bridge() as bridge,
    ):
        services: list[Any] = [AdminService(router, bridge), PublisherService(router, bridge)]

        async def on_the_loop() -> T:
            async with ChannelFor(services, codec=Codec()) as channel:
                return await calls(channel)

        return await bridge.call(on_the_loop)


async def test_an_operator_manages_exchanges_and_reads_the_servers_state(sqlite_url: str) -> None:
    async def calls(channel: Channel) -> None:
        admin = router_grpc.AdminStub(channel)
        created = await admin.CreateExchange(
            pb.CreateExchangeRequest(name="orders", patterns=["order.*"])
        )
        assert (created.name, list(created.patterns), created.head_offset) == (
            "orders",
            ["order.*"],
            0,
        )
        listed = await admin.ListExchanges(pb.ListExchangesRequest())
        assert [e.name for e in listed.exchanges] == ["orders"]
        info = await admin.GetServerInfo(pb.ServerInfoRequest())
        assert (info.storage, info.exchanges, info.role, info.auth) == ("sqlite", 1, "all", False)
        stats = await admin.GetStats(pb.StatsRequest())
        assert [e.name for e in stats.exchanges] == ["orders"]
        assert stats.links_json == "{}"
        assert not (await admin.ListQueues(pb.ListQueuesRequest())).queues
        await admin.DeleteExchange(pb.DeleteExchangeRequest(name="orders"))
        assert not (await admin.ListExchanges(pb.ListExchangesRequest())).exchanges

    await in_memory(sqlite_url, calls)


async def test_refusals_keep_their_status_and_name_the_field(sqlite_url: str) -> None:
    async def calls(channel: Channel) -> list[tuple[Status, str]]:
        admin = router_grpc.AdminStub(channel)
        publisher = router_grpc.PublisherStub(channel)
        await admin.CreateExchange(pb.CreateExchangeRequest(name="orders", patterns=["order.*"]))
        refusals: list[tuple[Status, str]] = []
        for call in (
            admin.CreateExchange(pb.CreateExchangeRequest(name="orders", patterns=["order.*"])),
            admin.CreateExchange(pb.CreateExchangeRequest(name="bad", patterns=["order..x"])),
            admin.DescribeExchange(pb.DescribeExchangeRequest(name="missing")),
            admin.RemoveUser(pb.RemoveUserRequest(name="nobody")),
            publisher.Publish(pb.PublishRequest(events=[pb.Event(id=str(uuid.uuid4()))])),
        ):
            with pytest.raises(GRPCError) as raised:
                await call
            refusals.append((raised.value.status, str(raised.value.message)))
        return refusals

    refusals = await in_memory(sqlite_url, calls)
    assert [status for status, _ in refusals] == [
        Status.ALREADY_EXISTS,
        Status.INVALID_ARGUMENT,
        Status.NOT_FOUND,
        Status.NOT_FOUND,
        Status.INVALID_ARGUMENT,
    ]
    fields = [message.split(":", 1)[0] for _, message in refusals]
    assert fields == ["name", "patterns[0]", "name", "name", "events[0].type"]


async def test_a_publish_is_acked_with_its_place_and_a_user_gets_tokens(sqlite_url: str) -> None:
    async def calls(channel: Channel) -> None:
        admin = router_grpc.AdminStub(channel)
        publisher = router_grpc.PublisherStub(channel)
        await admin.CreateExchange(pb.CreateExchangeRequest(name="orders", patterns=["order.*"]))
        event_id = str(uuid.uuid4())
        request = pb.PublishRequest(events=[pb.Event(id=event_id, type="order.created")])
        (ack,) = (await publisher.Publish(request)).acks
        assert (ack.id, ack.seq, ack.duplicate) == (event_id, 1, False)
        assert [(o.exchange, o.offset) for o in ack.offsets] == [("orders", 1)]
        (again,) = (await publisher.Publish(request)).acks
        assert (again.seq, again.duplicate) == (1, True)

        added = await admin.AddUser(pb.AddUserRequest(name="shop", role="publisher"))
        assert added.user.role == "publisher" and added.token.token.startswith("rtr_")
        issued = await admin.IssueToken(pb.IssueTokenRequest(user="shop"))
        users = {
            u.name: set(u.token_ids) for u in (await admin.ListUsers(pb.ListUsersRequest())).users
        }
        assert users["shop"] == {added.token.token_id, issued.token_id}
        await admin.RevokeToken(pb.RevokeTokenRequest(token_id=issued.token_id))
        await admin.RemoveUser(pb.RemoveUserRequest(name="shop"))
        users = {u.name for u in (await admin.ListUsers(pb.ListUsersRequest())).users}
        assert "shop" not in users

    await in_memory(sqlite_url, calls)
