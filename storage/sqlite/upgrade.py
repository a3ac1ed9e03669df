"""Migrating a SQLite store: its versioned migrations, one transaction each, and the two that
carry events over in code (migration 3 gives them their wire form, migration 8 keeps them in
parts)."""

from __future__ import annotations

import sqlite3
from typing import Any

from router.core.wire import type_field
from storage import _migrations
from storage._migrations import WIRE_MIGRATION, Schema, wire_from_columns
from storage.base import StorageUnavailable, id_text
from storage.sqlite.connection import errors, transaction

PARTS_MIGRATION = 8


def migrate(connection: sqlite3.Connection, upto: int | None = None) -> list[int]:
    """Apply the migrations not yet applied (those up to ``upto``), in order, one transaction
    each; return their versions. :class:`SchemaNewer`, changing nothing, when the store's
    schema is ahead of this router."""
    schema_state(connection).check()
    with errors():
        connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
            " applied_at TEXT DEFAULT CURRENT_TIMESTAMP, router_version TEXT)"
        )
        columns = {r[1] for r in connection.execute("PRAGMA table_info(schema_migrations)")}
        if "router_version" not in columns:
            connection.execute("ALTER TABLE schema_migrations ADD COLUMN router_version TEXT")
        done = {row[0] for row in connection.execute("SELECT version FROM schema_migrations")}
    applied = []
    for version, sql in _migrations.load("sqlite"):
        if version in done or (upto is not None and version > upto):
            continue
        with transaction(connection):
            code = "\n".join(l for l in sql.splitlines() if not l.lstrip().startswith("--"))
            for statement in code.split(";"):
                if statement.strip():
                    connection.execute(statement)
            if version == WIRE_MIGRATION:
                _fill_wire(connection)
            if version == PARTS_MIGRATION:
                _in_parts(connection)
            _migrations.record(connection, "?", version)
        applied.append(version)
    return applied


def schema_state(connection: sqlite3.Connection) -> Schema:
    """Where the store's schema stands against this router's; reads only."""
    with errors():
        found = connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        ).fetchone()
        return _migrations.read_schema("sqlite", connection, found is not None)


def _in_parts(connection: sqlite3.Connection) -> None:
    """Migration 8: fill event_types and copy every event into events_in_parts, which becomes
    events; an event whose wire form does not begin with its id and type stops the migration."""
    types = connection.execute("SELECT DISTINCT type FROM events").fetchall()
    connection.executemany(
        "INSERT INTO event_types (name, field) VALUES (?, ?)",
        [(name, type_field(name)) for (name,) in types],
    )
    (odd,) = connection.execute(
        "SELECT count(*) FROM events e JOIN event_types t ON t.name = e.type"
        " WHERE substr(e.wire, 1, 38) != CAST(X'0A24' || lower(substr(hex(e.id), 1, 8) || '-'"
        " || substr(hex(e.id), 9, 4) || '-' || substr(hex(e.id), 13, 4) || '-'"
        " || substr(hex(e.id), 17, 4) || '-' || substr(hex(e.id), 21)) AS BLOB)"
        " OR substr(e.wire, 39, length(t.field)) != t.field"
    ).fetchone()
    if odd:
        raise StorageUnavailable(f"sqlite: {odd} stored events do not begin with their id and type")
    connection.execute(
        "INSERT INTO events_in_parts (seq, id, type_id, body)"
        " SELECT e.seq, e.id, t.id, substr(e.wire, 39 + length(t.field))"
        " FROM events e JOIN event_types t ON t.name = e.type ORDER BY e.seq"
    )
    connection.execute("DROP TABLE events")
    connection.execute("ALTER TABLE events_in_parts RENAME TO events")


def _fill_wire(connection: sqlite3.Connection) -> None:
    """Give the events stored before migration 3 their wire form, some thousands at a time."""

    def update(rows: list[tuple[Any, ...]]) -> None:
        connection.executemany(
            "UPDATE events SET wire = ? WHERE seq = ?",
            [
                (wire_from_columns(seq, id_text(raw_id), type_, payload, headers, at), seq)
                for seq, raw_id, type_, payload, headers, at in rows
            ],
        )

    _migrations.fill_wire(
        connection,
        "SELECT seq, id, type, payload, headers, published_at FROM events"
        " WHERE seq > ? ORDER BY seq LIMIT ?",
        update,
    )
