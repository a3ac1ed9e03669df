"""Migrating a SQLite store (storage.sqlite.upgrade): versions applied once, in order, and the
events of older layouts carried into the current one."""

from __future__ import annotations

import sqlite3
import uuid

import storage.sqlite.upgrade
from router.core.model import NewEvent, StoredEvent
from router.core.wire import encode_event
from storage import _migrations, open_storage
from storage.base import Positions
from storage.sqlite import path_from_url
from storage.sqlite.connection import connect
from storage.sqlite.upgrade import migrate, schema_state
from tests.storage.helpers import commit, event


def test_sqlite_events_and_ids_of_version_7_are_carried_into_parts(sqlite_url: str) -> None:
    """Migration 8: the events of a store of version 7 (whole wire forms, type and publish time
    columns) and its ids (with publish times, in the three tables) keep working."""
    connection = sqlite3.connect(path_from_url(sqlite_url), isolation_level=None)
    connection.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY)")
    for version, sql in _migrations.load("sqlite"):
        if version < storage.sqlite.upgrade.PARTS_MIGRATION:
            connection.executescript(sql)
            connection.execute("INSERT INTO schema_migrations VALUES (?)", (version,))
    old = [
        StoredEvent(seq, str(uuid.uuid4()), type_, bytes([seq]) * seq, (("k", "v"),), 1_000)
        for seq, type_ in ((1, "order.created"), (2, "order.paid"), (3, "order.created"))
    ]
    tables = ["event_ids_old", "event_ids", "event_ids_recent"]
    for e, table in zip(old, tables, strict=True):
        connection.execute(
            "INSERT INTO events (seq, id, type, published_at, wire) VALUES (?, ?, ?, ?, ?)",
            (e.seq, uuid.UUID(e.id).bytes, e.type, e.published_at, encode_event(e)),
        )
        connection.execute(
            f"INSERT INTO {table} (id, seq, published_at) VALUES (?, ?, ?)",
            (uuid.UUID(e.id).bytes, e.seq, e.published_at),
        )
    connection.close()

    store = open_storage(sqlite_url)
    try:
        assert store.migrate() == [
            storage.sqlite.upgrade.PARTS_MIGRATION,
            9,
            10,
            11,
            12,
            13,
            14,
        ]  # tokens, audit, grants, retention, event-type schemas, event publishers
        assert store.positions() == Positions(3, 1_000, {})
        orders = store.create_exchange("paid", ("order.paid",), 1, lambda t: t == "order.paid")
        reader = store.reader()
        try:
            assert [e.wire for e in reader.read_log(0, 10)] == [encode_event(e) for e in old]
            assert [d.event.id for d in reader.read(orders.id, 1, 1, 10)] == [old[1].id]
            assert reader.published_at(orders.id, 1) == 1_000
        finally:
            reader.close()
        again = [NewEvent(e.id, e.type, e.payload, e.headers) for e in old]
        result = commit(store, [*again, event("order.paid")], [()] * 3 + [(orders.id,)])
        assert [(o.seq, o.duplicate) for o in result.outcomes] == [
            (1, True),
            (2, True),
            (3, True),
            (4, False),
        ]
        # seqs 2 (event_ids), 3 and 4 (event_ids_recent) now; seq 1 (event_ids_old) later
        assert store.purge_ids(2_000) == 3
    finally:
        store.close()


def test_a_new_file_is_migrated_up_to_a_version_then_the_rest(sqlite_url: str) -> None:
    connection = connect(path_from_url(sqlite_url))
    try:
        known = max(version for version, _ in _migrations.load("sqlite"))
        assert schema_state(connection).applied == 0
        assert migrate(connection, upto=2) == [1, 2]
        state = schema_state(connection)
        assert (state.applied, state.known, state.missing) == (2, known, tuple(range(3, known + 1)))
        assert migrate(connection) == list(range(3, known + 1))
        assert migrate(connection) == []
        assert not schema_state(connection).pending
    finally:
        connection.close()
