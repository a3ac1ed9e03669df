"""A Subscribe stream that ends on a message refused as it is read, seen from inside: the real
Router and SubscriberService behind a ClosingServer on loopback in this process, driven by raw
HTTP/2 frames from a thread (tests/helpers/h2raw), so that the client can hold the router back
with its flow-control window. tests/faults/test_hostile_transport.py sends the same refusals
to a router process."""

from __future__ import annotations

import asyncio
import uuid

import h2.events
import pytest
from grpclib.const import Status

from router._proto.router.v1 import router_pb2 as pb
from router.app import open_router
from router.bridge import open_bridge
from router.core.model import NewEvent
from router.core.settings import Settings
from router.grpc.connections import ConnectionLimits
from router.grpc.server import ClosingServer, Codec, bound_port, close_server
from router.grpc.subscribe import SubscriberService
from tests.helpers.h2raw import RawH2, message_prefix

SUBSCRIBE = "/router.v1.Subscriber/Subscribe"
WINDOW = 65_535  # HTTP/2's initial window, the stream's and the connection's: RawH2 opens no more
START = pb.SubscribeRequest(
    start=pb.SubscribeStart(
        exchange="orders", subscriber="held", start=pb.StartPoint(kind=pb.StartPoint.EARLIEST)
    )
).SerializeToString()
HEARTBEAT = pb.SubscribeRequest(heartbeat=pb.Heartbeat()).SerializeToString()


def received(client: RawH2, stream_id: int) -> int:
    """The bytes of DATA the router sent on the stream (all counted against the window)."""
    return sum(
        e.flow_controlled_length
        for e in client.events
        if isinstance(e, h2.events.DataReceived) and e.stream_id == stream_id
    )


def refused_once_held_back(address: str, refused: bytes) -> tuple[str | None, str | None]:
    """Start a subscription, take nothing until the router has filled the window with
    deliveries (it waits, with more to send), then send ``refused``: the status the stream ends
    with, read without opening the window."""
    client = RawH2(address)
    try:
        stream_id = client.headers(SUBSCRIBE)
        client.data(stream_id, message_prefix(len(START)) + START)
        client.flush()
        client.read(10, until=lambda: received(client, stream_id) >= WINDOW)
        assert received(client, stream_id) == WINDOW
        client.data(stream_id, refused)
        client.flush()
        return client.status(stream_id)
    finally:
        client.close()


@pytest.mark.parametrize(
    ("refused", "status", "words"),
    [
        (
            message_prefix(len(HEARTBEAT), compressed=True) + HEARTBEAT,
            Status.UNIMPLEMENTED,
            "compressed messages are not accepted",
        ),
        (
            message_prefix(4) + b"\xff\xff\xff\xff",
            Status.INVALID_ARGUMENT,
            "not a valid router.v1.SubscribeRequest",
        ),
        (message_prefix(len(START)) + START, Status.INVALID_ARGUMENT, "expected an ack"),
    ],
    ids=["compressed", "not-protobuf", "second-start"],
)
async def test_a_refusal_ends_a_stream_the_clients_window_holds_back(
    sqlite_url: str, refused: bytes, status: Status, words: str
) -> None:
    """The refusal's status comes at once, though the deliveries still to send wait for a
    window the client will not open before it has its status (trailers are not held back by
    flow control): it used to wait there for good, and the client got no status."""
    async with (
        open_router(Settings(db_url=sqlite_url, auth=False)) as router,
        open_bridge() as bridge,
    ):
        await router.create_exchange("orders", ["order.#"])
        await router.publish(
            [NewEvent(str(uuid.uuid4()), "order.paid", b"z" * 2048) for _ in range(100)]
        )

        async def on_the_loop() -> tuple[str | None, str | None]:
            service = SubscriberService(router, bridge)
            server = ClosingServer(
                [service], codec=Codec(), limits=ConnectionLimits.of(router.settings)
            )
            await server.start("127.0.0.1", 0)
            try:
                address = f"127.0.0.1:{bound_port(server, 0)}"
                return await asyncio.to_thread(refused_once_held_back, address, refused)
            finally:
                await close_server(server)

        got, message = await bridge.call(on_the_loop)
    assert got == str(status.value), (got, message)
    assert message is not None and words in message
