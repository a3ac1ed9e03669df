"""Hostile consumers against one real router: a settle naming millions of offsets, Subscribe
streams that never read over large events, and pulls of one event over large events. The router
answers /healthz meanwhile, and its memory stays within a bound that does not grow with what the
consumers name or leave unread (and comes back once they leave)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from router._proto.router.v1 import router_pb2 as pb
from router.client import OutgoingEvent, RouterClient
from router.client.client import start_point
from tests.helpers.polling import until
from tests.helpers.report import record, rss_mb
from tests.helpers.server import ADMIN_TOKEN, RouterProcess, running_router

LARGE = 1_000_000  # a payload of about 1 MB (the default largest is 1 MiB)
MIB = 1024 * 1024


@pytest.fixture
def router(sqlite_url: str, tmp_path: object) -> Iterator[RouterProcess]:
    with running_router(sqlite_url, str(tmp_path)) as process:
        yield process


def rss(router: RouterProcess) -> float:
    assert router.process is not None
    return rss_mb(router.process.pid)


async def publish_large(client: RouterClient, count: int) -> None:
    for _ in range(count):  # one a message: a message holds at most 4 MiB
        await client.publish([OutgoingEvent("order.created", b"x" * LARGE)], timeout=30)


class HealthWatch:
    """Polls /healthz back to back on its own connection; the slowest answer is kept (and a
    request still waiting when the watch stops counts for as long as it has waited)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.slowest_s = 0.0
        self.answers = 0
        self._asked_at: float | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if self._asked_at is not None:
            self.slowest_s = max(self.slowest_s, time.monotonic() - self._asked_at)

    async def _run(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=60) as http:
            while True:
                self._asked_at = time.monotonic()
                response = await http.get("/healthz")
                assert response.status_code == 200
                self.slowest_s = max(self.slowest_s, time.monotonic() - self._asked_at)
                self._asked_at = None
                self.answers += 1
                await asyncio.sleep(0.05)  # polling period of the watch


async def unsettled(client: RouterClient, name: str) -> Any:
    (found,) = [s for s in await client.list_subscribers("orders") if s.name == name]
    return found


@pytest.mark.parametrize("mode", ["shared", "exclusive"])
def test_a_settle_naming_millions_of_offsets_is_answered_in_a_few_notices(
    router: RouterProcess, mode: str
) -> None:
    """50 ranges of 100,000 offsets a message, none held: refused by range arithmetic, told
    once per reason, while /healthz keeps answering."""
    messages = 5

    async def story() -> dict[str, Any]:
        async with RouterClient(router.address, token=ADMIN_TOKEN) as client:
            await client.create_exchange("orders", ["order.#"])
            await client.publish([OutgoingEvent("order.created", b"{}") for _ in range(20)])
            shared = pb.SubscriberSettings(mode=mode, prefetch=4)
            rejected: list[pb.SettleRejected] = []
            async with client.subscribe("orders", "billing", "earliest", settings=shared) as sub:
                sub.on_rejected = rejected.append
                held: list[int] = []
                while len(held) < 4:  # the whole window (an exclusive one goes out in halves),
                    # so that no batch waits in the outbox: its room is the notices'
                    held += [event.offset for event in await sub.__anext__()]
                before = rss(router)
                watch = HealthWatch(router.http)
                watch.start()
                await until(lambda: _answered(watch), timeout=10)
                huge = [(1_000_001 + 100_000 * i, 1_000_000 + 100_000 * (i + 1)) for i in range(50)]
                began = time.monotonic()
                for _ in range(messages):
                    await sub.settle(*huge)
                await sub.settle(held[0])  # a real one, behind them: taken once they are

                async def taken() -> bool:
                    return (await unsettled(client, "billing")).acked_offset >= held[0]

                await until(taken, timeout=120)
                took_s = time.monotonic() - began
                peak = rss(router)
                await watch.stop()
                # the notices its outbox had room for come before the next batch
                await client.publish([OutgoingEvent("order.created", b"{}")])
                await asyncio.wait_for(sub.__anext__(), timeout=30)
        return {
            "messages": messages,
            "offsets_named": messages * 50 * 100_000,
            "processed_s": round(took_s, 2),
            "healthz_slowest_s": round(watch.slowest_s, 3),
            "healthz_answers": watch.answers,
            "rss_before_mb": round(before),
            "rss_growth_mb": round(peak - before, 1),
            "notices": len(rejected),
            "codes": sorted({r.code for r in rejected}),
        }

    figures = asyncio.run(story())
    record(f"large settle ({mode})", **figures)
    assert figures["healthz_slowest_s"] < 1.0, figures
    assert figures["rss_growth_mb"] < 50, figures
    assert figures["codes"] == ["never_delivered"]
    assert 1 <= figures["notices"] <= 8  # its outbox's room: the rest are dropped, not queued


async def _settled_below(router: RouterProcess, mb: float) -> bool:
    """Whether the router's RSS is below ``mb`` (what closed streams freed is given back to the
    system within about a second)."""
    return rss(router) < mb


async def _answered(watch: HealthWatch) -> bool:
    return watch.answers > 0


