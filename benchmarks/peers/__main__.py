"""The router next to the systems users would pick instead, in one run on this machine.

    just bench-peers                                    # defaults below, under 15 minutes
    just bench-peers --quick                            # smaller workloads, about 2 minutes
    python -m benchmarks.peers --events 30000 --backlog 1000000 --peers rabbitmq,streams

Same 200-byte payloads, durability on where the peer has it, pipelined publishes with
per-message durability acks, batched consumer acks; each system through its own Python client
(the modules beside this one say how). Workloads, in this order on each system:
1. confirmed publish;
2. publish -> one durable consumer;
3. fan-out: one publisher, 10 durable subscribers of the same events (events/s published with
   all 10 keeping up);
4. latency publish -> delivery, one event per publish at 1,000 and 5,000 events/s: p50/p99/p999;
   then (the router alone) one event per unary call at 1,000 calls/s: the router's CPU per call
   beside a bare grpclib call's (benchmarks/peers/onecall.py);
5. 1,000 durable subscribers attached, then asleep: the server's RSS;
6. catch-up: a consumer that was away reads the whole backlog (peers: from the stream's start);
7. a work queue: 4 competing consumers, each event acked on its own (router shared subscriber,
   RabbitMQ quorum queue, JetStream pull consumer), all acked and with 1% nacked at 100 ms
   (benchmarks/peers/workqueue.py).
Printed, never asserted: each figure as it comes in, then a table of them all, and the router's
as ratios to each peer's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import tempfile
from collections.abc import Awaitable, Callable

from benchmarks.core import busy, machine
from benchmarks.peers import nats, onecall, rabbitmq, redis, router, streams, workqueue
from benchmarks.peers.common import PAYLOAD, RATES, V4_PUBLISH, Figures, Progress
from tests.helpers.server import ADMIN_TOKEN

PEERS: dict[str, Callable[[int, int], Awaitable[Figures]]] = {
    "rabbitmq": rabbitmq.figures,
    "streams": streams.figures,
    "nats js": nats.figures,
    "redis": redis.figures,
}
WORK: dict[str, Callable[[int, Progress], Awaitable[None]]] = {
    "rabbitmq": workqueue.rabbitmq_figures,
    "nats js": workqueue.nats_figures,
}
ROUTERS = ("router sqlite", "router postgres")
THROUGHPUT = ["publish", "end to end", "fan-out x10", "catch-up"]
LATENCY = [f"{p} at {rate}/s (ms)" for rate, _ in RATES for p in ("p50", "p99", "p999")]
MEMORY = [
    "subscribers attached",
    "rss before (MB)",
    "rss attached (MB)",
    "rss asleep (MB)",
    "per attached subscriber (KB)",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=30_000, help="per throughput workload")
    parser.add_argument("--backlog", type=int, default=1_000_000, help="published, then caught up")
    parser.add_argument(
        "--queue-backlog",
        type=int,
        default=300_000,
        help="the backlog of RabbitMQ's classic queue: it fills at ~9,000/s here, and a 1,000,000"
        " backlog alone took 4.5 of the run's 10 minutes; its catch-up rate is per second all the same",
    )
    parser.add_argument(
        "--peers", default=",".join(PEERS), help="comma-separated, of: " + ",".join(PEERS)
    )
    parser.add_argument("--routers", default="sqlite,postgres")
    parser.add_argument(
        "--work-events", type=int, default=50_000, help="per work-queue workload (0: none)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="about 2 minutes: 10,000 events per workload, backlogs of 100,000 (queue 50,000),"
        " 10,000 per work-queue workload; figures to try a change, not to record",
    )
    args = parser.parse_args()
    if args.quick:
        args.events, args.backlog, args.queue_backlog = 10_000, 100_000, 50_000
        args.work_events = min(args.work_events, 10_000)
    os.environ["ROUTER_TOKEN"] = ADMIN_TOKEN  # the routers started here create admin with it
    print(f"machine: {machine()}")
    print(f"before the run: {busy()}", flush=True)
    print(
        f"events: {args.events:,} per workload, backlog {args.backlog:,}"
        f" (RabbitMQ queue {args.queue_backlog:,}), payload {len(PAYLOAD)} B"
    )
    columns: dict[str, Figures] = {}
    floor: Figures = {}
    if args.routers:
        print(f"running {onecall.ECHO} ...", flush=True)
        floor = onecall.echo_figures()
        Progress(onecall.ECHO).update(floor)
    with tempfile.TemporaryDirectory() as folder:
        for kind in filter(None, args.routers.split(",")):
            print(f"running router {kind} ...", flush=True)
            columns[f"router {kind}"] = router.run(
                kind, args.events, args.backlog, folder, args.work_events
            )
    for peer in filter(None, args.peers.split(",")):
        print(f"running {peer} ...", flush=True)
        plugin = (
            subprocess.run(
                ["bash", "scripts/rabbit-streams.sh", "on"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            if peer == "streams"
            else ""
        )
        try:
            backlog = args.queue_backlog if peer == "rabbitmq" else args.backlog
            columns[peer] = asyncio.run(PEERS[peer](args.events, backlog))
            if args.work_events and peer in WORK:
                work = Progress(peer)
                asyncio.run(WORK[peer](args.work_events, work))
                columns[peer].update(work)
        finally:
            if plugin == "turned-on":
                subprocess.run(["bash", "scripts/rabbit-streams.sh", "off"], check=True)
    print_tables(columns)
    print_one_call(columns, floor)


def print_tables(columns: dict[str, Figures]) -> None:
    names = list(columns)
    print()
    print("| figure | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for row in [*THROUGHPUT, V4_PUBLISH]:  # the router alone has the last (peers: "-")
        cells = (f"{columns[n][row]:,.0f}" if row in columns[n] else "-" for n in names)
        print(f"| {row} (events/s) | " + " | ".join(cells) + " |")
    for row in LATENCY + MEMORY:
        print(f"| {row} | " + " | ".join(f"{columns[n][row]:,.1f}" for n in names) + " |")
    print_work_queue(columns)
    routers = [n for n in names if n in ROUTERS]
    peers = [n for n in names if n not in ROUTERS]
    if not (routers and peers):
        return
    print()
    print("| router / peer | " + " | ".join(peers) + " |")
    print("|---|" + "---:|" * len(peers))
    for kind in routers:
        for row in THROUGHPUT:  # higher is better: router / peer
            ratios = [columns[kind][row] / columns[n][row] for n in peers]
            print(f"| {kind}: {row} | " + " | ".join(f"{r:.2f}x" for r in ratios) + " |")
        for row in LATENCY[1::3] + MEMORY[-1:]:  # lower is better: still router / peer
            ratios = [columns[kind][row] / columns[n][row] for n in peers]
            print(f"| {kind}: {row} | " + " | ".join(f"{r:.2f}x" for r in ratios) + " |")


def print_work_queue(columns: dict[str, Figures]) -> None:
    """The work-queue figures of the systems that have them, and the router's ratios."""
    names = [n for n in columns if workqueue.ROWS[0] in columns[n]]
    if not names:
        return

    def cell(name: str, row: str) -> str:
        value = columns[name].get(row)
        return "-" if value is None else f"{value:,.0f}" if "events" in row else f"{value:,.1f}"

    print()
    print("| work queue, 4 consumers, one ack per event | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for row in workqueue.ROWS:
        print(f"| {row} | " + " | ".join(cell(n, row) for n in names) + " |")
    routers = [n for n in names if n in ROUTERS]
    peers = [n for n in names if n not in ROUTERS]
    for kind in routers:
        figures = columns[kind]
        nacked = figures.get(workqueue.ROWS[1], 0.0) / figures[workqueue.ROWS[0]]
        ratios = ", ".join(
            f"{figures[workqueue.ROWS[0]] / columns[n][workqueue.ROWS[0]]:.2f}x {n}" for n in peers
        )
        print(f"{kind}: all acked {ratios}; 1% nacked / all acked {nacked:.2f}")


def print_one_call(columns: dict[str, Figures], floor: Figures) -> None:
    """One event per unary call: each router beside the bare grpclib call, CPU as a ratio."""
    routers = [n for n in columns if onecall.ROWS[0] in columns[n]]
    if not (routers and floor):
        return
    figures = {**{n: columns[n] for n in routers}, onecall.ECHO: floor}
    print()
    print("| one event per unary call, 1,000 calls/s | " + " | ".join(figures) + " |")
    print("|---|" + "---:|" * len(figures))
    for row in onecall.ROWS:
        name = row.split(": ", 1)[1]
        print(f"| {name} | " + " | ".join(f"{f[row]:,.1f}" for f in figures.values()) + " |")
    for kind in routers:
        ratio = columns[kind][onecall.ROWS[0]] / floor[onecall.ROWS[0]]
        print(f"{kind}: CPU per call {ratio:.2f}x a bare grpclib call's")


if __name__ == "__main__":
    main()
