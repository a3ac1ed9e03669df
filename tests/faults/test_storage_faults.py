"""The store goes away under load, with retention off and on: PostgreSQL stopped for 10 s, its connections killed from the
server side, SQLite's disk full. Publishes are refused with UNAVAILABLE within a deadline while
it is away (never a hang, never an acked loss), and the router recovers by itself: publishes
succeed again and the subscriber resumes gap-free."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import attrs
import psycopg
import pytest
from grpclib.exceptions import GRPCError, StreamTerminatedError

from router.client import OutgoingEvent, RouterClient
from tests.helpers.databases import PG_BASE, postgres_schema
from tests.helpers.pgcluster import pg_cluster
from tests.helpers.polling import until
from tests.helpers.reading import exchange_ids
from tests.helpers.report import record, rss_mb
from tests.helpers.server import RouterProcess

DEADLINE_S = 10.0  # a publish must be answered (acked or refused) within this


@attrs.define
class Outcomes:
    acked: set[str] = attrs.Factory(set)
    refused: dict[str, int] = attrs.Factory(dict)  # status name -> calls
    hung: int = 0
    slowest_s: float = 0.0
    received: list[int] = attrs.Factory(list)
    stop: asyncio.Event = attrs.Factory(asyncio.Event)
    payload: int = 200
    messages: dict[str, str] = attrs.Factory(dict)  # status -> the first message with it
    ack_times: list[float] = attrs.Factory(list)
    refusal_times: list[float] = attrs.Factory(list)

    def unavailable_for(self) -> float:
        """From the first refusal to the first ack after the last one, as publishers saw it."""
        if not self.refusal_times:
            return 0.0
        last = self.refusal_times[-1]
        back = min((t for t in self.ack_times if t > last), default=last)
        return back - self.refusal_times[0]

    def refusals(self) -> int:
        return sum(self.refused.values())


async def publish_steadily(address: str, out: Outcomes) -> None:
    async with RouterClient(address) as client:
        while not out.stop.is_set():
            batch = [OutgoingEvent("order.created", b"x" * out.payload) for _ in range(20)]
            began = time.monotonic()
            try:
                acks = await client.publish(batch, timeout=DEADLINE_S)
                out.acked.update(a.id for a in acks)
                out.ack_times.append(time.monotonic())
            except GRPCError as error:
                out.refused[error.status.name] = out.refused.get(error.status.name, 0) + 1
                out.messages.setdefault(error.status.name, str(error.message))
                out.refusal_times.append(time.monotonic())
            except TimeoutError:
                out.hung += 1
            except (StreamTerminatedError, ConnectionError, OSError):
                out.refused["connection"] = out.refused.get("connection", 0) + 1
            out.slowest_s = max(out.slowest_s, time.monotonic() - began)
            await asyncio.sleep(0.01)  # pacing: a steady flow


async def consume_steadily(address: str, out: Outcomes) -> None:
    async with (
        RouterClient(address) as client,
        client.consume("orders", "auditor", "earliest") as events,
    ):
        async for event in events:
            out.received.append(event.offset)
            await event.ack()


async def under_load(
    router: RouterProcess, fault: object, restore: object, out: Outcomes
) -> dict[str, float]:
    """Load, then ``fault()``, wait until the router meets it (publishes refused, or a commit
    failed), ``restore()``, wait until publishes are acked again and the subscriber has caught
    up. Returns the timings."""
    async with RouterClient(router.address) as client:
        await client.create_exchange("orders", ["order.*"])
    tasks = [
        asyncio.ensure_future(publish_steadily(router.address, out)),
        asyncio.ensure_future(consume_steadily(router.address, out)),
    ]
    try:
        await until(lambda: _at_least(out.acked, 500), timeout=30)
        began = time.monotonic()
        await asyncio.to_thread(fault)  # type: ignore[arg-type]
        await until(lambda: _met(router, out), timeout=30)
        refused_after = time.monotonic() - began
        acked_before = len(out.acked)
        down_s = await asyncio.to_thread(restore)  # type: ignore[arg-type]
        await until(lambda: _at_least(out.acked, acked_before + 200), timeout=60)
        out.stop.set()
        await tasks[0]
        await until(lambda: _caught_up(out), timeout=60)
        assert router.process is not None
        return {
            "refused_within_s": round(refused_after, 2),
            "store_away_s": round(float(down_s or 0), 1),
            "publishers_refused_for_s": round(out.unavailable_for(), 2),
            "rss_mb": round(rss_mb(router.process.pid), 1),
        }
    finally:
        out.stop.set()
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, GRPCError, StreamTerminatedError):
                await task


async def _at_least(acked: set[str], count: int) -> bool:
    return len(acked) >= count


async def _met(router: RouterProcess, out: Outcomes) -> bool:
    """Publishes refused, or the router's log says a commit failed: a connection killed between
    two publishes fails the next commit, and that may be one that only saves acks."""
    return out.refusals() > 0 or "commit failed" in router.log()


async def _caught_up(out: Outcomes) -> bool:
    return len(out.received) >= len(out.acked)


def check(router: RouterProcess, out: Outcomes) -> list[str]:
    stored = asyncio.run(exchange_ids(router.address, "orders"))
    assert out.hung == 0, f"{out.hung} publishes got no answer within {DEADLINE_S} s"
    assert out.slowest_s < DEADLINE_S
    assert out.acked <= set(stored), "an acknowledged event was lost"
    assert len(stored) == len(set(stored)), "an event was stored twice"
    assert out.received == list(range(1, len(out.received) + 1)), "the subscriber saw a gap"
    return stored


def run_and_report(
    scenario: str,
    url: str,
    folder: object,
    fault: object,
    restore: object,
    out: Outcomes,
    flags: tuple[str, ...] = (),
    **extra: object,
) -> str:
    """A router on ``url`` (with ``flags``) through ``under_load``; checks, records the figures,
    returns its log. The router must be up all along and stop cleanly."""
    router = RouterProcess(url, f"{folder}/router.log", None, *flags).start()
    try:
        timings = asyncio.run(under_load(router, fault, restore, out))
        stored = check(router, out)
        log = router.log()
        assert router.stop() == 0, log[-3000:]
    finally:
        router.stop()
    record(
        scenario,
        **extra,
        acked=len(out.acked),
        stored=len(stored),
        lost=len(out.acked - set(stored)),
        refused=out.refused,
        message=out.messages.get("UNAVAILABLE", ""),
        slowest_call_s=round(out.slowest_s, 2),
        **timings,
    )
    return log


# --- PostgreSQL ---

# Retention off, and on: a size limit far from reached, so that each removal step (once a second)
# reads and writes the store, meets the outage, and removes nothing the test checks.
RETENTION = {"off": (), "on": ("--retain-bytes", "1GB")}


@pytest.mark.postgres
@pytest.mark.parametrize("retention", list(RETENTION))
def test_postgresql_stopped_for_ten_seconds_under_load(tmp_path: object, retention: str) -> None:
    """On a PostgreSQL server of the test's own (the machine's is left alone)."""
    out = Outcomes()
    with pg_cluster(standby=False) as server:

        def start_after_ten_seconds() -> float:
            time.sleep(10)  # the outage the scenario is about
            server.start_primary()
            return 10.0

        run_and_report(
            "postgresql stopped 10 s" + (", retention on" if retention == "on" else ""),
            server.primary_url(),
            tmp_path,
            server.stop_primary,
            start_after_ten_seconds,
            out,
            flags=RETENTION[retention],
        )
    assert out.refused.get("UNAVAILABLE", 0) > 0


@pytest.mark.postgres
@pytest.mark.parametrize("retention", list(RETENTION))
def test_postgresql_connections_killed_server_side_under_load(
    tmp_path: object, retention: str
) -> None:
    out = Outcomes()
    with postgres_schema() as base:
        name = f"router_{uuid.uuid4().hex[:8]}"
        url = f"{base}&application_name={name}"

        def terminate() -> None:
            with psycopg.connect(PG_BASE, autocommit=True) as admin:
                killed = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = %s",
                    (name,),
                ).fetchall()
            assert killed, "the router's connections were found"

        def nothing_to_restore() -> float:
            return 0.0

        run_and_report(
            "postgresql connections terminated" + (", retention on" if retention == "on" else ""),
            url,
            tmp_path,
            terminate,
            nothing_to_restore,
            out,
            flags=RETENTION[retention],
        )
    assert set(out.refused) <= {"UNAVAILABLE"}, out.refused


# --- SQLite: a disk that fills up ---


@pytest.fixture
def small_disk(tmp_path: object) -> Iterator[str]:
    """A 6 MiB tmpfs (root can mount here); grown to 256 MiB by ``grow(path)``."""
    folder = f"{tmp_path}/small"
    os.makedirs(folder)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", folder], capture_output=True
    )
    if mounted.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the disk-full test: {mounted.stderr.decode().strip()}")
        pytest.skip(f"cannot mount a small tmpfs: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", folder], capture_output=True)


def grow(folder: str) -> None:
    subprocess.run(["mount", "-o", "remount,size=256m", folder], check=True)


@pytest.mark.parametrize("retention", list(RETENTION))
def test_sqlite_disk_full_refuses_cleanly_then_recovers_when_space_returns(
    small_disk: str, tmp_path: object, retention: str
) -> None:
    out = Outcomes(payload=4_000)  # fills the 6 MiB within seconds

    def fill() -> None:
        pass  # the publisher fills the disk by itself

    def free_space() -> float:
        time.sleep(3)  # the disk stays full a while: the router must keep refusing, not fall
        grow(small_disk)
        return 3.0

    url = f"sqlite:///{small_disk}/router.db"
    scenario = "sqlite disk full" + (", retention on" if retention == "on" else "")
    log = run_and_report(
        scenario, url, tmp_path, fill, free_space, out, flags=RETENTION[retention], disk_mb=6
    )
    assert out.refused.get("UNAVAILABLE", 0) > 0
    assert "full" in out.messages["UNAVAILABLE"], out.messages
    assert "full" in log, "the log names the cause"


def test_sqlite_restarted_with_a_lower_retain_bytes_on_a_full_disk_stays_up_then_removes(
    small_disk: str, tmp_path: object
) -> None:
    """The log has filled the disk; the router is restarted with a limit below the log's size.
    Removal cannot write on the full disk: the router starts anyway, says why on /readyz and in
    its log, and removes down to the limit once there is room."""
    url = f"sqlite:///{small_disk}/router.db"
    log_path = f"{tmp_path}/router.log"
    first = RouterProcess(url, log_path).start()
    try:
        asyncio.run(fill_until_refused(first.address))
    finally:
        assert first.stop() == 0
    router = RouterProcess(url, log_path, None, "--retain-bytes", "1MB").start()
    try:

        async def scenario() -> tuple[int, int]:
            await until(lambda: _logged(router, "removing old events failed"), timeout=30)
            assert _readyz(router) == 503, "the failing store is said on /readyz"
            async with RouterClient(router.address) as client:
                before = (await client.server_info()).removed_events
                await asyncio.to_thread(grow, small_disk)
                await until(lambda: _removed(client, before), timeout=60)
                await until(lambda: _ready(router), timeout=30)
                return before, (await client.server_info()).removed_events

        before, after = asyncio.run(scenario())
        assert router.process is not None and router.process.poll() is None
        log = router.log()
        assert router.stop() == 0, log[-3000:]
    finally:
        router.stop()
    assert before == 0 < after
    assert "full" in log and "works again" in log
    assert log.count("removing old events failed") == 1, "said once, not on every retry"


async def fill_until_refused(address: str) -> None:
    async with RouterClient(address) as client:
        await client.create_exchange("orders", ["order.*"])
        while True:
            batch = [OutgoingEvent("order.created", b"x" * 4_000) for _ in range(20)]
            try:
                await client.publish(batch, timeout=DEADLINE_S)
            except GRPCError as error:
                assert "full" in str(error.message), error.message
                return


def _readyz(router: RouterProcess) -> int:
    try:
        with urllib.request.urlopen(router.http + "/readyz", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


async def _logged(router: RouterProcess, text: str) -> bool:
    return text in router.log()


async def _ready(router: RouterProcess) -> bool:
    return await asyncio.to_thread(_readyz, router) == 200


async def _removed(client: RouterClient, before: int) -> bool:
    return (await client.server_info()).removed_events > before
