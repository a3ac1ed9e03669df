"""How the router's long streams end, over real gRPC against a real ``router serve``: on SIGTERM
an open Subscribe and an open PublishStream each get UNAVAILABLE saying the router is stopping
(not a dropped connection), and a Subscribe stream that never sends its start is ended."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from typing import Any
from urllib.parse import unquote

import attrs
import pytest
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import GRPCError, ProtocolError, StreamTerminatedError

from router._proto.router.v1 import router_grpc
from router._proto.router.v1 import router_pb2 as pb
from router.client import OutgoingEvent, RouterClient
from router.grpc.stopping import LEADER_TRAILER, next_router
from router.observe.stats import Cluster, RouterNode
from tests.helpers.server import ADMIN_TOKEN, RouterProcess, running_router

AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}
STORED = pb.StartPoint(kind=pb.StartPoint.STORED)


@pytest.fixture
def router(sqlite_url: str, tmp_path: object) -> Any:
    with running_router(sqlite_url, str(tmp_path), "--grpc-start-timeout", "1s") as process:
        yield process


def channel_to(router: RouterProcess) -> Channel:
    host, port = router.address.rsplit(":", 1)
    return Channel(host, int(port))


def test_sigterm_ends_open_subscribe_and_publish_streams_with_unavailable(
    router: RouterProcess,
) -> None:
    process = router.process
    assert process is not None

    async def story() -> list[tuple[Status, str, dict[str, str]]]:
        async with RouterClient(router.address) as client:
            await client.create_exchange("orders", ["#"])
        channel = channel_to(router)
        subscriber = router_grpc.SubscriberStub(channel)
        publisher = router_grpc.PublisherStub(channel)
        ends = []
        try:
            async with (
                subscriber.Subscribe.open(metadata=AUTH) as subscribe,
                publisher.PublishStream.open(metadata=AUTH) as publish,
            ):
                start = pb.SubscribeStart(exchange="orders", subscriber="billing", start=STORED)
                await subscribe.send_message(pb.SubscribeRequest(start=start))
                first = await subscribe.recv_message()
                assert first is not None and first.HasField("subscribed")
                event = OutgoingEvent("order.created", b"{}").to_pb()
                await publish.send_message(pb.PublishRequest(events=[event]))
                answered = await publish.recv_message()
                assert answered is not None and len(answered.acks) == 1
                process.send_signal(signal.SIGTERM)
                async with asyncio.timeout(20):
                    ends = [await _end_of(subscribe), await _end_of(publish)]
        except (GRPCError, ProtocolError):
            pass  # the calls' ends raised again as they close: read above
        finally:
            channel.close()
        return ends

    ends = asyncio.run(story())
    for status, message, trailers in ends:
        assert status is Status.UNAVAILABLE, (status, message)
        assert "router: stopping" in message, message
        assert LEADER_TRAILER not in trailers  # a single router knows no other to name
    assert process.wait(20) == 0


async def _end_of(stream: Any) -> tuple[Status, str, dict[str, str]]:
    """How a stream the client has not half-closed ends: its status, message and trailers, read
    from what the server sent (grpclib's client reads a status itself only once its own side
    has ended; a call ended before its first message has the status in its only headers)."""
    with contextlib.suppress(ProtocolError, GRPCError, StreamTerminatedError):
        while await stream.recv_message() is not None:
            pass
    trailers = dict(stream._stream.trailers or stream._stream.headers or ())
    code = trailers.get("grpc-status")
    assert code is not None, f"no status: {trailers}"  # a dropped connection has none
    return Status(int(code)), unquote(trailers.get("grpc-message", "")), trailers


def test_a_subscribe_stream_without_its_start_is_ended_naming_the_start(
    router: RouterProcess,
) -> None:
    async def story() -> tuple[tuple[Status, str, dict[str, str]], float]:
        channel = channel_to(router)
        began = time.monotonic()
        ended = None
        try:
            async with router_grpc.SubscriberStub(channel).Subscribe.open(metadata=AUTH) as stream:
                await stream.send_request()  # the call's headers, and no message after them
                async with asyncio.timeout(20):
                    ended = await _end_of(stream)
        except (GRPCError, ProtocolError):
            pass  # its end raised again as it closes: read above
        finally:
            channel.close()
        assert ended is not None
        return ended, time.monotonic() - began

    (status, message, _), took_s = asyncio.run(story())
    assert status is Status.INVALID_ARGUMENT, (status, message)
    assert message.startswith("start: no start message within 1 s"), message
    assert 0.9 <= took_s < 10, took_s


def test_the_router_named_on_stopping_is_another_known_one_or_none() -> None:
    def node(name: str, grpc: str, leading: bool) -> RouterNode:
        return RouterNode(name, grpc, "", leading, 0.0)

    assert next_router(None) == ""
    alone = Cluster("a", 1, (node("a", "10.0.0.1:50051", True),), "db:5432")
    assert next_router(alone) == ""
    paired = attrs.evolve(alone, routers=(*alone.routers, node("b", "10.0.0.2:50051", False)))
    assert next_router(paired) == "10.0.0.2:50051"
