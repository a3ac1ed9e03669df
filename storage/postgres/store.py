"""The PostgreSQL writer: PostgresStorage, through psycopg 3's synchronous driver.

The event log is partitioned by day of ``published_at`` (storage.postgres.days); batches are
written with binary COPY (storage.postgres.writes); replay reads are keyset-paginated
(storage.postgres.reader). A lost connection raises :class:`StorageUnavailable` and is opened
again on the next call (storage.postgres.connection), so the router recovers by itself when the
server is back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from router.core.errors import AlreadyExists
from router.core.model import EventId, ExchangeRecord
from storage._migrations import Schema
from storage.base import (
    Append,
    CommitResult,
    Cursors,
    Positions,
    Storage,
    finish_commit,
    plan_commit,
    resolve_duplicates,
    seq_at,
)
from storage.control import Run, rows_of
from storage.leadership import Lease
from storage.postgres import days, upgrade
from storage.postgres.connection import Connection, one
from storage.postgres.reader import PostgresReader
from storage.postgres.writes import (
    FEW_EVENTS,
    INSERT_PUBLISHERS,
    copy_events,
    copy_ids,
    publishers,
    stored_ids,
    write_few,
    write_log_rows_and_cursors,
)
from storage.retention import Horizon


class PostgresStorage(Storage):
    """The production store's writer: the ingest node's event log and state in PostgreSQL."""

    migrations = "postgres"
    schema: str | None = None

    def __init__(self, url: str, lease: Lease | None = None) -> None:
        """With ``lease`` (a leader's, storage.leadership), every write goes through the
        connection that holds the leadership lock, and stops once another router leads."""
        self.url = url
        self._connection = Connection(url, autocommit=True, schema=self.schema, lease=lease)
        self._partitions = days.Partitions()
        self._tails: dict[int, int] = {}  # exchange id -> oldest kept offset (storage.retention)

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        with self._connection.errors():
            connection = self._connection.get()
            with connection.transaction():
                yield connection

    @contextmanager
    def _control(self) -> Iterator[Run]:
        with self._transaction() as connection:
            yield lambda sql, params: rows_of(
                connection.execute(sql.replace("?", "%s").encode(), params)
            )

    def migrate(self, upto: int | None = None) -> list[int]:
        """Apply the migrations not yet applied (those up to ``upto``), in order, in one
        transaction; return their versions. :class:`SchemaNewer`, changing nothing, when the
        store's schema is ahead of this router."""
        with self._transaction() as connection:
            return upgrade.migrate(connection, self.migrations, upto)

    def schema_state(self) -> Schema:
        """Where the store's schema stands against this router's; reads only."""
        with self._connection.errors():
            return upgrade.schema_state(self._connection.get(), self.migrations)

    def _last_event(self, run: Run) -> tuple[int, int] | None:
        rows = run("SELECT seq, published_at FROM events ORDER BY seq DESC LIMIT 1", ())
        return (int(rows[0][0]), int(rows[0][1])) if rows else None

    def commit(
        self, appends: Sequence[Append], cursors: Cursors, positions: Positions, now: int
    ) -> CommitResult:
        ids = list({event.id for append in appends for event in append.events})
        few = len(ids) <= FEW_EVENTS
        with self._transaction() as connection:
            cursor = connection.cursor()
            existing: dict[EventId, int] = {}
            if few:
                existing = stored_ids(connection, ids)
                found = publishers(connection, appends, existing)
                plan, after, duplicates = plan_commit(appends, existing, positions, now, found)
                if plan.events:
                    self._partitions.ensure(connection, plan.events[-1].published_at)
                write_few(cursor, plan.events, plan.log_rows, cursors, now, plan.publishers)
            else:
                # Optimistic, as in SQLite: plan as if no id were stored yet; a stored one fails
                # the id COPY, and the savepoint lets the commit look the ids up and plan again.
                # The look-up was an eighth of a large commit's time.
                plan, after, duplicates = plan_commit(appends, existing, positions, now)
                if plan.events:
                    self._partitions.ensure(connection, plan.events[-1].published_at)
                try:
                    with connection.transaction():
                        rows = copy_ids(cursor, plan.events)
                except pg_errors.UniqueViolation:
                    existing = stored_ids(connection, ids)
                    found = publishers(connection, appends, existing)
                    plan, after, duplicates = plan_commit(appends, existing, positions, now, found)
                    rows = copy_ids(cursor, plan.events)
                copy_events(cursor, rows)
                if plan.publishers:
                    cursor.executemany(INSERT_PUBLISHERS, plan.publishers)
                write_log_rows_and_cursors(cursor, plan.log_rows, cursors, now)
            resolved = resolve_duplicates(
                duplicates,
                existing,
                after.heads,
                partial(seq_at, connection, "%s"),
                self._tails,
            )
        return finish_commit(plan, resolved, after)

    def create_exchange(
        self, name: str, patterns: tuple[str, ...], created_at: int, matcher: Callable[[str], bool]
    ) -> ExchangeRecord:
        with self._transaction() as connection:
            try:
                with connection.transaction():
                    row = connection.execute(
                        "INSERT INTO exchanges (name, patterns, created_at) VALUES (%s, %s, %s)"
                        " RETURNING id",
                        (name, json.dumps(list(patterns)), created_at),
                    )
            except pg_errors.UniqueViolation as error:
                raise AlreadyExists(f"name: exchange {name!r} already exists") from error
            exchange_id = int(one(row)[0])
            types = [
                str(t)
                for (t,) in connection.execute("SELECT DISTINCT type FROM events").fetchall()
                if matcher(str(t))
            ]
            connection.execute(
                "INSERT INTO exchange_log (exchange_id, exchange_offset, seq)"
                " SELECT %s, row_number() OVER (ORDER BY seq), seq FROM events"
                " WHERE type = ANY(%s) AND seq <= %s",
                (exchange_id, types, self._history_end(connection)),
            )
            (head,) = one(
                connection.execute(
                    "SELECT coalesce(max(exchange_offset), 0) FROM exchange_log"
                    " WHERE exchange_id = %s",
                    (exchange_id,),
                )
            )
        return ExchangeRecord(exchange_id, name, patterns, created_at, int(head))

    def _history_end(self, connection: psycopg.Connection[Any]) -> int:
        """The last seq a new exchange indexes from history: all of the log here."""
        return (1 << 63) - 1

    def purge_ids(self, older_than: int) -> int:
        with self._transaction() as connection:
            cursor = connection.execute(
                "DELETE FROM event_ids WHERE published_at < %s", (older_than,)
            )
            connection.execute(
                "DELETE FROM event_publishers WHERE published_at < %s", (older_than,)
            )
            return int(cursor.rowcount)

    def _event_time(self, run: Run, seq: int) -> int | None:
        rows = run("SELECT published_at FROM events WHERE seq = ?", (seq,))
        return int(rows[0][0]) if rows else None

    def _after_trim(self, run: Run, horizon: Horizon) -> None:
        """Forget the removed events' ids, and drop the day partitions left empty."""
        run("DELETE FROM event_ids WHERE published_at < ?", (horizon.removed_until,))
        # A day with no kept event ends at or before the first kept event's time.
        kept_from = self._event_time(run, horizon.first_seq)
        if kept_from is None:
            kept_from = horizon.removed_until + 1
        self._partitions.drop_before(run, kept_from)
        self._tails = dict(horizon.tails)

    def reclaim(self) -> None:
        days.reclaim(self.url, self.schema)

    def log_bytes(self) -> int:
        with self._transaction() as connection:
            return days.log_bytes(connection)

    def reader(self) -> PostgresReader:
        return PostgresReader(self.url, self.schema)

    def close(self) -> None:
        self._connection.drop()
