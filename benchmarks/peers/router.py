"""The router, on SQLite or PostgreSQL, through its own client (`router.client`)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import uuid

from benchmarks.core import (
    drain,
    drop_schema,
    end_to_end,
    latency,
    postgres_url,
    publish_stream,
    random_id,
)
from benchmarks.peers import onecall, workqueue
from benchmarks.peers.common import (
    FAN_OUT,
    SUBSCRIBERS,
    V4_PUBLISH,
    Figures,
    Progress,
    latencies,
    memory_figures,
)
from router.client import RouterClient
from tests.helpers.report import rss_mb
from tests.helpers.server import RouterProcess


async def figures(
    name: str, address: str, pid: int, events: int, backlog: int, work_events: int
) -> Figures:
    async with RouterClient(address) as client:
        await client.create_exchange("bench", ["bench.#"])
        out = Progress(name)
        out["publish"] = events / await publish_stream(client, events)
        out[V4_PUBLISH] = events / await publish_stream(client, events, make_id=random_id)
        out["end to end"] = events / await end_to_end(client, events)
        out["fan-out x10"] = events / await fan_out(client, events)
        out.update(await latencies(functools.partial(latency, client)))
        out.update(await onecall.router_figures(client, pid))
        out.update(await memory(address, pid, SUBSCRIBERS))
        await publish_stream(client, backlog)
        stored = (await client.stats()).last_seq  # all of it is in exchange "bench"
        out["catch-up"] = stored / await drain(client, "away", stored, "earliest")
        if work_events:
            await workqueue.router_figures(client, work_events, out)
    return out


async def fan_out(client: RouterClient, events: int) -> float:
    """Seconds until 10 durable subscribers of the same exchange all have ``events`` new ones."""

    async def follow(subscription: object) -> None:
        got = 0
        async for received in subscription:  # type: ignore[attr-defined]
            got += len(received)
            await subscription.ack(received[-1].offset)  # type: ignore[attr-defined]
            if got >= events:
                return

    async with contextlib.AsyncExitStack() as stack:
        subscriptions = [
            await stack.enter_async_context(client.subscribe("bench", f"fan{i}", "latest"))
            for i in range(FAN_OUT)
        ]
        began = time.perf_counter()
        await asyncio.gather(publish_stream(client, events), *map(follow, subscriptions))
        return time.perf_counter() - began


async def memory(address: str, pid: int, count: int) -> Figures:
    """RSS with ``count`` durable subscribers attached, then with all of them asleep."""
    async with RouterClient(address) as admin:
        await admin.create_exchange("many", ["many.#"])
        before = rss_mb(pid)
        # HTTP/2 carries up to 100 streams per connection: 80 per client here.
        clients = [RouterClient(address) for _ in range((count + 79) // 80)]
        try:
            async with contextlib.AsyncExitStack() as stack:
                for i in range(count):
                    await stack.enter_async_context(
                        clients[i // 80].subscribe("many", f"m{i}", "latest")
                    )
                attached = rss_mb(pid)
            asleep = rss_mb(pid)
        finally:
            for client in clients:
                client.close()
    return memory_figures(before, attached, asleep, count)


def run(kind: str, events: int, backlog: int, folder: str, work_events: int = 0) -> Figures:
    """A fresh `router serve` on a fresh database of ``kind`` (sqlite or postgres)."""
    schema = None
    if kind == "sqlite":
        url = f"sqlite:///{folder}/peers-{uuid.uuid4().hex[:6]}.db"
    else:
        url, schema = postgres_url()
    router = RouterProcess(url, f"{folder}/router-{kind}.log").start()
    assert router.process is not None
    try:
        return asyncio.run(
            figures(
                f"router {kind}", router.address, router.process.pid, events, backlog, work_events
            )
        )
    finally:
        router.stop(60)
        if schema:
            drop_schema(schema)
