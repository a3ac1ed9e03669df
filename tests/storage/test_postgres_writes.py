"""How a PostgreSQL commit writes its rows (storage.postgres.writes): one statement for a few
events, binary COPY for many, the same rows either way."""

from __future__ import annotations

import uuid

import pytest

from router.core.model import StoredEvent
from storage import open_storage
from storage.postgres.writes import (
    FEW_EVENTS,
    copy_events,
    copy_ids,
    stored_ids,
    write_few,
    write_log_rows_and_cursors,
)

pytestmark = pytest.mark.postgres


def _events(first: int, count: int) -> list[StoredEvent]:
    return [
        StoredEvent(seq, str(uuid.uuid4()), "order.created", b"{}", (), 1_000)
        for seq in range(first, first + count)
    ]


def test_few_and_many_events_are_written_alike(pg_url: str) -> None:
    store = open_storage(pg_url)
    store.migrate()
    every = store.create_exchange("every", ("#",), 1, lambda t: True)
    few, many = _events(1, 3), _events(4, FEW_EVENTS + 1)
    log = [(every.id, e.seq, e.seq) for e in few + many]
    try:
        with store._transaction() as connection:  # type: ignore[attr-defined]
            connection.execute(
                "CREATE TABLE events_d0 PARTITION OF events FOR VALUES FROM (0) TO (2000)"
            )
            cursor = connection.cursor()
            write_few(cursor, few, log[:3], {}, 1_000)
            copy_events(cursor, copy_ids(cursor, many))
            write_log_rows_and_cursors(cursor, log[3:], {}, 1_000)
        with store._transaction() as connection:  # type: ignore[attr-defined]
            ids = [e.id for e in few + many]
            assert stored_ids(connection, ids) == {e.id: e.seq for e in few + many}
            assert stored_ids(connection, []) == {}
            ((count,),) = connection.execute("SELECT count(*) FROM exchange_log").fetchall()
            assert count == len(log)
        reader = store.reader()
        assert [e.id for e in reader.read_log(0, 100)] == ids
        reader.close()
    finally:
        store.close()
