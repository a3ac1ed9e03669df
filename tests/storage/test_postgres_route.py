"""A route node's store (storage.postgres.route): it routes the ingest node's log, keeps its own
tables in its own schema, and leaves removal and idempotency keys to the ingest node."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from router.core.errors import FailedPrecondition
from storage import open_storage
from storage.base import Append, Positions
from tests.helpers.databases import PG_BASE, postgres_schema
from tests.storage.helpers import commit, event


@pytest.mark.postgres
def test_a_route_node_routes_the_shared_log_once_and_resumes_from_its_position(
    tmp_path: object,
) -> None:
    node = f"n{uuid.uuid4().hex[:10]}"
    with postgres_schema() as url:
        ingest = open_storage(url)
        ingest.migrate()
        commit(ingest, [event("order.a"), event("user.b")], [(), ()])
        route = open_storage(url, route_node=node)
        try:
            assert route.migrate() == [1, 2, 3, 4, 5, 6]
            assert route.restore().positions == Positions(0, 0, {})
            # History: a new exchange indexes only what this node has followed (nothing yet).
            orders = route.create_exchange("orders", ("order.*",), 1, lambda t: t.startswith("o"))
            assert orders.head == 0
            log = ingest.reader().read_log(0, 10)
            first = route.commit([Append(log, [(orders.id,), ()])], {}, route.positions(), 5)
            assert [o.offsets for o in first.outcomes] == [((orders.id, 1),), ()]
            assert route.positions().last_seq == 2
            # Asked again (a follower after a crash): skipped, not routed twice.
            again = route.commit([Append(log, [(orders.id,), ()])], {}, route.positions(), 6)
            assert [o.duplicate for o in again.outcomes] == [True, True]
            assert route.positions() == Positions(2, log[-1].published_at, {orders.id: 1})
            reader = route.reader()
            assert [d.event.id for d in reader.read(orders.id, 1, 10, 10)] == [log[0].id]
            reader.close()
            # The ingest node's store is untouched by the route node's tables.
            assert ingest.restore().exchanges == ()
        finally:
            route.close()
            ingest.close()
            with psycopg.connect(PG_BASE, autocommit=True) as connection:
                connection.execute(f"DROP SCHEMA IF EXISTS route_{node} CASCADE")


@pytest.mark.postgres
def test_a_route_node_leaves_removal_and_keys_to_the_ingest_node() -> None:
    node = f"n{uuid.uuid4().hex[:10]}"
    with postgres_schema() as url:
        open_storage(url).migrate()
        route = open_storage(url, route_node=node)
        try:
            route.migrate()
            assert route.purge_ids(1 << 60) == 0
            with pytest.raises(FailedPrecondition):
                route.trim(10, 10)
        finally:
            route.close()
            with psycopg.connect(PG_BASE, autocommit=True) as connection:
                connection.execute(f"DROP SCHEMA IF EXISTS route_{node} CASCADE")
