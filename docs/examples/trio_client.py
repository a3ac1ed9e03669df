"""The same from a Trio program: publish three events, consume them, ack.

ROUTER_ADDR=127.0.0.1:50051 ROUTER_TOKEN=... python docs/examples/trio_client.py
"""

import os

import trio

from router.client import OutgoingEvent
from router.client.trio import open_client


async def main() -> None:
    async with open_client(os.environ.get("ROUTER_ADDR", "127.0.0.1:50051")) as client:
        if "examples" not in [e.name for e in await client.list_exchanges()]:
            await client.create_exchange("examples", ["example.#"])
        acks = await client.publish([OutgoingEvent("example.tick", b"{}") for _ in range(3)])
        last = acks[-1].offsets["examples"]
        async with client.consume("examples", "trio", start="earliest") as consumer:
            async for event in consumer:
                print("received", event.offset, event.type)
                await consumer.ack(event)
                if event.offset >= last:
                    break


trio.run(main)
