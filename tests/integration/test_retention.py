"""Retention over real gRPC, REST and the CLI, on both stores: a trim moves the horizon, and a
subscriber or read that starts before it resumes at it and is told (a gap notice), never skipped
silently."""

from __future__ import annotations

import asyncio
import datetime
import json
import urllib.request

import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from router._proto.router.v1 import router_pb2 as pb
from router.client import EventsRemoved, OutgoingEvent, RouterClient, raise_gap
from tests.helpers.polling import until
from tests.helpers.server import ADMIN_TOKEN, RouterProcess, assert_start_refused
from tests.helpers.server import router_cli as cli


def events(count: int, start: int = 0) -> list[OutgoingEvent]:
    return [OutgoingEvent("order.created", f"{start + n}".encode()) for n in range(count)]


async def first_batch(client: RouterClient, name: str, start: str) -> tuple[list[pb.Gap], int]:
    """The gap notices before the first batch, and the batch's first offset."""
    async with client.subscribe("orders", name, start) as subscription:
        batch = await subscription.__anext__()
        gaps = list(subscription.gaps)
        await subscription.ack(batch[-1].offset)
        await subscription.leave()
    return gaps, batch[0].offset


def pull(router: RouterProcess, name: str, start: str = "stored") -> dict[str, object]:
    path = f"/v1/exchanges/orders/subscribers/{name}/events?max=5&from={start}"
    found: dict[str, object] = json.loads(_get(router, path))
    return found


def _get(router: RouterProcess, path: str) -> str:
    request = urllib.request.Request(
        f"{router.http}{path}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.read().decode())


def test_a_trim_moves_the_horizon_and_those_behind_it_are_told(
    db_url: str, tmp_path: object
) -> None:
    router = RouterProcess(db_url, f"{tmp_path}/router.log").start()

    async def before_trim() -> int:
        async with RouterClient(router.address) as client:
            await client.create_exchange("orders", ["order.*"])
            await client.publish(events(100))
            gaps, first = await first_batch(client, "sleeper", "earliest")
            assert (gaps, first) == ([], 1)
            rest = await client.read("orders", "earliest", 10)
            assert rest[0][0].offset == 1
        return int(datetime.datetime.now(datetime.UTC).timestamp() * 1e6)

    async def after_trim(published_before: int) -> None:
        async with RouterClient(router.address) as client:
            info = await client.server_info()
            assert (info.first_seq, info.last_seq) == (61, 100)
            assert (await client.describe_exchange("orders")).first_offset == 61
            # The sleeper acked up to the end of its first batch (all 100): nothing missed.
            # A new subscriber from an offset before the horizon is told what it missed.
            gaps, first = await first_batch(client, "late", "offset:5")
            assert [(g.from_offset, g.to_offset, g.reason) for g in gaps] == [(5, 60, "retention")]
            assert first == 61
            # earliest is the oldest kept event: nothing missed, nothing told.
            gaps, first = await first_batch(client, "fresh", "earliest")
            assert (gaps, first) == ([], 61)
            # A time before the horizon: resumed at it, told (which offsets is not known).
            gaps, first = await first_batch(
                client, "dated", f"time:{_iso(published_before - 60_000_000)}"
            )
            assert [(g.from_offset, g.to_offset) for g in gaps] == [(0, 60)]
            assert first == 61
            # A read from before the horizon starts at it and says so.
            told: list[pb.Gap] = []
            page, _, following = await client.read("orders", "offset:3", 5, on_gap=told.append)
            assert [e.offset for e in page] == [61, 62, 63, 64, 65]
            assert following == 66
            assert [(g.from_offset, g.to_offset) for g in told] == [(3, 60)]
            with pytest.raises(EventsRemoved):
                await client.read("orders", "offset:3", 5, on_gap=raise_gap)
            # Bad input changes nothing.
            with pytest.raises(GRPCError) as refused:
                await client.trim_log("seq:0")
            assert refused.value.status is Status.INVALID_ARGUMENT
            assert "before_seq" in str(refused.value.message)
            assert (await client.server_info()).first_seq == 61

    try:
        published_before = asyncio.run(before_trim())
        # A pull subscriber leaves its cursor at 0; the CLI removes seq 1..60 in steps of 25.
        assert pull(router, "puller", "earliest")["events"]
        dry = cli(router, "log", "trim", "--before", "seq:61", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "would remove 60 events" in dry.stdout
        done = cli(router, "log", "trim", "--before", "seq:61", "--step", "25")
        assert done.returncode == 0, done.stderr
        assert "removed 60 events; the log begins at seq 61" in done.stdout
        assert "to go" in done.stderr  # progress, one line a step
        bad = cli(router, "log", "trim", "--before", "yesterday")
        assert bad.returncode == 2 and "--before" in bad.stderr
        asyncio.run(after_trim(published_before))
        # The REST pull of a subscriber whose cursor is behind carries the gap.
        pulled = pull(router, "puller")
        assert pulled["gap"] == {"from_offset": 1, "to_offset": 60, "reason": "retention"}
        assert [e["offset"] for e in pulled["events"]][:1] == [61]  # type: ignore[index]
        info = cli(router, "info", "--json")
        assert json.loads(info.stdout)["first_seq"] == 61
        metrics = _get(router, "/metrics")
        assert "router_log_first_seq 61.0" in metrics
        assert 'router_exchange_first_offset{exchange="orders"} 61.0' in metrics
        assert "router_gap_notices_total" in metrics
        assert "gap: events removed by retention" in router.log()
    finally:
        router.stop()


def test_retention_by_age_removes_in_the_background_and_keeps_publishing(
    db_url: str, tmp_path: object
) -> None:
    router = RouterProcess(db_url, f"{tmp_path}/router.log", None, "--retain-for", "1s")
    router.start()

    async def story() -> None:
        async with RouterClient(router.address) as client:
            await client.create_exchange("orders", ["order.*"])
            await client.publish(events(50))

            async def removed() -> bool:
                return (await client.server_info()).first_seq == 51

            await until(removed, timeout=30)
            acks = await client.publish(events(5, 50))
            assert [a.seq for a in acks] == [51, 52, 53, 54, 55]  # numbering goes on
            info = await client.server_info()
            assert info.retention == "for 1s"
            gaps, first = await first_batch(client, "late", "offset:1")
            assert [(g.from_offset, g.to_offset) for g in gaps] == [(1, 50)]
            assert first == 51

    try:
        asyncio.run(story())
        assert "retention: keep for=1s" in router.log()
    finally:
        router.stop()


def test_retention_flags_are_checked(tmp_path: object) -> None:
    for flags, field in (
        (["--retain-for", "soon"], "--retain-for"),
        (["--retain-bytes", "5 parsecs"], "--retain-bytes"),
        (["--retain-until-acked"], "--retain-until-acked"),
        (["--retain-for", "1d", "--retain-max-for", "2d"], "--retain-max-for"),
    ):
        assert_start_refused(str(tmp_path), flags, field)


def _iso(us: int) -> str:
    return datetime.datetime.fromtimestamp(us / 1e6, datetime.UTC).isoformat()
