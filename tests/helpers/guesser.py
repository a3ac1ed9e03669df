"""A token guesser, run as its own process by the fault suite: unary calls with random tokens at a
fixed rate over a few connections, for a fixed time; prints what came back as one JSON line.

    python -m tests.helpers.guesser HOST:PORT SECONDS RATE
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import time
from collections import Counter

from grpclib.client import Channel
from grpclib.exceptions import GRPCError

from router._proto.router.v1 import router_grpc
from router._proto.router.v1 import router_pb2 as pb

CONNECTIONS = 4


async def guess(address: str, seconds: float, rate: int) -> Counter[str]:
    host, port = address.rsplit(":", 1)
    channels = [Channel(host, int(port)) for _ in range(CONNECTIONS)]
    outcomes: Counter[str] = Counter()
    request = pb.PublishRequest(events=[pb.Event(type="order.created", payload=b"{}")])

    async def one(number: int) -> None:
        stub = router_grpc.PublisherStub(channels[number % CONNECTIONS])
        token = f"rtr_{secrets.token_hex(4)}_{secrets.token_urlsafe(24)}"
        try:
            await stub.Publish(request, metadata={"authorization": f"Bearer {token}"}, timeout=10)
            outcomes["let in"] += 1
        except GRPCError as error:
            outcomes[error.status.name] += 1
        except (TimeoutError, OSError) as error:
            outcomes[type(error).__name__] += 1

    began = time.perf_counter()
    total = int(seconds * rate)
    tasks = []
    for number in range(total):
        delay = began + number / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing to the fixed rate under test
        tasks.append(asyncio.ensure_future(one(number)))
    await asyncio.gather(*tasks)
    for channel in channels:
        channel.close()
    outcomes["seconds"] = round(time.perf_counter() - began)
    return outcomes


if __name__ == "__main__":
    address, seconds, rate = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    print(json.dumps(asyncio.run(guess(address, seconds, rate))))
