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

import asyncio
import statistics
import tempfile
import time

from router.client import RouterClient
from router.core.ids import uuid7
from tests.helpers.otlp import OtlpReceiver
from tests.helpers.server import RouterProcess

from .core import BATCH, announce, publish_stream, rounds_parser


def calls_alone(sampled: bool, calls: int = 2_000) -> float:
    """Microseconds the router's tracing adds to one publish call of BATCH events, its acks
    included (this process, spans exported to nowhere)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON

    from router.core.model import Acks, NewEvent
    from router.observe.tracing import Tracing
    from storage.base import EventOutcome

    tracing = Tracing(TracerProvider(sampler=ALWAYS_ON if sampled else ALWAYS_OFF))
    events = [NewEvent(uuid7(), "bench.event", b"x" * 200) for _ in range(BATCH)]
    outcomes = [EventOutcome(n + 1, False, ((1, n + 1),)) for n in range(BATCH)]
    acks = Acks([e.id for e in events], outcomes, {1: "bench"}, time.time_ns())
    began = time.perf_counter()
    for _ in range(calls):
        _, span = tracing.publishing(events, {})
        tracing.finished(span, acks, False)
    return (time.perf_counter() - began) / calls * 1e6


async def measure(router: RouterProcess, events: int) -> float:
    async with RouterClient(router.address) as client:
        return events / await publish_stream(client, events)


async def prepare(router: RouterProcess) -> None:
    async with RouterClient(router.address) as client:
        await client.create_exchange("bench", ["bench.#"])


def main() -> None:
    parser = rounds_parser(__doc__)
    parser.add_argument("--ratio", type=float, default=0.01, help="traces sampled (0..1)")
    args = parser.parse_args()
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
    for sampled in (False, True):
        print(
            f"the tracing calls alone, a publish of {BATCH} events"
            f" {'sampled' if sampled else 'not sampled'}: {calls_alone(sampled):.1f} us"
        )


if __name__ == "__main__":
    main()
