"""RabbitMQ benchmarks: AMQP ingest next to RabbitMQ's own publish -> consume, and re-emit.

    just bench-amqp                                   # SQLite and PostgreSQL, 50,000 messages
    python -m benchmarks.amqp --backends sqlite --messages 20000

In one run, on this machine's RabbitMQ, with the same 200-byte persistent messages and the same
publisher (aiormq on plain asyncio, publisher confirms pipelined 1,000 deep):
- rabbitmq: publish -> a durable classic queue -> a consumer with manual acks (prefetch 1,000,
  one multiple-ack per 100): the first publish to the last message consumed;
- router ingest: publish -> the router's ingest queue -> committed events: the first publish to
  the moment the router's log holds them all (its Stats, polled every 20 ms);
- re-emit: the router publishing those stored events into a RabbitMQ exchange with confirms.
Figures are printed, never asserted; every phase is bounded by a count and a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections.abc import Sequence

import aiormq
import psycopg

from benchmarks.core import machine, rss_mb
from benchmarks.peers.common import timed
from benchmarks.peers.rabbitmq import consume as rabbit_consume
from benchmarks.peers.rabbitmq import publish as rabbit_publish
from router.client import RouterClient
from tests.helpers.databases import PG_BASE, with_search_path
from tests.helpers.rabbit import AMQP_URL, delete
from tests.helpers.server import RouterProcess

PAYLOAD = b"x" * 200
WINDOW = 1_000
DEADLINE_S = 300


async def publish(exchange: str, count: int) -> float:
    """Publish ``count`` persistent messages with confirms, WINDOW in flight, each with a
    message_id (the router's idempotency key); return seconds."""
    connection = await aiormq.connect(AMQP_URL)
    try:
        channel = await connection.channel(publisher_confirms=True)
        await channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        return await timed(rabbit_publish(channel, exchange, count, message_ids=True))
    finally:
        await connection.close()


async def rabbitmq_end_to_end(count: int) -> float:
    """RabbitMQ alone: publish -> durable queue -> manual-ack consumer. Events per second."""
    name = f"bench.{uuid.uuid4().hex[:8]}"
    connection = await aiormq.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        await channel.exchange_declare(name, exchange_type="topic", durable=True)
        await channel.queue_declare(name, durable=True)
        await channel.queue_bind(name, name, routing_key="#")
        consumer = asyncio.ensure_future(rabbit_consume(channel, name, count))
        seconds = await timed(asyncio.gather(publish(name, count), consumer))
        return count / seconds
    finally:
        await connection.close()
        await delete(name)


async def router_ingest(router: RouterProcess, exchange: str, count: int) -> float:
    """Publish into the router's ingest exchange; events per second until all are committed."""
    async with RouterClient(router.address) as client:
        base = (await client.stats()).last_seq
        began = time.perf_counter()
        publisher = asyncio.ensure_future(publish(exchange, count))
        deadline = began + DEADLINE_S
        while (await client.stats()).last_seq < base + count:
            if time.perf_counter() > deadline:
                raise TimeoutError("router ingest did not finish")
            # Polled: nothing pushes "committed" to a client except the log stream (Follow), which
            # would add a consumer's work to what is measured; one Stats call per 20 ms is not.
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - began
        await publisher
        return count / elapsed


async def reemit(router: RouterProcess, count: int) -> float:
    target = f"bench.out.{uuid.uuid4().hex[:8]}"
    async with RouterClient(router.address) as client:
        await client.create_exchange("everything", ["#"])
        began = time.perf_counter()
        confirmed = 0
        async for progress in client.reemit("everything", target, "earliest", most=count):
            confirmed = progress.confirmed
        elapsed = time.perf_counter() - began
    await delete(target)
    return confirmed / elapsed


def run_backend(kind: str, count: int, folder: str) -> dict[str, float]:
    schema = None
    if kind == "sqlite":
        url = f"sqlite:///{folder}/bench-{uuid.uuid4().hex[:6]}.db"
    else:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_BASE, autocommit=True) as connection:
            connection.execute(f"CREATE SCHEMA {schema}")
        url = with_search_path(PG_BASE, schema)
    exchange = f"bench.in.{uuid.uuid4().hex[:8]}"
    router = RouterProcess(
        url,
        f"{folder}/router-{kind}.log",
        None,
        "--amqp-url",
        AMQP_URL,
        "--amqp-exchange",
        exchange,
        "--amqp-prefetch",
        "5000",
    ).start()
    try:
        asyncio.run(_wait_connected(router))
        ingest = asyncio.run(router_ingest(router, exchange, count))
        assert router.process is not None
        rss = rss_mb(router.process.pid)
        out = asyncio.run(reemit(router, count))
        return {"ingest": ingest, "reemit": out, "rss": rss}
    finally:
        router.stop()
        asyncio.run(delete(f"router.{exchange}", exchange, f"{exchange}.dead"))
        if schema:
            with psycopg.connect(PG_BASE, autocommit=True) as connection:
                connection.execute(f"DROP SCHEMA {schema} CASCADE")


async def _wait_connected(router: RouterProcess) -> None:
    async with RouterClient(router.address) as client:
        for _ in range(500):
            links = (await client.stats()).links_json
            if '"connected": true' in links:
                return
            # Polled under a deadline: the bridge's state is only readable (Stats), never pushed.
            await asyncio.sleep(0.02)
    raise TimeoutError("the router's AMQP bridge did not connect")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--messages", type=int, default=50_000)
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    print(f"messages: {args.messages} x {len(PAYLOAD)} bytes, persistent, confirms {WINDOW} deep")
    peer = asyncio.run(rabbitmq_end_to_end(args.messages))
    rows = [("rabbitmq publish -> durable queue -> consumer", peer, 1.0)]
    with tempfile.TemporaryDirectory() as folder:
        for kind in args.backends.split(","):
            figures = run_backend(kind, args.messages, folder)
            rows.append((f"router {kind}: AMQP publish -> committed", figures["ingest"], 0))
            rows.append((f"router {kind}: re-emit with confirms", figures["reemit"], 0))
            print(f"router {kind}: RSS after ingest {figures['rss']:.0f} MB")
    print()
    print(f"{'workload':<50} {'events/s':>10} {'x rabbitmq':>11}")
    for name, rate, _ in rows:
        print(f"{name:<50} {rate:>10,.0f} {rate / peer:>10.2f}x")


if __name__ == "__main__":
    main()
