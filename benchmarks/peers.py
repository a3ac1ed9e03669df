"""The router next to the systems users would pick instead (issue 7), in one run on this machine.

    just bench-peers                                     # defaults below, a few minutes
    python -m benchmarks.peers --events 30000 --backlog 100000

Same 200-byte payloads, durability on where the peer has it, pipelined publishes with per-message
durability acks, batched consumer acks:
- router (SQLite, PostgreSQL): PublishStream batches of 500, 8 in flight; a durable subscriber;
- RabbitMQ: a durable classic queue, persistent messages, publisher confirms 1,000 in flight; a
  consumer with manual acks (prefetch 1,000, a multiple-ack per 100) - aiormq;
- NATS JetStream: a file-storage stream, acked publishes 1,000 in flight; a durable pull consumer
  (fetch 1,000, ack-all on the last) - nats-py;
- Redis Streams: XADD pipelined 1,000 a round trip; XREADGROUP COUNT 1,000 and one XACK per read
  (this Redis keeps nothing on disk: not durable) - redis-py.
Workloads: confirmed publish; publish -> one durable consumer; fan-out, one publisher and 10
durable subscribers of the same events (events/s published with all 10 keeping up); catch-up of a
backlog by a consumer that was away (peers: from the stream's start); the router's latency at
1,000 and 5,000 events/s; the router's RSS with 1,000 durable subscribers attached, then asleep.
Not yet here: the peers' latency and memory, RabbitMQ Streams. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiormq
from pamqp.commands import Basic

from benchmarks.core import (
    drain,
    drop_schema,
    end_to_end,
    latency,
    machine,
    postgres_url,
    publish_stream,
    rss_mb,
)
from router.client import RouterClient
from tests.helpers.rabbit import AMQP_URL
from tests.helpers.server import RouterProcess

PAYLOAD = b"x" * 200
WINDOW = 1_000
FAN_OUT = 10
DEADLINE_S = 300.0
Figures = dict[str, float]


# --- the router ---


async def router_figures(address: str, events: int, backlog: int) -> Figures:
    async with RouterClient(address) as client:
        await client.create_exchange("bench", ["bench.#"])
        out: Figures = {"publish": events / await publish_stream(client, events)}
        out["end to end"] = events / await end_to_end(client, events)
        for rate, seconds in ((1_000, 5.0), (5_000, 3.0)):
            p50, p99, _ = await latency(client, rate, seconds)
            out[f"p50 at {rate}/s (ms)"], out[f"p99 at {rate}/s (ms)"] = p50, p99
        out["fan-out x10"] = events / await router_fan_out(client, events)
        await publish_stream(client, backlog)
        stored = (await client.stats()).last_seq  # all of it is in exchange "bench"
        out["catch-up"] = stored / await drain(client, "away", stored, "earliest")
    return out


async def router_fan_out(client: RouterClient, events: int) -> float:
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


async def router_memory(address: str, pid: int, count: int) -> Figures:
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
    return {
        "rss before (MB)": before,
        f"rss {count} attached (MB)": attached,
        f"rss {count} asleep (MB)": asleep,
        "per attached subscriber (KB)": (attached - before) * 1024 / count,
    }


def run_router(kind: str, events: int, backlog: int, folder: str) -> Figures:
    schema = None
    if kind == "sqlite":
        url = f"sqlite:///{folder}/peers-{uuid.uuid4().hex[:6]}.db"
    else:
        url, schema = postgres_url()
    router = RouterProcess(url, f"{folder}/router-{kind}.log").start()
    assert router.process is not None
    try:
        figures = asyncio.run(router_figures(router.address, events, backlog))
        figures.update(asyncio.run(router_memory(router.address, router.process.pid, 1_000)))
        return figures
    finally:
        router.stop(60)
        if schema:
            drop_schema(schema)


# --- RabbitMQ: a durable classic queue ---


async def rabbit_publish(
    channel: aiormq.abc.AbstractChannel, exchange: str, count: int, message_ids: bool = False
) -> None:
    """Persistent messages with confirms, WINDOW in flight (``message_ids``: a UUID each)."""
    for start in range(0, count, WINDOW):
        confirms = [
            channel.basic_publish(
                PAYLOAD,
                exchange=exchange,
                routing_key="bench.event",
                properties=Basic.Properties(
                    delivery_mode=2, message_id=str(uuid.uuid4()) if message_ids else None
                ),
            )
            for _ in range(min(WINDOW, count - start))
        ]
        for outcome in await asyncio.gather(*confirms):
            assert isinstance(outcome, Basic.Ack)


async def rabbit_consume(channel: aiormq.abc.AbstractChannel, queue: str, count: int) -> None:
    await channel.basic_qos(prefetch_count=1_000)
    received = 0
    done = asyncio.Event()

    async def on_message(message: aiormq.abc.DeliveredMessage) -> None:
        nonlocal received
        received += 1
        if received % 100 == 0 or received == count:
            await channel.basic_ack(message.delivery_tag or 0, multiple=True)
        if received == count:
            done.set()

    consumer = await channel.basic_consume(queue, on_message, no_ack=False)
    await asyncio.wait_for(done.wait(), DEADLINE_S)
    await channel.basic_cancel(consumer.consumer_tag)


async def rabbitmq_figures(events: int, backlog: int) -> Figures:
    name = f"peers.{uuid.uuid4().hex[:8]}"
    connection = await aiormq.connect(AMQP_URL)
    try:
        setup = await connection.channel()
        await setup.exchange_declare(name, exchange_type="topic", durable=True)
        await setup.queue_declare(name, durable=True)
        await setup.queue_bind(name, name, routing_key="#")
        publisher = await connection.channel(publisher_confirms=True)
        consumer = await connection.channel()
        out: Figures = {"publish": events / await timed(rabbit_publish(publisher, name, events))}
        await rabbit_consume(consumer, name, events)  # empty the queue again

        async def both() -> None:
            await asyncio.gather(
                rabbit_publish(publisher, name, events), rabbit_consume(consumer, name, events)
            )

        out["end to end"] = events / await timed(both())
        await setup.queue_unbind(name, name, routing_key="#")
        fans = [f"{name}.fan{i}" for i in range(FAN_OUT)]
        channels = []
        for queue in fans:
            await setup.queue_declare(queue, durable=True)
            await setup.queue_bind(queue, name, routing_key="#")
            channels.append(await connection.channel())

        async def fan_out() -> None:
            await asyncio.gather(
                rabbit_publish(publisher, name, events),
                *(rabbit_consume(c, q, events) for c, q in zip(channels, fans, strict=True)),
            )

        out["fan-out x10"] = events / await timed(fan_out())
        for queue in fans:
            await setup.queue_delete(queue)
        await setup.queue_bind(name, name, routing_key="#")
        await rabbit_publish(publisher, name, backlog)
        out["catch-up"] = backlog / await timed(rabbit_consume(consumer, name, backlog))
        await setup.queue_delete(name)
        await setup.exchange_delete(name)
        return out
    finally:
        await connection.close()


# --- NATS JetStream: a file-storage stream, a durable pull consumer ---


async def nats_figures(events: int, backlog: int) -> Figures:
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType

    stream = f"PEERS{uuid.uuid4().hex[:8]}"
    subject = f"{stream}.event"
    client = await nats.connect("nats://127.0.0.1:4222")
    js = client.jetstream(timeout=30)
    await js.add_stream(name=stream, subjects=[f"{stream}.>"], storage=StorageType.FILE)

    async def publish(count: int) -> None:
        for start in range(0, count, WINDOW):
            await asyncio.gather(
                *(js.publish(subject, PAYLOAD) for _ in range(min(WINDOW, count - start)))
            )

    async def subscribe(durable: str, policy: DeliverPolicy) -> Any:
        """A durable pull consumer, created on the server before this returns."""
        config = ConsumerConfig(ack_policy=AckPolicy.ALL, deliver_policy=policy)
        return await js.pull_subscribe(subject, durable=durable, config=config)

    async def consume(sub: Any, count: int) -> None:
        got = 0
        while got < count:
            messages = await sub.fetch(1_000, timeout=DEADLINE_S)
            got += len(messages)
            await messages[-1].ack()

    try:
        out: Figures = {"publish": events / await timed(publish(events))}
        e2e = await subscribe("e2e", DeliverPolicy.NEW)
        out["end to end"] = events / await timed(
            asyncio.gather(publish(events), consume(e2e, events))
        )
        fans = [await subscribe(f"fan{i}", DeliverPolicy.NEW) for i in range(FAN_OUT)]
        out["fan-out x10"] = events / await timed(
            asyncio.gather(publish(events), *(consume(f, events) for f in fans))
        )
        await publish(backlog)
        stored = events * 3 + backlog
        away = await subscribe("away", DeliverPolicy.ALL)
        out["catch-up"] = stored / await timed(consume(away, stored))
        return out
    finally:
        await js.delete_stream(stream)
        await client.close()


# --- Redis Streams (not durable on this machine: no persistence configured) ---


async def redis_figures(events: int, backlog: int) -> Figures:
    import redis.asyncio as aioredis

    key = f"peers:{uuid.uuid4().hex[:8]}"
    client = aioredis.Redis(host="127.0.0.1", port=6379)

    async def publish(count: int) -> None:
        for start in range(0, count, WINDOW):
            pipe = client.pipeline(transaction=False)
            for _ in range(min(WINDOW, count - start)):
                pipe.xadd(key, {"p": PAYLOAD})
            await pipe.execute()

    async def consume(group: str, count: int) -> None:
        got = 0
        while got < count:
            answer = await client.xreadgroup(group, "c", {key: ">"}, count=1_000, block=5_000)
            ids = [entry_id for _, entries in answer for entry_id, _ in entries]
            got += len(ids)
            if ids:
                await client.xack(key, group, *ids)

    try:
        out: Figures = {"publish": events / await timed(publish(events))}
        await client.xgroup_create(key, "e2e", id="$")
        out["end to end"] = events / await timed(
            asyncio.gather(publish(events), consume("e2e", events))
        )
        for i in range(FAN_OUT):
            await client.xgroup_create(key, f"fan{i}", id="$")
        out["fan-out x10"] = events / await timed(
            asyncio.gather(publish(events), *(consume(f"fan{i}", events) for i in range(FAN_OUT)))
        )
        await publish(backlog)
        await client.xgroup_create(key, "away", id="0")
        stored = events * 3 + backlog
        out["catch-up"] = stored / await timed(consume("away", stored))
        return out
    finally:
        await client.delete(key)
        await client.aclose()


async def timed(work: Awaitable[object]) -> float:
    began = time.perf_counter()
    await asyncio.wait_for(work, DEADLINE_S)
    return time.perf_counter() - began


PEERS: dict[str, Callable[[int, int], Awaitable[Figures]]] = {
    "rabbitmq": rabbitmq_figures,
    "nats js": nats_figures,
    "redis": redis_figures,
}
ROWS = ["publish", "end to end", "fan-out x10", "catch-up"]
MEMORY_ROWS = [
    "rss before (MB)",
    "rss 1000 attached (MB)",
    "rss 1000 asleep (MB)",
    "per attached subscriber (KB)",
]
LATENCY_ROWS = [
    "p50 at 1000/s (ms)",
    "p99 at 1000/s (ms)",
    "p50 at 5000/s (ms)",
    "p99 at 5000/s (ms)",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--peers", default=",".join(PEERS))
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"events: {args.events} per workload, backlog {args.backlog}, payload {len(PAYLOAD)} B")
    columns: dict[str, Figures] = {}
    with tempfile.TemporaryDirectory() as folder:
        for kind in ("sqlite", "postgres"):
            print(f"running router {kind} ...", flush=True)
            columns[f"router {kind}"] = run_router(kind, args.events, args.backlog, folder)
    for peer in args.peers.split(","):
        print(f"running {peer} ...", flush=True)
        columns[peer] = asyncio.run(PEERS[peer](args.events, args.backlog))
    names = list(columns)
    print()
    print("| events/s | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for row in ROWS:
        print(f"| {row} | " + " | ".join(f"{columns[n][row]:,.0f}" for n in names) + " |")
    for row in LATENCY_ROWS + MEMORY_ROWS:
        cells = [f"{columns[n][row]:.1f}" if row in columns[n] else "-" for n in names]
        print(f"| {row} | " + " | ".join(cells) + " |")
    print()
    print("| router / peer | " + " | ".join(n for n in names if not n.startswith("router")) + " |")
    print("|---|" + "---:|" * (len(names) - 2))
    for kind in ("router sqlite", "router postgres"):
        for row in ROWS:
            ratios = [
                f"{columns[kind][row] / columns[n][row]:.2f}x"
                for n in names
                if not n.startswith("router")
            ]
            print(f"| {kind}: {row} | " + " | ".join(ratios) + " |")


if __name__ == "__main__":
    main()
