"""The client's publishing calls alone, on a router in memory: what a publish sends and how its
receipts come back, and the raw publish stream across a failover."""

from __future__ import annotations

import asyncio

import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from router._proto.router.v1 import router_pb2 as pb
from router.client.publisher import Publisher
from router.client.publishing import PublishCalls
from router.client.tracing import ClientTracing
from router.client.values import OutgoingEvent, PublishReceipt
from tests.helpers.fake_routers import FakeConnection, FakeOpened, FakeStream, FakeStub


class Publishing(PublishCalls):
    def __init__(self, connection: FakeConnection) -> None:
        self._connection = connection
        self.tracing = ClientTracing()


def acked(request: pb.PublishRequest) -> pb.PublishResponse:
    return pb.PublishResponse(
        acks=[
            pb.EventAck(
                id=e.id, seq=n + 1, offsets=[pb.ExchangeOffset(exchange="orders", offset=n)]
            )
            for n, e in enumerate(request.events)
        ]
    )


def test_a_publish_sends_its_events_with_the_token_and_returns_their_acks() -> None:
    publisher = FakeStub(Publish=acked)
    calls = Publishing(FakeConnection("a:1", {"a:1": {"publisher": publisher}}, token="t"))
    events = [OutgoingEvent("order.created", b"1"), OutgoingEvent("order.paid", b"2")]
    found = asyncio.run(calls.publish(events, timeout=5))
    assert found == [
        PublishReceipt(events[0].id, 1, False, {"orders": 0}),
        PublishReceipt(events[1].id, 2, False, {"orders": 1}),
    ]
    ((_, request, options),) = publisher.calls
    assert [(e.type, e.payload) for e in request.events] == [
        ("order.created", b"1"),
        ("order.paid", b"2"),
    ]
    assert options == {"timeout": 5, "metadata": {"authorization": "Bearer t"}}


def test_the_publish_stream_opens_on_the_router_that_is_there() -> None:
    stream = FakeStream()
    publisher = FakeStub()
    publisher.streams["PublishStream"] = [FakeOpened(stream)]
    connection = FakeConnection("a:1,b:2", {"b:2": {"publisher": publisher}})

    async def story() -> None:
        async with Publishing(connection).publish_stream() as opened:
            found: object = opened
            assert found is stream

    asyncio.run(story())
    assert connection.address == "b:2" and publisher.streams["PublishStream"] == []


def test_a_publish_stream_reset_by_a_standby_raises_its_status_and_moves_to_the_leader() -> None:
    hint = GRPCError(Status.UNAVAILABLE, "standby: the leader (epoch 2) is at c:3")
    publisher = FakeStub()
    publisher.streams["PublishStream"] = [FakeOpened(FakeStream(), told=hint)]
    connection = FakeConnection("a:1", {"a:1": {"publisher": publisher}})

    async def story() -> None:
        async with Publishing(connection).publish_stream():
            raise ConnectionResetError("reset")

    with pytest.raises(GRPCError) as raised:
        asyncio.run(story())
    assert raised.value is hint and connection.address == "c:3"


def test_the_batching_publisher_publishes_through_these_calls() -> None:
    calls = Publishing(FakeConnection("a:1", {"a:1": {"publisher": FakeStub(Publish=acked)}}))
    batching = calls.batching_publisher(max_batch=10, linger_s=0.0)
    assert isinstance(batching, Publisher)

    events = [OutgoingEvent("order.created", b"{}") for _ in range(3)]

    async def story() -> list[PublishReceipt]:
        async with batching:
            return list(await asyncio.gather(*(batching.publish(e) for e in events)))

    assert [ack.id for ack in asyncio.run(story())] == [e.id for e in events]  # each its own
