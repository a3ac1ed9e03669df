"""Slow and vanishing consumers: a consumer that takes one event a second does not grow the
router's memory nor hold the others back; a consumer process that is frozen (SIGSTOP) without
closing anything is put to sleep after the consumer timeout, with its cursor saved."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time

from grpclib.exceptions import GRPCError, StreamTerminatedError

from router.client import OutgoingEvent, RouterClient
from tests.helpers.polling import until
from tests.helpers.report import record, rss_mb
from tests.helpers.server import RouterProcess

RUN_S = 20.0
FAST = 3


async def publish_for(address: str, seconds: float, published: list[int]) -> None:
    async with RouterClient(address) as client:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            batch = [OutgoingEvent("order.created", b"x" * 200) for _ in range(200)]
            await client.publish(batch)
            published[0] += len(batch)
            await asyncio.sleep(0.02)  # pacing: about 10,000 events/s at most


async def fast_consumer(address: str, name: str, got: dict[str, int]) -> None:
    async with (
        RouterClient(address) as client,
        client.subscribe("orders", name, "earliest", limit_size=2_000) as subscription,
    ):
        async for batch in subscription:
            got[name] = batch[-1].offset
            await subscription.ack(batch[-1].offset)


async def slow_consumer(address: str, got: dict[str, int]) -> None:
    """Takes one event a second, acking each."""
    async with (
        RouterClient(address) as client,
        client.subscribe("orders", "slow", "earliest", limit_size=2_000) as subscription,
    ):
        async for batch in subscription:
            for event in batch:
                await asyncio.sleep(1.0)  # the slow consumer's whole point
                got["slow"] = event.offset
                await subscription.ack(event.offset)


def test_a_slow_consumer_keeps_memory_flat_and_does_not_hold_the_others_back(
    sqlite_url: str, tmp_path: object
) -> None:
    router = RouterProcess(sqlite_url, f"{tmp_path}/router.log").start()
    assert router.process is not None
    pid = router.process.pid
    samples: list[tuple[float, float]] = []
    got: dict[str, int] = {}
    published = [0]

    async def scenario() -> dict[str, float]:
        async with RouterClient(router.address) as client:
            await client.create_exchange("orders", ["order.*"])
        names = [f"fast{i}" for i in range(FAST)]
        consumers = [asyncio.ensure_future(fast_consumer(router.address, n, got)) for n in names]
        consumers.append(asyncio.ensure_future(slow_consumer(router.address, got)))
        began = time.monotonic()
        publisher = asyncio.ensure_future(publish_for(router.address, RUN_S, published))
        while not publisher.done():
            samples.append((time.monotonic() - began, rss_mb(pid)))
            await asyncio.sleep(1.0)  # RSS sampling period
        await publisher
        head = published[0]

        async def fast_ones_at_head() -> bool:
            return all(got.get(n, 0) >= head for n in names)

        await until(fast_ones_at_head, timeout=60)
        caught_up = time.monotonic() - began
        for task in consumers:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, GRPCError, StreamTerminatedError):
                await task
        return {"fast_caught_up_after_s": round(caught_up, 1), "head": head}

    try:
        figures = asyncio.run(scenario())
    finally:
        router.stop()
    settled = [mb for at, mb in samples if at >= 3.0]
    growth = max(settled) - min(settled)
    assert growth < 40, f"router RSS grew by {growth:.0f} MB while the slow consumer lagged"
    assert got["slow"] <= RUN_S + 5  # it really was slow
    record(
        "slow consumer",
        run_s=RUN_S,
        events=figures["head"],
        fast_consumers=FAST,
        fast_rate_events_per_s=round(figures["head"] / figures["fast_caught_up_after_s"]),
        fast_caught_up_after_s=figures["fast_caught_up_after_s"],
        slow_consumer_took=got["slow"],
        rss_mb_over_time=[round(mb) for _, mb in samples],
        rss_growth_after_3s_mb=round(growth, 1),
    )


def test_a_frozen_consumer_process_is_put_to_sleep_after_the_timeout(
    sqlite_url: str, tmp_path: object
) -> None:
    timeout_s = 2.0
    router = RouterProcess(
        sqlite_url, f"{tmp_path}/router.log", None, "--consumer-timeout", str(timeout_s)
    ).start()
    consumer: subprocess.Popen[bytes] | None = None

    async def state(client: RouterClient) -> tuple[str, int]:
        (view,) = [s for s in await client.list_subscribers("orders") if s.name == "frozen"]
        return view.state, view.acked_offset

    async def scenario() -> dict[str, float]:
        nonlocal consumer
        async with RouterClient(router.address) as client:
            await client.create_exchange("orders", ["order.*"])
            await client.publish([OutgoingEvent("order.created", b"{}") for _ in range(10)])
            consumer = await asyncio.to_thread(
                subprocess.Popen,
                [sys.executable, "-m", "router", "--server", router.address, "tail", "orders",
                 "--name", "frozen", "--from", "earliest"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            assert consumer is not None

            async def attached_and_acked() -> bool:
                views = [s for s in await client.list_subscribers("orders") if s.name == "frozen"]
                return bool(views) and views[0].state == "active" and views[0].acked_offset == 10

            await until(attached_and_acked, timeout=30)
            os.kill(consumer.pid, signal.SIGSTOP)  # gone without a word: no FIN, no RST
            frozen_at = time.monotonic()
            await client.publish([OutgoingEvent("order.created", b"{}") for _ in range(5)])

            async def sleeping() -> bool:
                return (await state(client))[0] == "sleeping"

            await until(sleeping, timeout=timeout_s + 20)
            slept_after = time.monotonic() - frozen_at
            _, acked = await state(client)
            assert acked == 10, "the cursor saved is what it acked before it froze"
            return {"slept_after_s": round(slept_after, 2)}

    try:
        figures = asyncio.run(scenario())
    finally:
        if consumer is not None:
            consumer.send_signal(signal.SIGKILL)
            os.kill(consumer.pid, signal.SIGCONT)
            consumer.wait(10)
        router.stop()
    assert figures["slept_after_s"] >= timeout_s * 0.9
    record(
        "frozen consumer (SIGSTOP)",
        consumer_timeout_s=timeout_s,
        put_to_sleep_after_s=figures["slept_after_s"],
        cursor_kept=10,
    )
