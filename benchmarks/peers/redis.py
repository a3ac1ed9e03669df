"""Redis Streams through redis-py: XADD pipelined WINDOW a round trip, XREADGROUP COUNT WINDOW
with one XACK per read. This Redis keeps nothing on disk: it is not durable here."""

from __future__ import annotations

import asyncio
import functools
import uuid
from typing import Any

from benchmarks.core import Percentiles
from benchmarks.peers.common import (
    FAN_OUT,
    LATENCY_EVENTS,
    PAYLOAD,
    SUBSCRIBERS,
    WINDOW,
    Figures,
    Progress,
    Stamps,
    latencies,
    memory_figures,
    paced,
    server_rss,
    timed,
)


async def figures(events: int, backlog: int) -> Figures:
    import redis.asyncio as aioredis

    key = f"peers:{uuid.uuid4().hex[:8]}"
    client = aioredis.Redis(host="127.0.0.1", port=6379)

    async def publish(count: int) -> None:
        for start in range(0, count, WINDOW):
            pipe = client.pipeline(transaction=False)
            for _ in range(min(WINDOW, count - start)):
                pipe.xadd(key, {"p": PAYLOAD})
            await pipe.execute()

    try:
        out = Progress("redis")
        out["publish"] = events / await timed(publish(events))
        await client.xgroup_create(key, "e2e", id="$")
        out["end to end"] = events / await timed(
            asyncio.gather(publish(events), consume(client, key, "e2e", events))
        )
        for i in range(FAN_OUT):
            await client.xgroup_create(key, f"fan{i}", id="$")
        out["fan-out x10"] = events / await timed(
            asyncio.gather(
                publish(events), *(consume(client, key, f"fan{i}", events) for i in range(FAN_OUT))
            )
        )
        out.update(await latencies(functools.partial(latency, client, key)))
        out.update(await memory(client, key, SUBSCRIBERS))
        await publish(backlog)
        await client.xgroup_create(key, "away", id="0")
        stored = events * 3 + backlog + LATENCY_EVENTS
        out["catch-up"] = stored / await timed(consume(client, key, "away", stored))
        return out
    finally:
        await client.delete(key)
        await client.aclose()


async def consume(
    client: Any, key: str, group: str, count: int, stamps: Stamps | None = None
) -> None:
    got = 0
    while got < count:
        answer = await client.xreadgroup(group, "c", {key: ">"}, count=WINDOW, block=5_000)
        ids = []
        for _, entries in answer:
            for entry_id, fields in entries:
                ids.append(entry_id)
                if stamps is not None:
                    stamps.arrived(fields[b"p"])
        got += len(ids)
        if ids:
            await client.xack(key, group, *ids)


async def latency(client: Any, key: str, rate: int, seconds: float) -> Percentiles:
    stamps = Stamps(int(rate * seconds))
    group = f"latency{rate}"
    await client.xgroup_create(key, group, id="$")
    reader = asyncio.ensure_future(consume(client, key, group, stamps.total, stamps))
    one_at_a_time = asyncio.Lock()  # a connection per publish in flight would exhaust the pool

    async def publish_one(payload: bytes) -> None:
        async with one_at_a_time:
            await client.xadd(key, {"p": payload})

    delays = await paced(rate, seconds, publish_one, stamps)
    await reader
    return delays


async def memory(client: Any, key: str, count: int) -> Figures:
    """The server's RSS with ``count`` consumer groups, each with a named consumer. A Redis
    consumer is attached only while it blocks in XREADGROUP, one connection each; this
    counts the groups' state, not 1,000 connections."""
    rss = server_rss("redis-server")
    before = rss()
    for i in range(count):
        await client.xgroup_create(key, f"m{i}", id="$")
        await client.xgroup_createconsumer(key, f"m{i}", "c")
    attached = rss()
    asleep = rss()  # nothing detaches: the groups are all there is
    for i in range(count):
        await client.xgroup_destroy(key, f"m{i}")
    return memory_figures(before, attached, asleep, count)
