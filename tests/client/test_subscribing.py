"""The client's subscribing calls alone, on a router in memory: attaching a stream (on the
router that is there), leaving it, a stream ended at once, and the consumer ``consume`` makes."""

from __future__ import annotations

import asyncio

import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from router._proto.router.v1 import router_pb2 as pb
from router.client.consumer import DurableConsumer
from router.client.settings import SubscriberSettings
from router.client.subscribing import SubscribeCalls
from router.client.values import start_point
from tests.helpers.fake_routers import FakeConnection, FakeOpened, FakeStream, FakeStub

ATTACHED = pb.SubscribeResponse(subscribed=pb.Subscribed(queue_id="q1", start_offset=3))


class Subscribing(SubscribeCalls):
    def __init__(self, connection: FakeConnection) -> None:
        self._connection = connection


def router_with(*streams: FakeStream) -> tuple[FakeStub, list[FakeOpened]]:
    subscriber = FakeStub()
    subscriber.streams["Subscribe"] = [FakeOpened(stream) for stream in streams]
    return subscriber, list(subscriber.streams["Subscribe"])


def test_a_subscription_attaches_on_the_router_that_is_there_and_leaves_cleanly() -> None:
    stream = FakeStream(answers=[ATTACHED])
    subscriber, (opened,) = router_with(stream)
    connection = FakeConnection("a:1,b:2", {"b:2": {"subscriber": subscriber}})
    settings = SubscriberSettings(max_deliveries=3)

    async def story() -> None:
        calls = Subscribing(connection)
        async with calls.subscribe("orders", "billing", "earliest", settings=settings) as joined:
            assert (joined.queue_id, joined.start_offset) == ("q1", 3)

    asyncio.run(story())
    (request,) = stream.sent
    assert request.start.exchange == "orders" and request.start.subscriber == "billing"
    assert request.start.start == start_point("earliest") and request.start.start_if_new
    assert request.start.settings.max_deliveries == 3
    assert stream.ended and opened.exits == [None]  # left: half-closed, then closed


def test_a_stream_ended_without_a_word_is_unavailable() -> None:
    subscriber, (opened,) = router_with(FakeStream())
    connection = FakeConnection("a:1", {"a:1": {"subscriber": subscriber}})

    async def story() -> None:
        async with Subscribing(connection).subscribe("orders", "billing"):
            pass

    with pytest.raises(GRPCError) as raised:
        asyncio.run(story())
    assert raised.value.status is Status.UNAVAILABLE and "ended at once" in str(
        raised.value.message
    )
    assert len(opened.exits) == 1 and opened.exits[0] is raised.value


def test_a_stream_the_router_ends_raises_the_status_it_ended_with() -> None:
    refused = GRPCError(Status.PERMISSION_DENIED, "grant revoked")
    stream = FakeStream(answers=[ATTACHED])
    subscriber = FakeStub()
    opened = FakeOpened(stream, told=refused)
    subscriber.streams["Subscribe"] = [opened]
    connection = FakeConnection("a:1", {"a:1": {"subscriber": subscriber}})

    async def story() -> None:
        async with Subscribing(connection).subscribe("orders", "billing"):
            raise ConnectionResetError("reset")

    with pytest.raises(GRPCError) as raised:
        asyncio.run(story())
    assert raised.value is refused


def test_consume_makes_a_durable_consumer_of_these_calls() -> None:
    calls = Subscribing(FakeConnection("a:1", {}))
    consumer = calls.consume("orders", "billing", "latest", 50, shared=True, prefetch=7)
    assert isinstance(consumer, DurableConsumer)
    assert (consumer.exchange, consumer.name, consumer.limit_size) == ("orders", "billing", 50)
    assert consumer.prefetch == 7


def test_a_consumer_made_here_hands_out_events_one_by_one_and_acks_them_as_ranges() -> None:
    batch = pb.EventBatch(
        deliveries=[pb.Delivery(offset=o, event=pb.Event(id=f"e{o}", type="t")) for o in (1, 2)]
    )
    stream = FakeStream(answers=[ATTACHED, pb.SubscribeResponse(batch=batch)])
    subscriber, _ = router_with(stream)
    calls = Subscribing(FakeConnection("a:1", {"a:1": {"subscriber": subscriber}}))

    async def story() -> list[int]:
        seen = []
        async with calls.consume("orders", "billing", "earliest") as events:
            for _ in range(2):
                event = await events.__anext__()
                seen.append(event.offset)
                await events.ack(event)
        return seen

    assert asyncio.run(story()) == [1, 2]
    attach, settle = stream.sent
    assert attach.start.start == start_point("earliest")
    assert settle == pb.SubscribeRequest(
        settle=pb.SubscribeSettle(acks=[pb.OffsetRange(first=1, last=2)])
    )
