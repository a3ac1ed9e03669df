"""The SQLite event types (storage.sqlite.event_types): numbers given by the writer, kept only
once their commit went through, and looked up by readers."""

from __future__ import annotations

import json
import sqlite3

import pytest

import storage.sqlite.store
from router.core.model import StoredEvent
from router.core.patterns import matches
from router.core.wire import body_start, encode_event, type_field
from storage import StorageUnavailable, open_storage
from storage.sqlite import path_from_url
from storage.sqlite.event_types import Fields, Names
from tests.storage.helpers import commit, event


def test_sqlite_a_type_added_by_a_commit_that_rolled_back_is_forgotten(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit rolled back after numbering a new type leaves no trace: the number is handed
    out again, here to another type, and both read back right."""
    store = open_storage(sqlite_url)
    store.migrate()
    orders = store.create_exchange("orders", ("order.*",), 1, lambda t: matches("order.*", t))

    def broken(*args: object) -> object:
        raise sqlite3.OperationalError("disk I/O error")

    with monkeypatch.context() as patched:
        patched.setattr(storage.sqlite.store, "resolve_duplicates", broken)
        with pytest.raises(StorageUnavailable):
            commit(store, [event("order.created")], [(orders.id,)])
    result = commit(store, [event("order.paid"), event("order.created")], [(orders.id,)] * 2)
    assert [o.seq for o in result.outcomes] == [1, 2]
    reader = store.reader()
    try:
        assert [e.type for e in reader.read_log(0, 10)] == ["order.paid", "order.created"]
        assert [d.event.type for d in reader.read(orders.id, 1, 2, 10)] == [
            "order.paid",
            "order.created",
        ]
    finally:
        reader.close()
        store.close()


def test_a_new_type_is_numbered_and_its_bodies_placed(sqlite_url: str) -> None:
    open_storage(sqlite_url).migrate()
    connection = sqlite3.connect(path_from_url(sqlite_url), isolation_level=None)
    names, new = Names(), dict[str, tuple[int, bytes]]()
    events = [
        StoredEvent(n, f"0000000{n}-0000-0000-0000-000000000000", "a.b", b"x", (), 1)
        for n in (1, 2)
    ]
    places = names.places(connection, events, new)
    assert list(new) == ["a.b"] and names.known == {}
    wire = encode_event(events[0])
    start = body_start(wire, type_field("a.b"))  # SQLite counts from 1
    body = len(wire) - start
    assert json.loads(places) == [[1, 1 + start, body], [1, len(wire) + 1 + start, body]]
    names.adopt(new)
    assert names.known == {"a.b": (1, type_field("a.b"))}
    fields = Fields()
    assert fields.field(connection, 1) == type_field("a.b")
    assert fields.listed(connection, "1,1") == [type_field("a.b")] * 2
    connection.close()
