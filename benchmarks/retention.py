"""What removing the oldest events costs while publishing: publish throughput, and the p99 of
one-batch publishes, with retention trimming continuously against the same router without
retention, in the same run, on SQLite and PostgreSQL.

    just bench-retention                     # both stores, 3 rounds
    python -m benchmarks.retention --stores sqlite --rounds 1

Each measurement starts a fresh router (one with ``--retain-for 2s``, one keeping everything),
fills it for a few seconds so that the retained one removes events all through the measurement,
then publishes a stream of events and, separately, single 50-event batches one after another
(their latencies give the p99). The two routers take turns, the order flipping each round.
Figures are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time

from router.client import OutgoingEvent, RouterClient
from tests.helpers.databases import database_url
from tests.helpers.server import RouterProcess

from .core import announce, publish_stream, rounds_parser

FILL_S = 4.0
CALLS = 2_000


async def run_once(router: RouterProcess, events: int) -> tuple[float, float, int]:
    """(stream events/s, p99 of a 50-event publish in ms, events removed meanwhile)."""
    async with RouterClient(router.address) as client:
        await client.create_exchange("bench", ["bench.#"])
        ends = time.monotonic() + FILL_S
        while time.monotonic() < ends:  # fill past the 2 s window: removal runs from here on
            await publish_stream(client, 20_000)
        before = (await client.server_info()).removed_events
        rate = events / await publish_stream(client, events)
        latencies = []
        batch = [OutgoingEvent("bench.event", b"x" * 200) for _ in range(50)]
        for _ in range(CALLS):
            began = time.perf_counter()
            await client.publish(batch)
            latencies.append(time.perf_counter() - began)
        removed = (await client.server_info()).removed_events - before
    p99 = statistics.quantiles(latencies, n=100)[98] * 1000
    return rate, p99, removed


def measure(
    store: str, folder: str, retained: bool, events: int, round_: int
) -> tuple[float, float, int]:
    name = f"{store}-{'retained' if retained else 'all'}-{round_}"
    os.makedirs(os.path.join(folder, name), exist_ok=True)
    with database_url(store, os.path.join(folder, name)) as url:
        extra = ("--retain-for", "2s") if retained else ()
        router = RouterProcess(url, os.path.join(folder, f"{name}.log"), None, *extra).start()
        try:
            return asyncio.run(run_once(router, events))
        finally:
            router.stop(60)


def main() -> None:
    parser = rounds_parser(__doc__)
    parser.add_argument("--stores", default="sqlite,postgres")
    args = parser.parse_args()
    announce("retention benchmark")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for store in args.stores.split(","):
            figures: dict[bool, list[tuple[float, float, int]]] = {True: [], False: []}
            for round_ in range(args.rounds):
                for retained in (False, True) if round_ % 2 == 0 else (True, False):
                    found = measure(store, folder, retained, args.events, round_)
                    figures[retained].append(found)
                    label = "trimming" if retained else "keep all"
                    print(
                        f"{store} round {round_ + 1} {label}: {found[0]:,.0f} events/s,"
                        f" p99 {found[1]:.1f} ms, removed meanwhile {found[2]:,}",
                        flush=True,
                    )
            keep = [statistics.median(f[i] for f in figures[False]) for i in (0, 1)]
            trim = [statistics.median(f[i] for f in figures[True]) for i in (0, 1)]
            removed = statistics.median(f[2] for f in figures[True])
            rows.append((store, keep, trim, removed))
    print(f"\n{'store':10}{'keep all':>12}{'trimming':>12}{'ratio':>8}{'p99 ms':>16}{'ratio':>8}")
    for store, keep, trim, removed in rows:
        print(
            f"{store:10}{keep[0]:>12,.0f}{trim[0]:>12,.0f}{trim[0] / keep[0]:>8.3f}"
            f"{keep[1]:>8.1f}/{trim[1]:<7.1f}{trim[1] / keep[1]:>8.2f}"
            f"   (removed {removed:,.0f} while measured)"
        )
    print(
        "(medians; events/s of a publish stream; p99 of a 50-event publish; ratio = trimming / keep all)"
    )


if __name__ == "__main__":
    main()
