"""A bounded soak of retention: a publisher at a steady rate for RUN_S into a router that keeps a
sixth of it (20 s of 120 s), a live subscriber, and one that sleeps for half of it. The store
stops growing once it holds a window's worth, the live subscriber gets every event, and the
sleeper is told exactly what was removed before it came back.

RUN_S is 120 s (FAULTS_SOAK_S to change it): `just faults` runs that and writes the figures to
docs/reliability.md; `just test` runs 36 s (a 6 s window, a sleep of 18 s), the same story and
the same checks in less time."""

from __future__ import annotations

import asyncio
import itertools
import os
import time

from router.client import OutgoingEvent, RouterClient
from storage import open_storage
from tests.helpers.polling import until
from tests.helpers.server import RouterProcess

RATE = 500  # events a second, in batches of 50
RUN_S = float(os.environ.get("FAULTS_SOAK_S", "120"))
SLEEP_S = RUN_S / 2
RETAIN_S = RUN_S / 6


def store_bytes(db_url: str) -> int:
    """What the router's tables take on disk: the SQLite file and its WAL, or PostgreSQL's
    tables (every events partition, the exchange log, the id index) with their indexes."""
    if db_url.startswith("sqlite"):
        path = db_url.removeprefix("sqlite:///")
        return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))
    store = open_storage(db_url)
    try:
        return store.log_bytes()
    finally:
        store.close()


def test_a_steady_publisher_keeps_the_store_bounded(db_url: str, tmp_path: object) -> None:
    router = RouterProcess(db_url, f"{tmp_path}/router.log", None, "--retain-for", f"{RETAIN_S:g}s")
    router.start()
    sizes: dict[str, int] = {}
    live: list[int] = []
    published = 0

    async def publish(client: RouterClient, until: float) -> None:
        nonlocal published
        tick = time.monotonic()
        while time.monotonic() < until:
            batch = [OutgoingEvent("order.created", b"x" * 200) for _ in range(50)]
            await client.publish(batch)
            published += len(batch)
            tick += 50 / RATE
            await asyncio.sleep(max(0.0, tick - time.monotonic()))  # pacing the steady rate

    async def consume(client: RouterClient) -> None:
        async with client.subscribe("orders", "live", "earliest") as subscription:
            async for batch in subscription:
                live.extend(e.offset for e in batch)
                await subscription.ack(batch[-1].offset)

    async def story() -> tuple[list[tuple[int, int, str]], int, int, int]:
        async with RouterClient(router.address) as client:
            await client.create_exchange("orders", ["order.*"])
            await client.publish([OutgoingEvent("order.created", b"first")])
            async with client.subscribe("orders", "sleeper", "earliest") as subscription:
                batch = await subscription.__anext__()
                await subscription.ack(batch[0].offset)
                await subscription.leave()
            nonlocal published
            published = 1
            began = time.monotonic()
            publisher = asyncio.ensure_future(publish(client, began + RUN_S))
            consumer = asyncio.ensure_future(consume(client))
            await asyncio.sleep(SLEEP_S)  # the sleeper is away this long: the point of the test
            sizes["asleep"] = store_bytes(db_url)
            got: list[int] = []
            async with client.subscribe("orders", "sleeper") as subscription:
                first = await subscription.__anext__()
                got.extend(e.offset for e in first)
                gaps = [(g.from_offset, g.to_offset, g.reason) for g in subscription.gaps]
                await subscription.leave()
            tail = (await client.describe_exchange("orders")).first_offset
            await publisher
            sizes["at_end"] = store_bytes(db_url)

            async def caught_up() -> bool:
                return bool(live) and live[-1] == published

            await until(caught_up, timeout=60)
            consumer.cancel()
            info = await client.server_info()
            assert tail > 1
            return gaps, got[0], info.first_seq, tail

    try:
        gaps, woke_at, first_seq, tail = asyncio.run(story())
    finally:
        router.stop()
    assert live == list(range(1, published + 1))  # the live one lost nothing
    # The sleeper is told what was removed from offset 2 on (it had acked 1) and resumes right
    # after it. A removal step that lands while it attaches (between its notice and its first
    # read) is told as a further notice that starts where the last one ended: each notice covers
    # only removed offsets (all below the tail), so the notices together cover 2..woke_at-1,
    # with no kept event skipped (tests/actors/test_trim_during_attach.py pins that race).
    assert gaps and gaps[0][0] == 2, gaps
    assert all(reason == "retention" for *_, reason in gaps), gaps
    assert all(later[0] == sooner[1] + 1 for sooner, later in itertools.pairwise(gaps)), gaps
    assert woke_at == gaps[-1][1] + 1 <= tail, (gaps, woke_at, tail)
    assert first_seq > 1
    growth = sizes["at_end"] / sizes["asleep"]
    print(
        f"\nsoak {db_url.split(':')[0]}: published {published} at {RATE}/s for {RUN_S:.0f} s,"
        f" store {sizes['asleep'] / 1e6:.1f} MB at {SLEEP_S:.0f} s,"
        f" {sizes['at_end'] / 1e6:.1f} MB at the end ({growth:.2f}x);"
        f" sleeper told {[g[:2] for g in gaps]}, resumed at {woke_at}"
    )
    assert growth <= 1.3, sizes
