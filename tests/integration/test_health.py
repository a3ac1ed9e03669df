"""The standard gRPC health checking and server reflection over real gRPC on loopback, asked
without a token (as a load balancer and grpcurl ask): a leader is SERVING until it begins to
stop, a standby NOT_SERVING, and reflection lists and describes the router.v1 services."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
import trio
from google.protobuf.descriptor_pb2 import FileDescriptorProto
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import GRPCError, StreamTerminatedError
from grpclib.health.v1.health_grpc import HealthStub
from grpclib.health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse
from grpclib.reflection.v1 import reflection_grpc, reflection_pb2
from grpclib.reflection.v1alpha import reflection_grpc as alpha_grpc
from grpclib.reflection.v1alpha import reflection_pb2 as alpha_pb2

from router._proto.router.v1 import router_grpc
from router._proto.router.v1 import router_pb2 as pb
from router.bridge import open_bridge
from router.core.settings import Settings
from router.grpc.health import MOST_OPEN_PER_SOURCE, ROUTER_SERVICES
from router.node.standby import LeaderHint, serve_standby_grpc
from tests.helpers.server import RouterProcess, running_router

T = TypeVar("T")
EVERY = ("", *ROUTER_SERVICES)


async def statuses(channel: Channel) -> dict[str, int]:
    """What Check says of the whole server and of each router.v1 service."""
    health = HealthStub(channel)
    return {name: (await health.Check(HealthCheckRequest(service=name))).status for name in EVERY}


async def reflected(channel: Channel) -> tuple[list[str], FileDescriptorProto]:
    """The services reflection lists, and the file it gives for router.v1.Publisher."""
    stub = reflection_grpc.ServerReflectionStub(channel)
    async with stub.ServerReflectionInfo.open() as stream:
        await stream.send_message(reflection_pb2.ServerReflectionRequest(list_services=""))
        listed = await stream.recv_message()
        await stream.send_message(
            reflection_pb2.ServerReflectionRequest(file_containing_symbol="router.v1.Publisher")
        )
        found = await stream.recv_message()
        await stream.end()
    assert listed is not None and found is not None
    names = [service.name for service in listed.list_services_response.service]
    (data,) = found.file_descriptor_response.file_descriptor_proto
    return names, FileDescriptorProto.FromString(data)


def assert_described(names: list[str], file: FileDescriptorProto) -> None:
    assert set(ROUTER_SERVICES) <= set(names)
    assert "grpc.health.v1.Health" in names
    assert file.name == "router/v1/router.proto"
    assert file.package == "router.v1"
    assert {service.name for service in file.service} == {"Publisher", "Subscriber", "Admin", "Log"}


@pytest.fixture
def router(sqlite_url: str, tmp_path: object) -> Any:
    with running_router(sqlite_url, str(tmp_path)) as process:
        yield process


def test_a_leader_is_serving_and_described_to_a_caller_without_a_token(
    router: RouterProcess,
) -> None:
    async def story() -> None:
        host, port = router.address.rsplit(":", 1)
        channel = Channel(host, int(port))  # no token sent with any call
        try:
            assert await statuses(channel) == dict.fromkeys(EVERY, HealthCheckResponse.SERVING)
            with pytest.raises(GRPCError) as caught:
                await HealthStub(channel).Check(HealthCheckRequest(service="router.v1.Nowhere"))
            assert caught.value.status is Status.NOT_FOUND
            names, file = await reflected(channel)
            assert_described(names, file)
            alpha = alpha_grpc.ServerReflectionStub(channel)
            async with alpha.ServerReflectionInfo.open() as stream:
                await stream.send_message(alpha_pb2.ServerReflectionRequest(list_services=""))
                listed = await stream.recv_message()
                await stream.end()
            assert listed is not None
            assert "router.v1.Admin" in [s.name for s in listed.list_services_response.service]
            # the open calls are those two services' only: the router's own still want a token
            with pytest.raises(GRPCError) as caught:
                await router_grpc.AdminStub(channel).ListExchanges(pb.ListExchangesRequest())
            assert caught.value.status is Status.UNAUTHENTICATED
        finally:
            channel.close()

    asyncio.run(story())


def test_a_leader_going_down_says_not_serving_to_a_watch_first(router: RouterProcess) -> None:
    process = router.process
    assert process is not None

    async def story() -> list[int]:
        host, port = router.address.rsplit(":", 1)
        channel = Channel(host, int(port))
        seen: list[int] = []
        try:
            async with HealthStub(channel).Watch.open() as stream:
                await stream.send_message(HealthCheckRequest(service=""), end=True)
                async with asyncio.timeout(20):
                    while (answer := await stream.recv_message()) is not None:
                        seen.append(answer.status)
                        if len(seen) == 1:
                            process.send_signal(signal.SIGTERM)
        except (GRPCError, StreamTerminatedError):
            pass  # the router closed the stream as it stopped: what it said before is the test
        finally:
            channel.close()
        return seen

    seen = asyncio.run(story())
    assert seen == [HealthCheckResponse.SERVING, HealthCheckResponse.NOT_SERVING]
    assert process.wait(20) == 0


async def on_a_standby(calls: Callable[[Channel], Awaitable[T]]) -> T:
    """Run ``calls`` against a standby's gRPC port on loopback (its leader is elsewhere)."""
    hint = LeaderHint("127.0.0.1:1", "127.0.0.1:2", 3)
    async with open_bridge() as bridge, trio.open_nursery() as nursery:
        settings = Settings(grpc_address="127.0.0.1:0")
        port = await nursery.start(serve_standby_grpc, bridge, hint, settings)

        async def on_the_loop() -> T:
            channel = Channel("127.0.0.1", port)
            try:
                return await calls(channel)
            finally:
                channel.close()

        try:
            return await bridge.call(on_the_loop)
        finally:
            nursery.cancel_scope.cancel()


