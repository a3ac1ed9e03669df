"""A consumer service in the decorator style: acked when the handler returns.

ROUTER_ADDR=127.0.0.1:50051 ROUTER_TOKEN=... python docs/examples/app.py
"""

import asyncio
import os

from router.client import OutgoingEvent, ReceivedEvent, RouterClient
from router.client.app import RouterApp

app = RouterApp(os.environ.get("ROUTER_ADDR", "127.0.0.1:50051"))
finished = asyncio.Event()


# start="earliest" applies when the subscriber is created: run again, the app resumes after
# what it handled last time (`router subscriber reset examples app --to earliest` to re-read).
@app.subscriber("examples", name="app", start="earliest")
async def greet(event: ReceivedEvent) -> None:
    print("handled", event.offset, event.type, event.payload.decode())
    if event.type == "example.bye":
        finished.set()


async def main() -> None:
    async with RouterClient(app.address) as client:
        if "examples" not in [e.name for e in await client.list_exchanges()]:
            await client.create_exchange("examples", ["example.#"])
        await client.publish(
            [OutgoingEvent("example.hello", b'"hi"'), OutgoingEvent("example.bye")]
        )
    running = asyncio.ensure_future(app.run())
    await finished.wait()
    running.cancel()


asyncio.run(main())
