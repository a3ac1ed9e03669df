"""SQLite replay reads (storage.sqlite.reader): a chunk comes back as one joined row when its
offsets are one run, row by row otherwise or past the byte budget; both give the same events."""

from __future__ import annotations

from storage import open_storage
from storage.sqlite import path_from_url
from storage.sqlite.reader import SqliteReader
from tests.storage.helpers import commit, event


def test_a_joined_chunk_and_one_read_row_by_row_are_alike(sqlite_url: str) -> None:
    store = open_storage(sqlite_url)
    store.migrate()
    every = store.create_exchange("every", ("#",), 1, lambda t: True)
    events = [event("order.a" if n % 2 else "user.b", bytes([n]) * 10) for n in range(8)]
    commit(store, events, [(every.id,)] * 8)
    reader = SqliteReader(path_from_url(sqlite_url))
    try:
        arguments = (every.id, 1, 8, 8)
        joined = reader._joined(arguments, 0)
        assert joined is not None
        rows = reader._rows(arguments, 0)
        assert [d.event for d in joined] == [d.event for d in rows]
        assert [d.event.id for d in joined] == [e.id for e in events]
        assert reader._joined(arguments, 1) is None  # longer than the budget: not joined
        assert [d.event.id for d in reader._rows(arguments, 1)] == [events[0].id]
        assert list(reader.read(every.id, 9, 20, 10)) == []
        assert reader.published_at(every.id, 8) == 1_000
        assert reader.published_at(every.id, 9) is None
        assert [e.type for e in reader.read_log(6, 10)] == ["user.b", "order.a"]
    finally:
        reader.close()
        store.close()
