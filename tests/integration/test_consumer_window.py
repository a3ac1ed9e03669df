"""An exclusive consumer's window over real gRPC: a slow consumer of a backlog is sent no more
than its window ahead of it, so a short ack_wait does not send again what it has not read."""

from __future__ import annotations

import asyncio

from router._proto.router.v1 import router_pb2 as pb
from router.client import OutgoingEvent, RouterClient
from tests.helpers.server import RouterProcess

EVENTS = 300


def test_a_slow_consumer_of_a_backlog_with_a_short_ack_wait_gets_each_event_once(
    sqlite_url: str, tmp_path: object
) -> None:
    """300 events handled at about 100 a second take 3 s, past an ack_wait of 2 s; with a window
    of 20 each event waits about 0.2 s between its sending and its ack."""

    async def story(address: str) -> None:
        async with RouterClient(address) as client:
            await client.create_exchange("orders", ["order.*"])
            await client.publish(
                [OutgoingEvent("order.created", f"{n}".encode()) for n in range(EVENTS)]
            )
            got: list[tuple[int, int]] = []
            settings = pb.SubscriberSettings(ack_wait_s=2)
            async with client.consume(
                "orders", "billing", "earliest", settings=settings, prefetch=20
            ) as consumer:
                async for event in consumer:
                    got.append((event.offset, event.delivery_count))
                    await asyncio.sleep(0.01)  # a slow handler: about 100 events a second
                    await event.ack()
                    if event.offset == EVENTS:
                        break
                (found,) = await client.list_subscribers("orders", "billing")  # still attached
            assert got == [(offset, 1) for offset in range(1, EVENTS + 1)]
            assert found.redelivered == 0
            assert found.unsettled <= 20

    router = RouterProcess(sqlite_url, f"{tmp_path}/router.log").start()
    try:
        asyncio.run(story(router.address))
    finally:
        router.stop()
