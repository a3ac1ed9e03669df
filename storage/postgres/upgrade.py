"""Migrating a PostgreSQL store: its versioned migrations, all in one transaction under an
advisory lock (routers starting together migrate one after the other), and migration 3, which
gives the events stored before it their wire form in code."""

from __future__ import annotations

from typing import Any

import psycopg

from storage import _migrations
from storage._migrations import WIRE_MIGRATION, Schema, wire_from_columns
from storage.postgres.connection import one


def migrate(connection: psycopg.Connection[Any], dialect: str, upto: int | None) -> list[int]:
    """Apply the migrations of ``dialect`` not yet applied (those up to ``upto``), in order, in
    the caller's transaction; return their versions. :class:`SchemaNewer`, changing nothing,
    when the store's schema is ahead of this router."""
    applied = []
    connection.execute("SELECT pg_advisory_xact_lock(727272)")
    connection.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations"
        " (version int PRIMARY KEY, applied_at timestamptz DEFAULT now())"
    )
    connection.execute("ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS router_version text")
    schema_state(connection, dialect).check()
    done = {row[0] for row in connection.execute("SELECT version FROM schema_migrations")}
    for version, sql in _migrations.load(dialect):
        if version not in done and (upto is None or version <= upto):
            connection.execute(sql.encode())
            if version == WIRE_MIGRATION and dialect == "postgres":
                _fill_wire(connection)
            _migrations.record(connection, "%s", version)
            applied.append(version)
    return applied


def schema_state(connection: psycopg.Connection[Any], dialect: str) -> Schema:
    """Where the store's schema stands against this router's; reads only."""
    (table,) = one(connection.execute("SELECT to_regclass('schema_migrations')::text"))
    return _migrations.read_schema(dialect, connection, table is not None)


def _fill_wire(connection: psycopg.Connection[Any]) -> None:
    """Give the events stored before migration 3 their wire form, some thousands at a time."""

    def update(rows: list[tuple[Any, ...]]) -> None:
        connection.execute(
            "UPDATE events SET wire = u.wire FROM unnest(%s::int8[], %s::bytea[]) AS u (seq, wire)"
            " WHERE events.seq = u.seq",
            ([row[0] for row in rows], [wire_from_columns(*row) for row in rows]),
        )

    _migrations.fill_wire(
        connection,
        "SELECT seq, id::text, type, payload, headers, published_at FROM events"
        " WHERE seq > %s ORDER BY seq LIMIT %s",
        update,
    )
