"""The client from Trio programs: the asyncio client run on a trio-asyncio loop, crossed per call.

    import trio
    from router.client import OutgoingEvent
    from router.client.trio import open_client

    async def main() -> None:
        async with open_client("127.0.0.1:50051") as client:
            await client.publish([OutgoingEvent("order.created", b"{}")])
            async with client.consume("orders", "billing", start="earliest") as consumer:
                async for event in consumer:
                    print(event.offset, event.type)
                    await consumer.ack(event)

    trio.run(main)

Each call crosses between Trio and asyncio once (batches of events, not single events, cross).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import trio_asyncio

from router._proto.router.v1 import router_pb2 as pb
from router.client import (
    OutgoingEvent,
    PublishReceipt,
    ReceivedEvent,
    RouterClient,
    SubscriberSettings,
)
from router.client.consumer import DurableConsumer


@asynccontextmanager
async def open_client(
    address: str = "127.0.0.1:50051",
    token: str | None = None,
    tls: bool | str | ssl.SSLContext | None = None,
) -> AsyncIterator[TrioRouterClient]:
    async with trio_asyncio.open_loop():
        client = RouterClient(address, token, tls)
        try:
            yield TrioRouterClient(client)
        finally:
            client.close()


class TrioRouterClient:
    """The client's calls for Trio code, each crossing to asyncio once.

    async with open_client("127.0.0.1:50051") as client:
        await client.publish([OutgoingEvent("order.created", b"{}")])
    """

    def __init__(self, client: RouterClient) -> None:
        self.aio = client  # the asyncio client, for calls not wrapped here (use aio_as_trio)

    async def publish(
        self, events: Sequence[OutgoingEvent], timeout: float = 30
    ) -> list[PublishReceipt]:
        result: list[PublishReceipt] = await trio_asyncio.aio_as_trio(self.aio.publish)(
            events, timeout
        )
        return result

    async def create_exchange(self, name: str, patterns: Sequence[str]) -> pb.Exchange:
        result: pb.Exchange = await trio_asyncio.aio_as_trio(self.aio.create_exchange)(
            name, patterns
        )
        return result

    async def list_exchanges(self) -> list[pb.Exchange]:
        result: list[pb.Exchange] = await trio_asyncio.aio_as_trio(self.aio.list_exchanges)()
        return result

    async def delete_exchange(self, name: str) -> None:
        await trio_asyncio.aio_as_trio(self.aio.delete_exchange)(name)

    async def call(self, method: str, *args: Any) -> Any:
        """Any other call of :class:`RouterClient` by name, e.g. ``call("list_subscribers")``."""
        return await trio_asyncio.aio_as_trio(getattr(self.aio, method))(*args)

    @asynccontextmanager
    async def consume(
        self,
        exchange: str,
        name: str,
        start: str = "stored",
        limit_size: int = 0,
        *,
        settings: SubscriberSettings | None = None,
    ) -> AsyncIterator[TrioConsumer]:
        """A :class:`DurableConsumer` (reconnects, resumes) for Trio code; ``start`` and
        ``settings`` apply when it creates the subscriber (see RouterClient.consume)."""
        consumer = DurableConsumer(self.aio, exchange, name, start, limit_size, settings=settings)
        await trio_asyncio.aio_as_trio(consumer.__aenter__)()
        try:
            yield TrioConsumer(consumer)
        finally:
            await trio_asyncio.aio_as_trio(consumer.__aexit__)(None, None, None)


class TrioConsumer:
    def __init__(self, consumer: DurableConsumer) -> None:
        self.aio = consumer

    def __aiter__(self) -> TrioConsumer:
        return self

    async def __anext__(self) -> ReceivedEvent:
        event: ReceivedEvent = await trio_asyncio.aio_as_trio(self.aio.__anext__)()
        return event

    async def ack(self, event: ReceivedEvent) -> None:
        await trio_asyncio.aio_as_trio(self.aio.ack)(event)
