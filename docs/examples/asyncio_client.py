"""Publish three events and read them back as durable subscriber "example" (asyncio).

ROUTER_ADDR=127.0.0.1:50051 ROUTER_TOKEN=... python docs/examples/asyncio_client.py
"""

import asyncio
import os

from router.client import OutgoingEvent, RouterClient
from router.client.consumer import DurableConsumer


async def main() -> None:
    async with RouterClient(os.environ.get("ROUTER_ADDR", "127.0.0.1:50051")) as client:
        if "examples" not in [e.name for e in await client.list_exchanges()]:
            await client.create_exchange("examples", ["example.#"])
        acks = await client.publish(
            [OutgoingEvent("example.greeting", f'{{"n": {n}}}'.encode()) for n in range(3)]
        )
        print("published", [a.offsets["examples"] for a in acks])
        async with DurableConsumer(client, "examples", "asyncio", start="earliest") as consumer:
            async for event in consumer:
                print("received", event.offset, event.type, event.payload.decode())
                await consumer.ack(event)
                if event.offset >= acks[-1].offsets["examples"]:
                    break


asyncio.run(main())
