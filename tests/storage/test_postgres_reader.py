"""PostgreSQL replay reads (storage.postgres.reader): a run of consecutive seqs is read as one
range of the events table, anything else through the exchange log; both give the same chunk."""

from __future__ import annotations

import pytest

from storage import open_storage
from storage.postgres.reader import _READ, _READ_RUN, PostgresReader
from tests.storage.helpers import event, every_and_some

pytestmark = pytest.mark.postgres


def test_a_run_and_a_scattered_chunk_read_alike(pg_url: str) -> None:
    store = open_storage(pg_url)
    store.migrate()
    events = [event(payload=bytes([n]) * 10) for n in range(12)]
    every, some = every_and_some(store, events, lambda n: n % 2 == 1)
    reader = PostgresReader(pg_url)
    try:
        connection = reader._connection.get()
        run = connection.execute(_READ_RUN, (every.id, 1, 12)).fetchall()
        assert [offset for offset, _ in run] == list(range(1, 13))
        assert connection.execute(_READ_RUN, (some.id, 1, 6)).fetchall() == []  # not one run
        joined = connection.execute(_READ, (some.id, 1, 6, 10)).fetchall()
        assert [bytes(wire) for _, wire in joined] == [bytes(w) for _, w in run[1::2]]
        assert [d.event.id for d in reader.read(some.id, 1, 6, 10)] == [e.id for e in events[1::2]]
        assert [d.event.id for d in reader.read(every.id, 3, 12, 4, max_bytes=1)] == [events[2].id]
        assert reader.published_at(every.id, 12) == 1_000
        assert reader.published_at(every.id, 13) is None
        assert [e.id for e in reader.read_log(10, 5)] == [e.id for e in events[10:]]
    finally:
        reader.close()
        store.close()
