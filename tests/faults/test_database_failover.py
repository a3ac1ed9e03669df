"""The PostgreSQL primary lost under load: a synchronous standby is promoted, the router (given
both hosts, target_session_attrs=read-write) reconnects to it and carries on. Lost 0 acked;
publishes are refused (UNAVAILABLE) only in between; the outage is reported."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import attrs
import psycopg
import pytest
from grpclib.exceptions import GRPCError, StreamTerminatedError

from router.client import OutgoingEvent, RouterClient
from tests.helpers.pgcluster import pg_cluster
from tests.helpers.polling import until
from tests.helpers.report import record
from tests.helpers.server import RouterProcess

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
FAILURES = (GRPCError, StreamTerminatedError, ConnectionError, OSError, asyncio.TimeoutError)
PUBLISHERS = 4


@attrs.define
class Load:
    acked: set[str] = attrs.Factory(set)
    refused: int = 0
    acks_at: list[tuple[float, float]] = attrs.Factory(list)  # (call began, ack came)
    stop: asyncio.Event = attrs.Factory(asyncio.Event)


async def publisher(address: str, load: Load) -> None:
    async with RouterClient(address) as client:
        while not load.stop.is_set():
            batch = [OutgoingEvent("order.created", b"x" * 100, id=str(uuid.uuid4()))]
            began = time.monotonic()
            try:
                for ack in await client.publish(batch, timeout=5):
                    load.acked.add(ack.id)
                load.acks_at.append((began, time.monotonic()))
            except FAILURES:
                load.refused += 1
                await asyncio.sleep(0.05)  # the store is between primaries: retry shortly
            await asyncio.sleep(0.005)  # pacing: a steady flow of single-event publishes


@pytest.mark.parametrize("retention", ["off", "on"])
def test_the_primary_lost_and_a_synchronous_standby_promoted_loses_nothing_acked(
    tmp_path: object, retention: str
) -> None:
    """With retention on (a size limit far from reached: each step reads and writes the store
    once a second), the removal steps that meet the lost primary are retried: no exit."""
    with pg_cluster() as cluster:
        flags = ("--retain-bytes", "1GB") if retention == "on" else ()
        router = RouterProcess(cluster.url(), f"{tmp_path}/router.log", None, *flags).start()
        load = Load()
        try:

            async def scenario() -> tuple[float, float]:
                async with RouterClient(router.address) as client:
                    await client.create_exchange("orders", ["order.*"])
                tasks = [
                    asyncio.ensure_future(publisher(router.address, load))
                    for _ in range(PUBLISHERS)
                ]
                try:
                    await asyncio.sleep(2.0)  # load before the loss
                    acked_before = len(load.acked)
                    await asyncio.to_thread(cluster.lose_primary)
                    lost_at = time.monotonic()
                    await asyncio.sleep(1.0)  # the outage: 1 s with no primary before the promotion
                    await asyncio.to_thread(cluster.promote)
                    promoted_at = time.monotonic()

                    async def acked_again() -> bool:
                        return any(began > promoted_at for began, _ in load.acks_at)

                    await until(acked_again, timeout=60)
                    first = min(acked for began, acked in load.acks_at if began > lost_at)
                    await asyncio.sleep(2.0)  # load on the promoted server
                    assert len(load.acked) > acked_before
                    return first - lost_at, first - promoted_at
                finally:
                    load.stop.set()
                    for task in tasks:
                        with contextlib.suppress(asyncio.CancelledError, *FAILURES):
                            await asyncio.wait_for(task, 10)

            outage, after_promotion = asyncio.run(asyncio.wait_for(scenario(), 180))
            assert router.stop() == 0, router.log()[-3000:]  # up all along, stops cleanly
        finally:
            router.stop()
        with psycopg.connect(cluster.url()) as connection:
            stored = {str(i) for (i,) in connection.execute("SELECT id FROM event_ids").fetchall()}
            in_recovery = connection.execute("SELECT pg_is_in_recovery()").fetchone()
            port = connection.info.port

    assert in_recovery == (False,) and port == cluster.standby_port
    assert load.acked <= stored, f"{len(load.acked - stored)} acked events were lost"
    assert load.refused > 0, "the loss went unnoticed: the test did not test anything"
    record(
        "database failover" + (", retention on" if retention == "on" else ""),
        publishers=PUBLISHERS,
        acked=len(load.acked),
        lost=len(load.acked - stored),
        refused_while_down=load.refused,
        outage_s=round(outage, 2),
        promotion_to_ack_s=round(after_promotion, 2),
    )
