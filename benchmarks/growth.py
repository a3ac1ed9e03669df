"""Growth: one store filled from empty to EVENTS, the publish rate of each million and the store's
bytes per event as it grows, then a SIGKILL and the time until the router answers a publish again.

    just bench-growth                                   # 10,000,000 on SQLite and PostgreSQL
    python -m benchmarks.growth --events 2000000 --backends sqlite --ids v4

Events of 200 bytes through one PublishStream (batches of 500, 8 in flight), into one exchange,
ids as the client makes them (UUIDv7) unless ``--ids v4`` (random). The rate of the last million
against the first says whether publishing stays flat as the log grows. Bytes on disk: SQLite's
database file and its WAL; PostgreSQL's tables of the router's schema with their indexes and
TOAST. Bounded: each step is one million events, and a step that takes longer than
STEP_DEADLINE_S ends the run. Not run by CI.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import Callable

import psycopg

from benchmarks.core import busy, drop_schema, machine, postgres_url, publish_stream, random_id
from router.client import OutgoingEvent, RouterClient
from router.core.ids import uuid7
from tests.helpers.databases import PG_BASE
from tests.helpers.server import ADMIN_TOKEN, RouterProcess

STEP = 1_000_000
STEP_DEADLINE_S = 600.0


def sqlite_bytes(path: str) -> int:
    return sum(os.path.getsize(p) for p in (path, f"{path}-wal") if os.path.exists(p))


def postgres_bytes(schema: str) -> int:
    with psycopg.connect(PG_BASE, autocommit=True) as connection:
        row = connection.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relkind = 'r'",
            (schema,),
        ).fetchone()
    return int(row[0]) if row else 0


async def fill(
    router: RouterProcess, events: int, make_id: Callable[[], str], size: Callable[[], int]
) -> list[tuple[int, float, float]]:
    """Publish ``events`` a million at a time: (stored so far, events/s, bytes per event)."""
    steps: list[tuple[int, float, float]] = []
    async with RouterClient(router.address, token=ADMIN_TOKEN) as client:
        await client.create_exchange("growth", ["growth.#"])
        stored = 0
        while stored < events:
            count = min(STEP, events - stored)
            seconds = await asyncio.wait_for(
                publish_stream(client, count, type_="growth.event", make_id=make_id),
                STEP_DEADLINE_S,
            )
            stored += count
            steps.append((stored, count / seconds, size() / stored))
            print(
                f"  {stored:>12,} stored: {count / seconds:>9,.0f} events/s,"
                f" {steps[-1][2]:,.0f} bytes an event on disk",
                flush=True,
            )
    return steps


async def first_publish(router: RouterProcess) -> float:
    """Seconds from starting ``router`` until it has acked one publish."""
    began = time.perf_counter()
    router.start()
    async with RouterClient(router.address, token=ADMIN_TOKEN) as client:
        await client.publish([OutgoingEvent("growth.event", b"x" * 200)])
    return time.perf_counter() - began


def run(kind: str, events: int, make_id: Callable[[], str], folder: str) -> list[str]:
    schema = ""
    if kind == "sqlite":
        path = os.path.join(folder, f"growth-{uuid.uuid4().hex[:6]}.db")
        url = f"sqlite:///{path}"

        def size() -> int:
            return sqlite_bytes(path)
    else:
        url, schema = postgres_url()

        def size() -> int:
            return postgres_bytes(schema)

    router = RouterProcess(url, os.path.join(folder, f"growth-{kind}.log"))
    try:
        router.start()
        print(f"router {kind}: filling to {events:,} ...", flush=True)
        steps = asyncio.run(fill(router, events, make_id, size))
        router.kill()
        again = asyncio.run(first_publish(router))
    finally:
        if router.process is not None and router.process.poll() is None:
            router.stop(60)
        if schema:
            drop_schema(schema)
    first, last = steps[0][1], steps[-1][1]
    return [
        f"router {kind}: first million {first:,.0f} events/s, last {last:,.0f}"
        f" ({last / first:.2f}x the first)",
        f"router {kind}: {steps[-1][2]:,.0f} bytes an event on disk at {steps[-1][0]:,} events",
        f"router {kind}: SIGKILLed with {steps[-1][0]:,} stored, first publish acked"
        f" {again:.2f} s after starting again",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--ids", choices=("v7", "v4"), default="v7")
    args = parser.parse_args()
    os.environ["ROUTER_TOKEN"] = ADMIN_TOKEN
    print(f"machine: {machine()}")
    print(f"before the run: {busy()}")
    print(f"events: {args.events:,}, ids {args.ids}, payload 200 B", flush=True)
    make_id = uuid7 if args.ids == "v7" else random_id
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        for kind in filter(None, args.backends.split(",")):
            lines += run(kind, args.events, make_id, folder)
    print()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
