"""The PostgreSQL log's day partitions (storage.postgres.days): made for the day of a commit and
the next, dropped whole once no kept event is in them."""

from __future__ import annotations

import pytest

from storage import open_storage
from storage.postgres.days import DAY_US, Partitions, log_bytes, reclaim

pytestmark = pytest.mark.postgres


def test_days_are_made_ahead_and_dropped_once_past(pg_url: str) -> None:
    store = open_storage(pg_url)
    store.migrate()
    partitions = Partitions()
    days_sql = (
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'events'::regclass ORDER BY c.relname"
    )
    try:
        with store._transaction() as connection:  # type: ignore[attr-defined]
            partitions.ensure(connection, 3 * DAY_US + 5)
            partitions.ensure(connection, 3 * DAY_US + 6)  # known: nothing asked of the server
            assert [n for (n,) in connection.execute(days_sql)] == ["events_d3", "events_d4"]
            assert partitions.days == {3}
            assert log_bytes(connection) > 0
        with store._control() as run:
            partitions.drop_before(run, 4 * DAY_US)
        with store._transaction() as connection:  # type: ignore[attr-defined]
            assert [n for (n,) in connection.execute(days_sql)] == ["events_d4"]
        assert partitions.days == set()
        reclaim(pg_url, None)
    finally:
        store.close()
