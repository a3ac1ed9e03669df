"""A router SIGKILLed while it removes the oldest events leaves a consistent store: no exchange-log
row pointing at a removed event, the horizon where the last committed step put it (never
behind), and a subscriber behind it told by a gap notice, then given every kept event once."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from router.client import OutgoingEvent, RouterClient
from storage import open_storage
from tests.helpers.polling import until
from tests.helpers.server import RouterProcess

TOTAL = 30_000
BEFORE = 25_001


def events(count: int, start: int) -> list[OutgoingEvent]:
    return [
        OutgoingEvent("order.created", b"x" * 200 + str(start + n).encode()) for n in range(count)
    ]


def trim_command(router: RouterProcess, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "router",
        "--server",
        router.address,
        "log",
        "trim",
        "--before",
        f"seq:{BEFORE}",
        *extra,
    ]


def check_store(db_url: str) -> tuple[int, dict[str, int]]:
    """The store's horizon and first kept offsets, after checking they agree with its rows."""
    store = open_storage(db_url)
    try:
        store.migrate()
        horizon = store.horizon()
        with store._control() as run:  # type: ignore[attr-defined]
            ((dangling,),) = run(
                "SELECT count(*) FROM exchange_log l WHERE NOT EXISTS"
                " (SELECT 1 FROM events e WHERE e.seq = l.seq)",
                (),
            )
            ((low, high, count),) = run("SELECT min(seq), max(seq), count(*) FROM events", ())
            firsts = {
                str(name): (int(first_kept), int(lowest or first_kept))
                for name, first_kept, lowest in run(
                    "SELECT x.name, x.first_kept, min(l.exchange_offset) FROM exchanges x"
                    " LEFT JOIN exchange_log l ON l.exchange_id = x.id GROUP BY x.name, x.first_kept",
                    (),
                )
            }
    finally:
        store.close()
    assert dangling == 0
    assert (low, high, count) == (horizon.first_seq, TOTAL, TOTAL - horizon.first_seq + 1)
    assert all(kept == lowest for kept, lowest in firsts.values()), firsts
    return horizon.first_seq, {name: kept for name, (kept, _) in firsts.items()}


def test_sigkill_during_a_trim_leaves_a_consistent_store(db_url: str, tmp_path: object) -> None:
    log = f"{tmp_path}/router.log"
    router = RouterProcess(db_url, log).start()

    async def fill() -> None:
        async with RouterClient(router.address) as client:
            await client.create_exchange("orders", ["order.*"])
            await client.create_exchange("all", ["#"])
            for start in range(0, TOTAL, 1_000):
                await client.publish(events(1_000, start))
            async with client.subscribe("orders", "sleeper", "earliest") as subscription:
                batch = await subscription.__anext__()
                await subscription.ack(batch[99].offset)  # acked 1..100, then it sleeps
                await subscription.leave()

    async def kill_mid_trim() -> int:
        seen = 1
        async with RouterClient(router.address) as client:

            async def moving() -> bool:
                nonlocal seen
                seen = (await client.server_info()).first_seq
                return 3_000 < seen < BEFORE

            await until(moving, timeout=60)
        router.kill()  # steps are being sent back to back: one is running or next
        return seen

    try:
        asyncio.run(fill())
        trim = subprocess.Popen(
            trim_command(router, "--step", "1000"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            seen = asyncio.run(kill_mid_trim())
        finally:
            trim.wait(30)
        horizon, firsts = check_store(db_url)
        assert seen <= horizon <= BEFORE  # never behind what was seen committed
        assert firsts["orders"] == firsts["all"] == horizon  # both take every event

        router.start()

        async def after() -> None:
            async with RouterClient(router.address) as client:
                assert (await client.server_info()).first_seq == horizon
                got: list[int] = []
                async with client.subscribe("orders", "sleeper") as subscription:
                    async for batch in subscription:
                        got.extend(e.offset for e in batch)
                        await subscription.ack(batch[-1].offset)
                        if got[-1] == TOTAL:
                            break
                    gaps = [(g.from_offset, g.to_offset) for g in subscription.gaps]
                assert gaps == [(101, horizon - 1)]
                assert got == list(range(horizon, TOTAL + 1))

        asyncio.run(after())
        done = subprocess.run(trim_command(router), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    finally:
        router.stop()
    assert check_store(db_url)[0] == BEFORE
