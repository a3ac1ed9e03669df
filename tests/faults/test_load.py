"""Load: 2,000 subscribe streams open at once and 50 publishers for 60 s (FAULTS_LOAD_S to change
the length). No call fails, every stream gets its exchange's events gap-free and in order, and
the router's memory stays bounded."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from typing import Any

import attrs

from router.client import OutgoingEvent, RouterClient
from tests.helpers.polling import until
from tests.helpers.report import record, rss_mb
from tests.helpers.server import RouterProcess

STREAMS = 2_000
PUBLISHERS = 50
EXCHANGES = 100
# HTTP/2 lets a connection carry 100 streams at once (the server's MAX_CONCURRENT_STREAMS), so
# the streams are spread over 25 connections of 80, and publishers and admin calls have their own.
CONNECTIONS = 25
PUBLISHER_CONNECTIONS = 5
RUN_S = float(os.environ.get("FAULTS_LOAD_S", "60"))


@attrs.define
class Tally:
    errors: list[str] = attrs.Factory(list)
    published: dict[int, int] = attrs.Factory(dict)  # exchange -> events acked
    reached: dict[str, int] = attrs.Factory(dict)  # stream -> last offset
    broken: list[str] = attrs.Factory(list)  # streams that saw a gap or a repeat
    open: list[Any] = attrs.Factory(list)  # the subscriptions, for heartbeats
    stop: asyncio.Event = attrs.Factory(asyncio.Event)


async def publisher(client: RouterClient, tally: Tally, seed: int) -> None:
    rng = random.Random(seed)
    try:
        while not tally.stop.is_set():
            k = rng.randrange(EXCHANGES)
            batch = [OutgoingEvent(f"load.t{k}", b"x" * 200) for _ in range(10)]
            await client.publish(batch, timeout=30)
            tally.published[k] = tally.published.get(k, 0) + len(batch)
            await asyncio.sleep(0.5)  # pacing: 50 publishers x 20 events/s
    except Exception as error:  # every failure counts; none is expected
        tally.errors.append(f"publisher {seed}: {type(error).__name__}: {error}")


async def stream(client: RouterClient, tally: Tally, index: int) -> None:
    name = f"sub{index}"
    exchange = f"x{index % EXCHANGES}"
    try:
        async with client.subscribe(exchange, name, "latest") as subscription:
            tally.open.append(subscription)
            expected = subscription.start_offset
            async for batch in subscription:
                offsets = [e.offset for e in batch]
                if offsets != list(range(expected, expected + len(offsets))):
                    tally.broken.append(name)
                expected = offsets[-1] + 1
                tally.reached[name] = offsets[-1]
                await subscription.ack(offsets[-1])
    except asyncio.CancelledError:
        raise
    except Exception as error:
        tally.errors.append(f"{name}: {type(error).__name__}: {error}")


async def heartbeats(tally: Tally) -> None:
    """What a real consumer does while it has nothing to ack (the router's timeout is 30 s)."""
    while True:
        await asyncio.sleep(5.0)  # the heartbeat period
        for subscription in list(tally.open):
            with contextlib.suppress(Exception):
                await subscription.heartbeat()


def test_two_thousand_streams_and_fifty_publishers(sqlite_url: str, tmp_path: object) -> None:
    router = RouterProcess(sqlite_url, f"{tmp_path}/router.log").start()
    assert router.process is not None
    pid = router.process.pid
    tally = Tally()
    rss: list[float] = []

    async def scenario() -> dict[str, float]:
        clients = [RouterClient(router.address) for _ in range(CONNECTIONS)]
        senders = [RouterClient(router.address) for _ in range(PUBLISHER_CONNECTIONS)]
        admin = RouterClient(router.address)
        try:
            for k in range(EXCHANGES):
                await admin.create_exchange(f"x{k}", [f"load.t{k}"])
            idle_rss = rss_mb(pid)
            streams = [
                asyncio.ensure_future(stream(clients[i % CONNECTIONS], tally, i))
                for i in range(STREAMS)
            ]

            async def all_attached() -> bool:
                return len(await admin.list_subscribers()) >= STREAMS

            beating = asyncio.ensure_future(heartbeats(tally))
            attach_began = time.monotonic()
            await until(all_attached, timeout=120)
            attached_after = time.monotonic() - attach_began
            attached_rss = rss_mb(pid)
            publishers = [
                asyncio.ensure_future(publisher(senders[i % PUBLISHER_CONNECTIONS], tally, i))
                for i in range(PUBLISHERS)
            ]
            end = time.monotonic() + RUN_S
            while time.monotonic() < end:
                await asyncio.sleep(1.0)  # RSS sampling period
                rss.append(rss_mb(pid))
            tally.stop.set()
            await asyncio.gather(*publishers)
            heads = await _heads(admin)

            async def every_stream_at_its_head() -> bool:
                return all(
                    tally.reached.get(f"sub{i}", 0) >= heads[i % EXCHANGES] for i in range(STREAMS)
                )

            try:
                await until(every_stream_at_its_head, timeout=60)
            except AssertionError:
                behind = {
                    f"sub{i}": (tally.reached.get(f"sub{i}", 0), heads[i % EXCHANGES])
                    for i in range(STREAMS)
                    if tally.reached.get(f"sub{i}", 0) < heads[i % EXCHANGES]
                }
                raise AssertionError(
                    f"{len(behind)} streams behind, e.g. {list(behind.items())[:5]};"
                    f" errors {tally.errors[:3]}"
                ) from None
            for task in [*streams, beating]:
                task.cancel()
            for task in [*streams, beating]:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            return {
                "idle_rss": idle_rss,
                "attached_rss": attached_rss,
                "attached_after_s": attached_after,
            }
        finally:
            for client in [*clients, *senders, admin]:
                client.close()

    try:
        figures = asyncio.run(scenario())
        log = router.log()
    finally:
        router.stop()
    assert not tally.errors, tally.errors[:5]
    assert not tally.broken, f"{len(tally.broken)} streams saw a gap or a repeat"
    assert "Traceback" not in log
    per_stream_kb = (figures["attached_rss"] - figures["idle_rss"]) * 1024 / STREAMS
    assert max(rss) < 600, f"router RSS reached {max(rss):.0f} MB"
    total = sum(tally.published.values())
    record(
        "load: 2,000 streams, 50 publishers",
        run_s=RUN_S,
        streams=STREAMS,
        publishers=PUBLISHERS,
        events_published=total,
        deliveries=sum(tally.reached.values()),
        errors=len(tally.errors),
        attached_in_s=round(figures["attached_after_s"], 1),
        rss_idle_mb=round(figures["idle_rss"]),
        rss_attached_mb=round(figures["attached_rss"]),
        rss_max_mb=round(max(rss)),
        rss_mb_every_5s=[round(mb) for mb in rss[::5]],
        rss_per_stream_kb=round(per_stream_kb),
    )


async def _heads(client: RouterClient) -> dict[int, int]:
    return {
        int(e.name[1:]): e.head_offset
        for e in await client.list_exchanges()
        if e.name.startswith("x")
    }
