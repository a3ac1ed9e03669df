"""What checking grants and quotas costs: publish throughput and end to end as a user holding 50
grants (and a rate quota it stays under) against the admin token, in the same run.

    just bench-grants                      # SQLite, 200,000 events a measurement, 3 rounds
    python -m benchmarks.grants --events 50000 --rounds 2

One `router serve` process on a fresh SQLite file; the two users take turns (the order flips
each round) so that drift of the machine falls on both. Prints each round and the medians'
ratio (granted / admin; 1.0 means checking costs nothing). Figures are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
from collections.abc import Awaitable, Callable

from router._proto.router.v1 import router_pb2 as pb
from router.client import RouterClient
from tests.helpers.server import ADMIN_TOKEN, RouterProcess

from .core import announce, end_to_end, publish_stream, rounds_parser

Measure = Callable[[RouterClient, int], Awaitable[float]]


def fifty_grants() -> list[pb.Grant]:
    """What a user in a shared router may hold: its own types and exchanges among other teams'
    denied ones. Only ``publish bench.#`` and ``consume bench`` match what the benchmark does."""
    grants = [
        pb.Grant(action="publish", pattern="bench.#"),
        pb.Grant(action="consume", pattern="bench"),
    ]
    for team in range(16):
        grants.append(pb.Grant(action="publish", pattern=f"team{team}.*.created"))
        grants.append(pb.Grant(action="consume", pattern=f"team{team}-*"))
        grants.append(pb.Grant(action="manage", pattern=f"team{team}-*", deny=team % 2 == 0))
    return grants


async def prepare(router: RouterProcess) -> str:
    async with RouterClient(router.address) as admin:
        await admin.create_exchange("bench", ["bench.#"])
        token = (await admin.add_user("granted", "consumer")).token.token
        await admin.revoke_grants("granted", [pb.Grant(action="consume", pattern="*")])
        user = await admin.add_grants("granted", fifty_grants())
        assert len(user.grants) == 50, len(user.grants)
        # A quota it stays under, so that the rate check runs on every publish.
        await admin.set_quotas("granted", events_per_s=10_000_000, bytes_per_s=10_000_000_000)
    return token


async def measure(router: RouterProcess, token: str, run: Measure, events: int) -> float:
    async with RouterClient(router.address, token=token) as client:
        return events / await run(client, events)


def main() -> None:
    parser = rounds_parser(__doc__)
    args = parser.parse_args()
    announce("grants benchmark")
    with tempfile.TemporaryDirectory() as folder:
        router = RouterProcess(
            f"sqlite:///{folder}/grants.db", os.path.join(folder, "router.log")
        ).start()
        try:
            token = asyncio.run(prepare(router))
            users = {"admin": ADMIN_TOKEN, "50 grants": token}
            tests: dict[str, Measure] = {
                "publish (events/s)": publish_stream,
                "end to end (events/s)": end_to_end,
            }
            figures: dict[tuple[str, str], list[float]] = {}
            for round_ in range(args.rounds):
                order = list(users) if round_ % 2 == 0 else list(reversed(users))
                for name, run in tests.items():
                    for who in order:
                        rate = asyncio.run(measure(router, users[who], run, args.events))
                        figures.setdefault((name, who), []).append(rate)
                        print(f"round {round_ + 1}: {name} as {who}: {rate:,.0f}", flush=True)
        finally:
            router.stop(60)
    print(f"\n{'':24}{'admin':>12}{'50 grants':>12}{'ratio':>8}")
    for name in tests:
        admin = statistics.median(figures[(name, "admin")])
        granted = statistics.median(figures[(name, "50 grants")])
        print(f"{name:24}{admin:>12,.0f}{granted:>12,.0f}{granted / admin:>8.3f}")
    print("(medians of the rounds; ratio = 50 grants / admin)")


if __name__ == "__main__":
    main()
