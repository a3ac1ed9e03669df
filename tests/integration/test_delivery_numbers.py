"""The numbers of the wire contract, as a consumer reads them off the wire (the raw gRPC
messages and the REST API): a delivery's count, the redelivered figure and where a stream
starts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
from grpclib.client import Channel, Stream

from router._proto.router.v1 import router_grpc
from router._proto.router.v1 import router_pb2 as pb
from router.client import OutgoingEvent, RouterClient
from tests.helpers.server import ADMIN_TOKEN, RouterProcess, running_router

EARLIEST = pb.StartPoint(kind=pb.StartPoint.EARLIEST)
Subscribing = Stream[pb.SubscribeRequest, pb.SubscribeResponse]


@pytest.fixture
def router(db_url: str, tmp_path: object) -> Iterator[RouterProcess]:
    with running_router(db_url, str(tmp_path), "--consumer-timeout", "5") as process:
        yield process


@asynccontextmanager
async def subscribed(
    router: RouterProcess, name: str, start: pb.StartPoint = EARLIEST
) -> AsyncIterator[tuple[Subscribing, pb.Subscribed]]:
    """A raw Subscribe stream of ``name`` on ``orders``, and its Subscribed message."""
    host, port = router.address.split(":")
    channel = Channel(host, int(port))
    try:
        stub = router_grpc.SubscriberStub(channel)
        metadata = {"authorization": f"Bearer {ADMIN_TOKEN}"}
        async with stub.Subscribe.open(metadata=metadata, timeout=30) as stream:
            first = pb.SubscribeStart(exchange="orders", subscriber=name, start=start)
            await stream.send_message(pb.SubscribeRequest(start=first))
            answer = await stream.recv_message()
            assert answer is not None and answer.WhichOneof("body") == "subscribed"
            yield stream, answer.subscribed
            await stream.end()  # leaves: the router ends the stream once the subscriber sleeps
            async with asyncio.timeout(20):
                while await stream.recv_message() is not None:
                    pass

    finally:
        channel.close()


async def deliveries(stream: Subscribing) -> list[tuple[int, int]]:
    """(offset, delivery_count) of the next batch as protobuf reads it off the wire."""
    async with asyncio.timeout(20):
        while True:
            answer = await stream.recv_message()
            assert answer is not None
            if answer.WhichOneof("body") == "batch":
                return [(d.offset, d.delivery_count) for d in answer.batch.deliveries]


async def publish(client: RouterClient, count: int) -> None:
    await client.publish([OutgoingEvent("order.created", b"{}") for _ in range(count)])


def test_a_first_delivery_counts_1_on_grpc_and_rest_and_a_second_2(
    router: RouterProcess,
) -> None:
    async def story() -> None:
        async with RouterClient(router.address, token=ADMIN_TOKEN) as client:
            await client.create_exchange("orders", ["#"])
            await publish(client, 2)
            async with subscribed(router, "billing") as (stream, _):
                assert await deliveries(stream) == [(1, 1), (2, 1)]
                nack = pb.SubscribeNack(offset=2, delay_s=0)
                await stream.send_message(pb.SubscribeRequest(nack=nack))
                assert await deliveries(stream) == [(2, 2)]
        async with httpx.AsyncClient(
            base_url=router.http, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}
        ) as http:
            pulled = await http.get(
                "/v1/exchanges/orders/subscribers/shipping/events", params={"from": "earliest"}
            )
            assert pulled.status_code == 200, pulled.text
            assert [(e["offset"], e["delivery_count"]) for e in pulled.json()["events"]] == [
                (1, 1),
                (2, 1),
            ]

    asyncio.run(story())


def test_start_offset_is_where_the_stream_reads_from_not_always_the_first_delivered(
    router: RouterProcess,
) -> None:
    """A resumed subscriber's stream reads from its cursor + 1; what is settled above the cursor
    or nacked with a delay still to run is not delivered, so the first delivery is further on."""

    async def story() -> None:
        async with RouterClient(router.address, token=ADMIN_TOKEN) as client:
            await client.create_exchange("orders", ["#"])
            await publish(client, 3)
            async with subscribed(router, "billing") as (stream, started):
                assert started.start_offset == 1
                assert await deliveries(stream) == [(1, 1), (2, 1), (3, 1)]
                nack = pb.SubscribeNack(offset=1, delay_s=3600)
                await stream.send_message(pb.SubscribeRequest(nack=nack))
                settle = pb.SubscribeSettle(acks=[pb.OffsetRange(first=2)])
                await stream.send_message(pb.SubscribeRequest(settle=settle))
            stored = pb.StartPoint(kind=pb.StartPoint.STORED)
            async with subscribed(router, "billing", stored) as (stream, started):
                assert started.start_offset == 1  # the cursor: nothing is acked up to 1
                assert await deliveries(stream) == [(3, 2)]  # 1 waits its hour, 2 is settled

    asyncio.run(story())