async def test_a_standby_is_not_serving_and_still_described() -> None:
    async def calls(channel: Channel) -> None:
        assert await statuses(channel) == dict.fromkeys(EVERY, HealthCheckResponse.NOT_SERVING)
        names, file = await reflected(channel)
        assert_described(names, file)
        with pytest.raises(GRPCError) as caught:
            await router_grpc.AdminStub(channel).ListExchanges(pb.ListExchangesRequest())
        assert caught.value.status is Status.UNAVAILABLE
        assert "127.0.0.1:1" in (caught.value.message or "")

    await on_a_standby(calls)


async def test_open_streams_are_bounded_per_address_and_a_closed_one_frees_its_place() -> None:
    """Health and reflection need no token, so their long-lived calls are bounded: past
    MOST_OPEN_PER_SOURCE watches from one address a new one is refused at once; one that
    ends frees its place; unary Checks are not counted."""

    async def calls(channel: Channel) -> None:
        health = HealthStub(channel)
        held = []
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(MOST_OPEN_PER_SOURCE):
                stream = await stack.enter_async_context(health.Watch.open())
                await stream.send_message(HealthCheckRequest(service=""), end=True)
                assert (await stream.recv_message()) is not None
                held.append(stream)
            async with health.Watch.open() as refused:
                await refused.send_message(HealthCheckRequest(service=""), end=True)
                with pytest.raises(GRPCError) as caught:
                    await refused.recv_message()
            assert caught.value.status is Status.RESOURCE_EXHAUSTED
            assert "open streams" in (caught.value.message or "")
            assert (await statuses(channel))[""] == HealthCheckResponse.NOT_SERVING
            with pytest.raises(GRPCError) as caught:
                await reflected(channel)
            assert caught.value.status is Status.RESOURCE_EXHAUSTED
            for stream in held:
                await stream.cancel()  # a watch never ends by itself: the caller resets it
        async with asyncio.timeout(10):
            while True:  # each reset watch's handler ends on the router's loop soon after
                try:
                    names, _ = await reflected(channel)
                    break
                except GRPCError as error:
                    assert error.status is Status.RESOURCE_EXHAUSTED
                    await asyncio.sleep(0.05)  # a poll's pace: no sign says a place is free
        assert "router.v1.Admin" in names

    await on_a_standby(calls)
