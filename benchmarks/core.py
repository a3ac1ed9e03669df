"""Core benchmarks: durable publish, end to end, latency, replay, RSS; SQLite and PostgreSQL.

    just bench                         # both backends, 1,000,000-event backlog
    python -m benchmarks.core --backends sqlite --backlog 200000

Each backend gets a fresh database and a real `router serve` process on loopback; the clients run
in this process (asyncio + grpclib). Figures are printed, never asserted. Bounded: every phase has
a fixed count and a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable

import attrs
import psycopg

from router._proto.router.v1 import router_pb2 as pb
from router.client import RouterClient
from router.core.ids import uuid7
from tests.helpers.databases import PG_BASE, with_search_path
from tests.helpers.report import rss_mb
from tests.helpers.server import ADMIN_TOKEN, RouterProcess

PAYLOAD = b"x" * 200
BATCH = 500


def machine() -> str:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(
                line.split(":", 1)[1].strip() for line in info if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def rounds_parser(doc: str) -> argparse.ArgumentParser:
    """The arguments of a benchmark that alternates two setups in rounds (--events a
    measurement, --rounds); the routers it starts create user admin with the tests' token."""
    os.environ["ROUTER_TOKEN"] = ADMIN_TOKEN
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    return parser


def announce(title: str) -> None:
    """The first lines of a benchmark's output: what ran, at which commit, on what machine,
    and how busy it was before the run."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    print(f"{title}, commit {commit or '?'}")
    print(f"machine: {machine()}")
    print(f"before the run: {busy()}")


def busy() -> str:
    """How busy the machine is before a run, and how fast one core runs pure Python: figures
    from different machines (or a loaded one) are read side by side with this line."""
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    best = math.inf
    for _ in range(3):  # the best of three: a probe the scheduler interrupted says too little
        began = time.perf_counter()
        total = 0
        for number in range(1_000_000):
            total += number & 7
        best = min(best, time.perf_counter() - began)
    return f"load average {load} (1, 5, 15 min); CPU probe: 1,000,000 Python loop steps in {best * 1000:.0f} ms"


def random_id() -> str:
    """A random UUIDv4, as publishers that make their own ids often send."""
    return str(uuid.uuid4())


def batch(
    count: int,
    type_: str = "bench.event",
    make_id: Callable[[], str] = uuid7,
    payload: bytes = PAYLOAD,
) -> pb.PublishRequest:
    """Events with ids as the client makes them (UUIDv7) unless ``make_id`` says otherwise."""
    return pb.PublishRequest(
        events=[pb.Event(id=make_id(), type=type_, payload=payload) for _ in range(count)]
    )


async def publish_stream(
    client: RouterClient,
    total: int,
    depth: int = 8,
    type_: str = "bench.event",
    make_id: Callable[[], str] = uuid7,
    payload: bytes = PAYLOAD,
) -> float:
    """Publish ``total`` events in batches of BATCH over one stream, ``depth`` in flight; seconds."""
    started = time.perf_counter()
    async with client.publish_stream() as stream:
        sent = received = 0
        batches = (total + BATCH - 1) // BATCH
        while received < batches:
            while sent < batches and sent - received < depth:
                await stream.send_message(
                    batch(min(BATCH, total - sent * BATCH), type_, make_id, payload)
                )
                sent += 1
            response = await stream.recv_message()
            assert response is not None and response.acks
            received += 1
        await stream.end()
    return time.perf_counter() - started


async def drain(
    client: RouterClient,
    name: str,
    count: int,
    start: str = "stored",
    samples: list[float] | None = None,
    pid: int = 0,
) -> float:
    got = 0
    started = time.perf_counter()
    async with client.subscribe("bench", name, start) as subscription:
        async for received in subscription:
            got += len(received)
            await subscription.ack(received[-1].offset)
            if samples is not None and got % 100_000 < len(received):
                samples.append(rss_mb(pid))
            if got >= count:
                break
    return time.perf_counter() - started


async def end_to_end(client: RouterClient, total: int) -> float:
    async with client.subscribe("bench", "e2e", "latest") as subscription:
        started = time.perf_counter()
        publisher = asyncio.ensure_future(publish_stream(client, total))
        got = 0
        async for received in subscription:
            got += len(received)
            await subscription.ack(received[-1].offset)
            if got >= total:
                break
        await publisher
        return time.perf_counter() - started


async def latency(client: RouterClient, rate: int, seconds: float) -> Percentiles:
    """Publish one event per message at ``rate``/s; the end-to-end delays in ms."""
    sent_at: dict[str, float] = {}
    delays: list[float] = []
    total = int(rate * seconds)
    async with client.subscribe("bench", "latency", "latest") as subscription:

        async def publish() -> None:
            async with client.publish_stream() as stream:
                start = time.perf_counter()

                async def acks() -> None:
                    for _ in range(total):
                        await stream.recv_message()

                reader = asyncio.ensure_future(acks())
                for n in range(total):
                    delay = start + n / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)  # pacing to the fixed rate under test
                    message = batch(1)
                    sent_at[message.events[0].id] = time.perf_counter()
                    await stream.send_message(message)
                await reader
                await stream.end()

        publisher = asyncio.ensure_future(publish())
        async for received in subscription:
            now = time.perf_counter()
            delays.extend((now - sent_at[e.id]) * 1000 for e in received if e.id in sent_at)
            await subscription.ack(received[-1].offset)
            if len(delays) >= total:
                break
        await publisher
    return Percentiles.of(delays)


@attrs.define
class Percentiles:
    p50: float
    p99: float
    p999: float
    max: float

    @classmethod
    def of(cls, delays: list[float]) -> Percentiles:
        ordered = sorted(delays)

        def at(fraction: float) -> float:
            return ordered[max(0, math.ceil(len(ordered) * fraction) - 1)]

        return cls(statistics.median(ordered), at(0.99), at(0.999), ordered[-1])


async def run_backend(
    name: str, db_url: str, folder: str, backlog: int, count: int
) -> dict[str, str]:
    router = RouterProcess(db_url, os.path.join(folder, f"{name}.log")).start()
    results: dict[str, str] = {}
    assert router.process is not None
    pid = router.process.pid
    try:
        async with RouterClient(router.address) as client:
            await client.create_exchange("bench", ["bench.#"])
            seconds = await publish_stream(client, count)
            results["durable publish (events/s)"] = f"{count / seconds:,.0f}"
            seconds = await end_to_end(client, count)
            results["end to end, 1 subscriber (events/s)"] = f"{count / seconds:,.0f}"
            delays = await latency(client, 2_000, 5.0)
            results["latency at 2,000/s p50 / p99 / max (ms)"] = (
                f"{delays.p50:.1f} / {delays.p99:.1f} / {delays.max:.1f}"
            )
            already = count * 2 + 10_000
            fill = time.perf_counter()
            await publish_stream(client, backlog)
            results[f"publish {backlog:,} backlog (s)"] = f"{time.perf_counter() - fill:.1f}"
            before = rss_mb(pid)
            samples: list[float] = []
            seconds = await drain(client, "replayer", already + backlog, "earliest", samples, pid)
            results[f"replay {already + backlog:,} events (events/s)"] = (
                f"{(already + backlog) / seconds:,.0f}"
            )
            results["router RSS before replay / peak during (MB)"] = (
                f"{before:.0f} / {max(samples or [before]):.0f}"
            )
            results["RSS samples every 100k replayed (MB)"] = " ".join(
                f"{s:.0f}" for s in samples[:12]
            )
    finally:
        router.stop(60)
    return results


async def end_to_end_alone(db_url: str, folder: str, count: int, metrics: str) -> float:
    """End-to-end events/s on a fresh router started with ``--metrics on|off``."""
    log = os.path.join(folder, f"metrics-{metrics}.log")
    router = RouterProcess(db_url, log, None, "--metrics", metrics).start()
    try:
        async with RouterClient(router.address) as client:
            await client.create_exchange("bench", ["bench.#"])
            return count / await end_to_end(client, count)
    finally:
        router.stop(60)


def metrics_cost(backend: str, folder: str, count: int) -> dict[str, str]:
    """Metrics on and off, interleaved on fresh databases (on, off, on, off): the cost of counting."""
    figures: dict[str, list[float]] = {"on": [], "off": []}
    for round_ in range(2):
        for metrics in ("on", "off"):
            schema = None
            if backend == "sqlite":
                url = f"sqlite:///{folder}/metrics-{metrics}-{round_}.db"
            else:
                url, schema = postgres_url()
            try:
                figures[metrics].append(asyncio.run(end_to_end_alone(url, folder, count, metrics)))
            finally:
                if schema:
                    drop_schema(schema)
    on, off = statistics.mean(figures["on"]), statistics.mean(figures["off"])
    return {
        "end to end, metrics on / off (events/s)": f"{on:,.0f} / {off:,.0f}",
        "metrics cost (1 - on/off)": f"{(1 - on / off) * 100:.1f}%",
    }


def drop_schema(schema: str) -> None:
    with psycopg.connect(PG_BASE, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA {schema} CASCADE")


def postgres_url() -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_BASE, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    return with_search_path(PG_BASE, schema), schema


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--backlog", type=int, default=1_000_000)
    parser.add_argument(
        "--count", type=int, default=100_000, help="events for publish and end-to-end"
    )
    args = parser.parse_args()
    os.environ["ROUTER_TOKEN"] = ADMIN_TOKEN  # the routers started here create admin with it
    print(f"machine: {machine()}")
    table: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for backend in args.backends.split(","):
            schema = None
            if backend == "sqlite":
                url = f"sqlite:///{folder}/bench.db"
            else:
                url, schema = postgres_url()
            print(f"running {backend} ...", flush=True)
            try:
                table[backend] = asyncio.run(
                    run_backend(backend, url, folder, args.backlog, args.count)
                )
            finally:
                if schema:
                    drop_schema(schema)
            table[backend].update(metrics_cost(backend, folder, args.count))
    rows = list(dict.fromkeys(key for result in table.values() for key in result))
    width = max(len(r) for r in rows)
    print()
    print(f"| {'figure':{width}} | " + " | ".join(f"{b:>22}" for b in table) + " |")
    print(f"|{'-' * (width + 2)}|" + "|".join("-" * 24 for _ in table) + "|")
    for row in rows:
        print(
            f"| {row:{width}} | " + " | ".join(f"{table[b].get(row, ''):>22}" for b in table) + " |"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
