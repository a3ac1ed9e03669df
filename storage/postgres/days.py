"""The PostgreSQL event log's day partitions (by ``published_at``), and what removal does with
them: whole days dropped once empty, the room of removed rows reclaimed, the log's size."""

from __future__ import annotations

from typing import Any

import psycopg

from storage.control import Run
from storage.postgres.connection import Connection

DAY_US = 86_400_000_000
_DAYS = (
    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
    " WHERE i.inhparent = 'events'::regclass"
)


class Partitions:
    """The days whose partitions this store has made sure of (made, with the next day's)."""

    def __init__(self) -> None:
        self.days: set[int] = set()

    def ensure(self, connection: psycopg.Connection[Any], at: int) -> None:
        """The partition of the day of ``at`` (us), and of the day after, exist."""
        day = at // DAY_US
        if day in self.days:
            return
        for ahead in (day, day + 1):
            connection.execute(
                f"CREATE TABLE IF NOT EXISTS events_d{ahead} PARTITION OF events"
                f" FOR VALUES FROM ({ahead * DAY_US}) TO ({(ahead + 1) * DAY_US})"
            )
        self.days.add(day)

    def drop_before(self, run: Run, kept_from: int) -> None:
        """Drop the day partitions that end at or before ``kept_from`` (the first kept event's
        time): the files of a whole day go back to the system at once, where a DELETE leaves
        them for reuse."""
        for (name,) in run(_DAYS + " AND c.relname LIKE 'events_d%%'", ()):
            day = int(str(name)[len("events_d") :])
            if (day + 1) * DAY_US <= kept_from:
                run(f"DROP TABLE {name}", ())
                self.days.discard(day)


def reclaim(url: str, schema: str | None) -> None:
    """VACUUM the tables removal deletes from, on a connection of its own: without it their dead
    rows wait for autovacuum (a minute or more), and a log trimmed every second grows twice its
    size."""
    connection = Connection(url, autocommit=True, schema=schema)
    try:
        with connection.errors():
            live = connection.get()
            days = [
                str(name)
                for (name,) in live.execute(_DAYS + " ORDER BY c.relname LIMIT 2").fetchall()
            ]
            for table in ("exchange_log", "event_ids", *days):
                live.execute(f"VACUUM {table}".encode())
    finally:
        connection.drop()


def log_bytes(connection: psycopg.Connection[Any]) -> int:
    """Events (every partition), exchange log and id index, with their indexes and PostgreSQL's
    free space in them (reused by later writes)."""
    ((size,),) = connection.execute(
        "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0)"
        " + pg_total_relation_size('exchange_log') + pg_total_relation_size('event_ids')"
        " FROM pg_inherits WHERE inhparent = 'events'::regclass"
    ).fetchall()
    return int(size)
