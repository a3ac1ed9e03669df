"""The production store: PostgreSQL through psycopg 3's synchronous driver.

The event log is partitioned by day of ``published_at``; batches are written with binary COPY;
replay reads are keyset-paginated on ``(exchange_id, exchange_offset)``. A lost connection raises
:class:`StorageUnavailable` and is opened again on the next call, so the router recovers by itself
when the server is back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from router.errors import AlreadyExists
from router.model import (
    Delivery,
    EventId,
    ExchangeRecord,
    QueueConfig,
    QueueRecord,
    StoredEvent,
    SubscriberRecord,
)
from storage import _migrations
from storage.base import (
    Append,
    CommitResult,
    Positions,
    Reader,
    Restored,
    Storage,
    StorageUnavailable,
    decode_headers,
    encode_headers,
    finish_commit,
    id_bytes,
    plan_commit,
    resolve_duplicates,
)
from storage.control import Run, rows_of

DAY_US = 86_400_000_000
_READ = """
SELECT l.exchange_offset, e.seq, e.id::text, e.type, e.payload, e.headers, e.published_at
FROM exchange_log l JOIN events e ON e.seq = l.seq
WHERE l.exchange_id = %s AND l.exchange_offset BETWEEN %s AND %s
ORDER BY l.exchange_offset LIMIT %s
"""
_PUBLISHED_AT = """
SELECT e.published_at FROM exchange_log l JOIN events e ON e.seq = l.seq
WHERE l.exchange_id = %s AND l.exchange_offset = %s
"""


def _one(cursor: psycopg.Cursor[Any]) -> Any:
    row = cursor.fetchone()
    assert row is not None, "the query returns one row"
    return row


class _Connection:
    """A psycopg connection opened on demand and dropped when it breaks."""

    def __init__(self, url: str, autocommit: bool) -> None:
        self._url = url
        self._autocommit = autocommit
        self._connection: psycopg.Connection[Any] | None = None

    def get(self) -> psycopg.Connection[Any]:
        if self._connection is None or self._connection.closed:
            try:
                self._connection = psycopg.connect(
                    self._url, autocommit=self._autocommit, connect_timeout=5
                )
            except psycopg.Error as error:
                raise StorageUnavailable(f"postgresql: cannot connect: {error}") from error
        return self._connection

    @contextmanager
    def errors(self) -> Iterator[None]:
        try:
            yield
        except (psycopg.OperationalError, psycopg.InterfaceError) as error:
            self.drop()
            raise StorageUnavailable(f"postgresql: {error}".strip()) from error

    def drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None


class PostgresReader(Reader):
    def __init__(self, url: str) -> None:
        self._connection = _Connection(url, autocommit=True)

    def read(self, exchange_id: int, first: int, last: int, limit: int) -> list[Delivery]:
        with self._connection.errors():
            cursor = self._connection.get().cursor(binary=True)
            rows = cursor.execute(_READ, (exchange_id, first, last, limit), prepare=True).fetchall()
        return [
            Delivery(
                offset,
                StoredEvent(seq, id_, type_, payload, decode_headers(hdrs) if hdrs else (), at),
            )
            for offset, seq, id_, type_, payload, hdrs, at in rows
        ]

    def published_at(self, exchange_id: int, offset: int) -> int | None:
        with self._connection.errors():
            row = self._connection.get().execute(_PUBLISHED_AT, (exchange_id, offset)).fetchone()
        return None if row is None else int(row[0])

    def close(self) -> None:
        self._connection.drop()


class PostgresStorage(Storage):
    def __init__(self, url: str) -> None:
        self.url = url
        self._connection = _Connection(url, autocommit=True)
        self._partitions: set[int] = set()

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

    def migrate(self) -> list[int]:
        applied = []
        with self._transaction() as connection:
            connection.execute("SELECT pg_advisory_xact_lock(727272)")
            connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (version int PRIMARY KEY, applied_at timestamptz DEFAULT now())"
            )
            done = {row[0] for row in connection.execute("SELECT version FROM schema_migrations")}
            for version, sql in _migrations.load("postgres"):
                if version not in done:
                    connection.execute(sql.encode())
                    connection.execute(
                        "INSERT INTO schema_migrations (version) VALUES (%s)", (version,)
                    )
                    applied.append(version)
        return applied

    def _ensure_partition(self, connection: psycopg.Connection[Any], at: int) -> None:
        day = at // DAY_US
        if day in self._partitions:
            return
        for ahead in (day, day + 1):
            connection.execute(
                f"CREATE TABLE IF NOT EXISTS events_d{ahead} PARTITION OF events"
                f" FOR VALUES FROM ({ahead * DAY_US}) TO ({(ahead + 1) * DAY_US})"
            )
        self._partitions.add(day)

    def positions(self) -> Positions:
        with self._connection.errors():
            connection = self._connection.get()
            row = connection.execute(
                "SELECT seq, published_at FROM events ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            heads = {}
            for (exchange_id,) in connection.execute("SELECT id FROM exchanges").fetchall():
                (head,) = _one(
                    connection.execute(
                        "SELECT coalesce(max(exchange_offset), 0) FROM exchange_log"
                        " WHERE exchange_id = %s",
                        (exchange_id,),
                    )
                )
                heads[int(exchange_id)] = int(head)
        last_seq, last_at = (int(row[0]), int(row[1])) if row else (0, 0)
        return Positions(last_seq, last_at, heads)

    def restore(self) -> Restored:
        positions = self.positions()
        with self._connection.errors():
            connection = self._connection.get()
            exchanges = tuple(
                ExchangeRecord(int(i), n, tuple(json.loads(p)), int(a), positions.heads[int(i)])
                for i, n, p, a in connection.execute(
                    "SELECT id, name, patterns, created_at FROM exchanges ORDER BY id"
                ).fetchall()
            )
            queues = tuple(
                QueueRecord(i, int(x), QueueConfig(**json.loads(c)))
                for i, x, c in connection.execute(
                    "SELECT id, exchange_id, config FROM queues ORDER BY id"
                ).fetchall()
            )
            subscribers = tuple(
                SubscriberRecord(q, n, int(a))
                for q, n, a in connection.execute(
                    "SELECT queue_id, name, acked FROM subscribers ORDER BY queue_id, name"
                ).fetchall()
            )
        return Restored(
            positions, exchanges, queues, subscribers, tuple(self.users()), tuple(self.tokens())
        )

    def commit(
        self,
        appends: Sequence[Append],
        cursors: Mapping[tuple[str, str], int],
        positions: Positions,
        now: int,
    ) -> CommitResult:
        ids = list({event.id for append in appends for event in append.events})
        with self._transaction() as connection:
            existing: dict[EventId, int] = {}
            if ids:
                for id_, seq in connection.execute(
                    "SELECT id::text, seq FROM event_ids WHERE id = ANY(%s::uuid[])", (ids,)
                ).fetchall():
                    existing[id_] = int(seq)
            plan, after, duplicates = plan_commit(appends, existing, positions, now)
            cursor = connection.cursor()
            rows = [(e, id_bytes(e.id)) for e in plan.events]
            if plan.events:
                self._ensure_partition(connection, plan.events[-1].published_at)
                with cursor.copy(
                    "COPY events (seq, id, type, payload, headers, published_at)"
                    " FROM STDIN (FORMAT BINARY)"
                ) as copy:
                    # A binary COPY field is sent as bytes the server reads with the column's own
                    # type: the 16 raw bytes dumped as bytea arrive as a uuid, without building a
                    # uuid.UUID per event on our side.
                    copy.set_types(["int8", "bytea", "text", "bytea", "text", "int8"])
                    for e, raw_id in rows:
                        copy.write_row(
                            (
                                e.seq,
                                raw_id,
                                e.type,
                                e.payload,
                                encode_headers(e.headers) if e.headers else "",
                                e.published_at,
                            )
                        )
                with cursor.copy(
                    "COPY event_ids (id, seq, published_at) FROM STDIN (FORMAT BINARY)"
                ) as copy:
                    copy.set_types(["bytea", "int8", "int8"])
                    for e, raw_id in rows:
                        copy.write_row((raw_id, e.seq, e.published_at))
            if plan.log_rows:
                with cursor.copy(
                    "COPY exchange_log (exchange_id, exchange_offset, seq) FROM STDIN (FORMAT BINARY)"
                ) as copy:
                    copy.set_types(["int8", "int8", "int8"])
                    for row in plan.log_rows:
                        copy.write_row(row)
            if cursors:
                cursor.executemany(
                    "UPDATE subscribers SET acked = %s, updated_at = %s"
                    " WHERE queue_id = %s AND name = %s",
                    [(acked, now, queue_id, name) for (queue_id, name), acked in cursors.items()],
                )
            resolved = resolve_duplicates(
                duplicates, existing, after.heads, lambda x, o: self._seq_at(connection, x, o)
            )
        return finish_commit(plan, resolved, after)

    @staticmethod
    def _seq_at(connection: psycopg.Connection[Any], exchange_id: int, offset: int) -> int | None:
        row = connection.execute(
            "SELECT seq FROM exchange_log WHERE exchange_id = %s AND exchange_offset = %s",
            (exchange_id, offset),
        ).fetchone()
        return None if row is None else int(row[0])

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
            exchange_id = int(_one(row)[0])
            types = [
                str(t)
                for (t,) in connection.execute("SELECT DISTINCT type FROM events").fetchall()
                if matcher(str(t))
            ]
            connection.execute(
                "INSERT INTO exchange_log (exchange_id, exchange_offset, seq)"
                " SELECT %s, row_number() OVER (ORDER BY seq), seq FROM events"
                " WHERE type = ANY(%s)",
                (exchange_id, types),
            )
            (head,) = _one(
                connection.execute(
                    "SELECT coalesce(max(exchange_offset), 0) FROM exchange_log"
                    " WHERE exchange_id = %s",
                    (exchange_id,),
                )
            )
        return ExchangeRecord(exchange_id, name, patterns, created_at, int(head))

    def purge_ids(self, older_than: int) -> int:
        with self._transaction() as connection:
            cursor = connection.execute(
                "DELETE FROM event_ids WHERE published_at < %s", (older_than,)
            )
            return int(cursor.rowcount)

    def reader(self) -> PostgresReader:
        return PostgresReader(self.url)

    def close(self) -> None:
        self._connection.drop()