async def silent_stream(client: RouterClient, name: str) -> Any:
    """A Subscribe stream that sends its start and never reads a byte after."""
    stream = client._connection.subscriber.Subscribe.open(metadata=client._metadata)
    await stream.__aenter__()
    start = pb.SubscribeStart(exchange="orders", subscriber=name, start=start_point("earliest"))
    await stream.send_message(pb.SubscribeRequest(start=start))
    return stream


def test_streams_that_never_read_large_events_hold_bounded_memory_released_when_closed(
    router: RouterProcess,
) -> None:
    streams_count, events = 20, 60

    async def story() -> dict[str, Any]:
        async with RouterClient(router.address, token=ADMIN_TOKEN) as client:
            await client.create_exchange("orders", ["order.#"])
            await publish_large(client, events)
        before = rss(router)
        # The silent streams on their own connection: the window they leave unread is that
        # connection's, and the admin calls below go on another.
        silent = RouterClient(router.address, token=ADMIN_TOKEN)
        await silent.__aenter__()
        async with RouterClient(router.address, token=ADMIN_TOKEN) as client:
            streams = [await silent_stream(silent, f"silent{n}") for n in range(streams_count)]
            names = {f"silent{n}" for n in range(streams_count)}
            seen: dict[str, int] = {}
            changed_at = [time.monotonic()]

            async def all_stalled() -> bool:
                """Every stream's subscriber has delivered something, and none moved for 2 s."""
                found = {
                    s.name: s.delivered_offset
                    for s in await client.list_subscribers("orders")
                    if s.name in names
                }
                if found != seen:
                    seen.clear()
                    seen.update(found)
                    changed_at[0] = time.monotonic()
                    return False
                quiet_s = time.monotonic() - changed_at[0]
                return len(found) == streams_count and min(found.values()) > 0 and quiet_s >= 2

            await until(all_stalled, timeout=90)
            held = rss(router)
            delivered = sorted(seen.values())
            for stream in streams:  # reset, as a client that gives up does
                await stream.cancel()

            async def asleep() -> bool:
                found = [s for s in await client.list_subscribers("orders") if s.name in names]
                return all(s.state == "sleeping" for s in found)

            await until(asleep, timeout=60)
            # given back within a second or two of the resets: what stays is the router's own
            await until(lambda: _settled_below(router, before + 100), timeout=10)
            closed = rss(router)
        await silent.__aexit__(None, None, None)
        return {
            "streams": streams_count,
            "events": events,
            "event_bytes": LARGE,
            "delivered_per_stream": [delivered[0], delivered[-1]],
            "rss_before_mb": round(before),
            "rss_held_mb": round(held),
            "rss_growth_mb": round(held - before, 1),
            "rss_after_close_mb": round(closed),
            "rss_left_after_close_mb": round(closed - before, 1),
        }

    figures = asyncio.run(story())
    record("streams that never read", **figures)
    assert figures["delivered_per_stream"][1] < events  # they really stopped being sent to
    assert figures["rss_growth_mb"] < 300, figures  # 20 streams: about 6-10 MB each
    assert figures["rss_left_after_close_mb"] < 100, figures


def test_pulls_of_one_large_event_read_no_more_than_they_return(router: RouterProcess) -> None:
    events = 30

    async def setup() -> None:
        async with RouterClient(router.address, token=ADMIN_TOKEN) as client:
            await client.create_exchange("orders", ["order.#"])
            await publish_large(client, events)

    asyncio.run(setup())
    headers = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    before = rss(router)
    peak = before
    with httpx.Client(base_url=router.http, headers=headers, timeout=60) as http:

        def pull(name: str, **query: Any) -> list[dict[str, Any]]:
            response = http.get(f"/v1/exchanges/orders/subscribers/{name}/events", params=query)
            assert response.status_code == 200, response.text
            found: list[dict[str, Any]] = response.json()["events"]
            return found

        for round_ in range(4):  # unacked: each pull gets the first event again
            for n in range(4):
                start = "earliest" if round_ == 0 else "stored"
                got = pull(f"single{n}", max=1, **{"from": start})
                assert [e["offset"] for e in got] == [1]
                peak = max(peak, rss(router))
        many = pull("many", max=200, **{"from": "earliest"})
        assert len(many) == 4  # the default budget: 4 MiB, so four events of 1 MB
        wide = pull("wide", max=200, max_bytes=str(8 * MIB), **{"from": "earliest"})
        assert len(wide) == 8
        one = pull("tight", max=200, max_bytes="10", **{"from": "earliest"})
        assert len(one) == 1  # at least one, however large
        refused = http.get("/v1/exchanges/orders/subscribers/x/events", params={"max_bytes": "0"})
        assert refused.status_code == 400 and "max_bytes" in refused.text
        peak = max(peak, rss(router))
    growth = peak - before
    record(
        "pulls of one large event",
        events=events,
        event_bytes=LARGE,
        pulls=16,
        rss_before_mb=round(before),
        rss_peak_growth_mb=round(growth, 1),
    )
    assert growth < 150, f"router RSS grew by {growth:.0f} MB for pulls of one event"
