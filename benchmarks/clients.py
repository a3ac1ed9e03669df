"""The client's conveniences against the plain calls they stand for, in one run on one router.

    python -m benchmarks.clients                      # 100,000 events, 3 s at 200/s
    python -m benchmarks.clients --events 20000 --seconds 2 --rate 200

- Latency of single publishes at a low rate (``--rate`` a second for ``--seconds``, each awaited
  beside the next): ``batching_publisher().publish(e)`` against ``publish([e])``, p50/p99 ms.
- Catch-up: ``--events`` stored events read from ``earliest`` by a plain ``consume()`` loop
  (``await event.ack()`` each), by ``RouterApp`` with its defaults, and by ``RouterApp`` with
  ``concurrency=16``, each as a subscriber of its own; seconds and the ratio to the plain loop.

A `router serve` process on a fresh SQLite file on loopback. Figures are printed, never
asserted. Bounded: every phase has a fixed count and a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable

from router.client import OutgoingEvent, ReceivedEvent, RouterClient
from router.client.app import RouterApp
from tests.helpers.server import ADMIN_TOKEN, RouterProcess

from .core import announce, publish_stream

DEADLINE_S = 60.0  # any one phase


async def single_publishes(
    publish: Callable[[OutgoingEvent], Awaitable[object]], rate: int, seconds: float
) -> tuple[float, float]:
    """``rate`` publishes a second for ``seconds``, each awaited in its own task; p50, p99 ms."""
    delays: list[float] = []

    async def one() -> None:
        began = time.perf_counter()
        await publish(OutgoingEvent("bench.event", b"x" * 200))
        delays.append((time.perf_counter() - began) * 1000)

    tasks = []
    started = time.perf_counter()
    for n in range(int(rate * seconds)):
        # the publishing rate under test: each send waits for its slot in the schedule
        await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
        tasks.append(asyncio.ensure_future(one()))
    await asyncio.wait_for(asyncio.gather(*tasks), DEADLINE_S)
    cuts = statistics.quantiles(delays, n=100)
    return cuts[49], cuts[98]


async def latency_rows(address: str, rate: int, seconds: float) -> None:
    async with RouterClient(address) as client:
        plain = await single_publishes(lambda e: client.publish([e]), rate, seconds)
        async with client.batching_publisher() as publisher:
            batched = await single_publishes(publisher.publish, rate, seconds)
    print(f"single publishes at {rate}/s for {seconds:g} s, latency ms (p50 / p99):")
    print(f"  publish([e])                   {plain[0]:6.2f} / {plain[1]:6.2f}")
    print(f"  batching_publisher().publish   {batched[0]:6.2f} / {batched[1]:6.2f}")


async def plain_loop(address: str, name: str, events: int) -> float:
    async with RouterClient(address) as client:
        began = time.perf_counter()
        got = 0
        async with client.consume("bench", name, "earliest") as consumer:
            async for event in consumer:
                await event.ack()
                got += 1
                if got >= events:
                    break
        return time.perf_counter() - began


async def app_run(address: str, name: str, events: int, concurrency: int) -> float:
    app = RouterApp(address)
    done = asyncio.Event()
    got = 0

    @app.subscriber("bench", name=name, start="earliest", concurrency=concurrency)
    async def handle(event: ReceivedEvent) -> None:
        nonlocal got
        got += 1
        if got >= events:
            done.set()

    began = time.perf_counter()
    running = asyncio.ensure_future(app.run())
    try:
        await asyncio.wait_for(done.wait(), DEADLINE_S)
        return time.perf_counter() - began
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def catch_up_rows(address: str, events: int) -> None:
    async with RouterClient(address) as client:
        await publish_stream(client, events)
    plain = await plain_loop(address, "plain", events)
    defaults = await app_run(address, "app", events, 1)
    wide = await app_run(address, "app16", events, 16)
    print(f"catch-up of {events:,} stored events, seconds (x the plain loop):")
    print(f"  consume() loop, ack each       {plain:6.2f}")
    print(f"  RouterApp, defaults            {defaults:6.2f} ({defaults / plain:.2f}x)")
    print(f"  RouterApp, concurrency=16      {wide:6.2f} ({wide / plain:.2f}x)")


async def run(address: str, args: argparse.Namespace) -> None:
    async with RouterClient(address) as client:
        await client.create_exchange("bench", ["bench.#"])
    await latency_rows(address, args.rate, args.seconds)
    await catch_up_rows(address, args.events)


def main() -> None:
    os.environ["ROUTER_TOKEN"] = ADMIN_TOKEN
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    announce("client conveniences against plain calls")
    with tempfile.TemporaryDirectory() as folder:
        router = RouterProcess(f"sqlite:///{folder}/bench.db", f"{folder}/router.log").start()
        try:
            asyncio.run(run(router.address, args))
        finally:
            router.stop()


if __name__ == "__main__":
    main()
