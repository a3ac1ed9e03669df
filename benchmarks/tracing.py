"""What tracing costs the publish path: publish throughput of a router exporting OpenTelemetry
spans (1% of traces sampled, OTLP/HTTP to a receiver on loopback) against the same router
without tracing, in the same run.

    just bench-tracing                        # SQLite, 200,000 events a measurement, 3 rounds
    python -m benchmarks.tracing --events 50000 --rounds 2 --ratio 0.01

Two `router serve` processes on fresh SQLite files, one with the OTEL_* variables set; they take
turns (the order flips each round) so that drift of the machine falls on both. The publisher is
not traced itself: each publish call (a batch of 500) starts a trace at the router, which keeps
``--ratio`` of them. Prints each round and the medians' ratio (traced / off; 1.0 means tracing
costs nothing). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile

from router.client import RouterClient
from tests.helpers.otlp import OtlpReceiver
from tests.helpers.server import ADMIN_TOKEN, RouterProcess

from .core import announce, publish_stream


async def measure(router: RouterProcess, events: int) -> float:
    async with RouterClient(router.address) as client:
        return events / await publish_stream(client, events)


async def prepare(router: RouterProcess) -> None:
    async with RouterClient(router.address) as client:
        await client.create_exchange("bench", ["bench.#"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ratio", type=float, default=0.01, help="traces sampled (0..1)")
    args = parser.parse_args()
    os.environ["ROUTER_TOKEN"] = ADMIN_TOKEN  # the routers started here create admin with it
    announce(f"tracing benchmark, {args.ratio:g} of traces sampled")
    figures: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as folder, OtlpReceiver() as receiver:
        traced = {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.url,
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": str(args.ratio),
        }
        routers = {
            "off": RouterProcess(f"sqlite:///{folder}/off.db", f"{folder}/off.log"),
            "traced": RouterProcess(
                f"sqlite:///{folder}/on.db", f"{folder}/on.log", environment=traced
            ),
        }
        try:
            for router in routers.values():
                router.start()
                asyncio.run(prepare(router))
            for round_ in range(args.rounds):
                order = list(routers) if round_ % 2 == 0 else list(reversed(routers))
                for name in order:
                    rate = asyncio.run(measure(routers[name], args.events))
                    figures.setdefault(name, []).append(rate)
                    print(f"round {round_ + 1}: publish, {name}: {rate:,.0f} events/s", flush=True)
        finally:
            for router in routers.values():
                router.stop(60)
        spans = len(receiver.spans)
    off, on = statistics.median(figures["off"]), statistics.median(figures["traced"])
    print(f"\npublish (events/s): off {off:,.0f}, traced {on:,.0f}")
    print(f"ratio traced / off: {on / off:.3f} (medians of {args.rounds} rounds)")
    print(f"spans exported by the traced router: {spans:,}")


if __name__ == "__main__":
    main()
