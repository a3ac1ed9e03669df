"""A store that drops out answers UNAVAILABLE, changes nothing, and the router recovers by itself;
with retention on as well (a removal step the store refuses is retried, never an exit)."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from router.app import open_router
from router.core.errors import Unavailable
from router.core.model import NewEvent, StartKind, StartPoint
from router.core.settings import Settings
from tests.helpers.databases import PG_BASE, postgres_schema
from tests.helpers.stories import eventually, take

# Retention off (the default), and on: a size limit checked every 10 ms (each check reads the
# store; the limit is not reached, so the test's events stay).
RETENTION = {"off": {}, "on": {"retain_bytes": 10**9, "trim_every_s": 0.01}}


def kill_router_connections(schema: str) -> int:
    """pg_terminate_backend every connection whose search_path is the test's schema."""
    with psycopg.connect(PG_BASE, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE pid <> pg_backend_pid() AND datname = current_database()"
            " AND application_name = %s",
            (schema,),
        ).fetchall()
    return len(rows)


@pytest.mark.postgres
@pytest.mark.parametrize("retention", list(RETENTION))
async def test_connections_killed_server_side_fail_cleanly_then_recover(retention: str) -> None:
    with postgres_schema() as url:
        schema = url.rsplit("search_path%3D", 1)[1]
        url = f"{url}&application_name={schema}"
        settings = Settings(db_url=url, cursor_flush_interval_s=0.01, **RETENTION[retention])
        async with open_router(settings) as router:
            await router.create_exchange("orders", ["#"])
            first = NewEvent(str(uuid.uuid4()), "order.created", b"1")
            await router.publish([first])
            assert kill_router_connections(schema) >= 1
            lost = NewEvent(str(uuid.uuid4()), "order.created", b"2")
            if retention == "off":
                with pytest.raises(Unavailable, match="postgresql"):
                    await router.publish([lost])
            else:
                # The next removal step meets the killed connection: the router stays up, says
                # so on /readyz (the store is failing), backs off and removes again.
                await eventually(lambda: router.state.trim_failures >= 1)
                assert router.state.stale
                steps = router.state.trim_steps
                await eventually(lambda: router.state.trim_steps > steps)
                assert not router.state.stale
                assert router.stats().retention.trim_failures >= 1  # router_log_trim_failures
            # The next call reconnects; the refused event was not stored, so it is new now.
            (again,) = await router.publish([lost])
            assert (again.seq, again.duplicate) == (2, False)
            subscription = await router.subscribe("orders", "x", StartPoint(StartKind.EARLIEST))
            assert [d.event.id for d in await take(subscription, 2)] == [first.id, lost.id]


async def test_a_store_that_cannot_be_reached_stops_start_up_with_a_clear_error() -> None:
    with pytest.raises(Unavailable, match="cannot connect"):
        async with open_router(Settings(db_url="postgresql://nobody@127.0.0.1:1/none")):
            pass
