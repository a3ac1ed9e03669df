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

from router.core.errors import AlreadyExists, FailedPrecondition
from router.core.model import (
    EventId,
    ExchangeRecord,
    QueueConfig,
    QueueRecord,
    StoredEvent,
)
from router.core.wire import WireBatch, decode_event, encode_event, wire_batch
from storage import _migrations, pgcopy
from storage._migrations import Schema
from storage.base import (
    WIRE_FILL_ROWS,
    WIRE_MIGRATION,
    Append,
    CommitResult,
    Positions,
    Reader,
    Restored,
    Storage,
    StorageUnavailable,
    finish_commit,
    id_bytes,
    needs_publishers,
    plan_commit,
    plan_routing,
    publishers_of,
    resolve_duplicates,
    wire_from_columns,
)
from storage.control import Run, rows_of
from storage.leadership import Deposed, Lease, relock
from storage.retention import Horizon, Trimmed

DAY_US = 86_400_000_000
# A commit of at most this many events writes its rows in one statement (_WRITE_FEW): four
# round trips in all (BEGIN, the id lookup, the rows, COMMIT) instead of about ten; a larger one
# uses binary COPY, which costs more round trips and much less per row.
FEW_EVENTS = 64
# A chunk whose offsets map to consecutive seqs (an exchange that took every event in that
# stretch: seq = offset + d for each row, no offset missing) is read as one range of the events
# table; the join below probes events once per row, four times the server's CPU (8.6 vs 2.3 ms
# for 2,000 rows) and half of all the CPU a PostgreSQL catch-up took. No row back: not such a
# run (or nothing there), and the join reads it.
_READ_RUN = """
WITH m AS (
    SELECT min(exchange_offset) AS lo, max(exchange_offset) AS hi, count(*) AS n,
           min(seq - exchange_offset) AS d, max(seq - exchange_offset) AS d2
    FROM exchange_log WHERE exchange_id = %s AND exchange_offset BETWEEN %s AND %s
)
SELECT e.seq - m.d, e.wire FROM m JOIN events e ON e.seq BETWEEN m.lo + m.d AND m.hi + m.d
WHERE m.d = m.d2 AND m.hi - m.lo + 1 = m.n
ORDER BY e.seq
"""
_READ = """
SELECT l.exchange_offset, e.wire
FROM exchange_log l JOIN events e ON e.seq = l.seq
WHERE l.exchange_id = %s AND l.exchange_offset BETWEEN %s AND %s
ORDER BY l.exchange_offset LIMIT %s
"""
# The same two reads within a byte budget: a running sum of the stored sizes (octet_length reads
# a stored value's length without fetching it), and the rows past the budget left out before their
# wire forms are fetched. At least the first row is kept, however large.
_READ_RUN_BYTES = """
WITH m AS (
    SELECT min(exchange_offset) AS lo, max(exchange_offset) AS hi, count(*) AS n,
           min(seq - exchange_offset) AS d, max(seq - exchange_offset) AS d2
    FROM exchange_log WHERE exchange_id = %s AND exchange_offset BETWEEN %s AND %s
)
SELECT o, wire FROM (
    SELECT e.seq - m.d AS o, e.wire,
           sum(octet_length(e.wire)) OVER (ORDER BY e.seq ROWS UNBOUNDED PRECEDING) AS upto
    FROM m JOIN events e ON e.seq BETWEEN m.lo + m.d AND m.hi + m.d
    WHERE m.d = m.d2 AND m.hi - m.lo + 1 = m.n
) r WHERE upto <= %s OR upto = octet_length(wire)
ORDER BY o
"""
_READ_BYTES = """
SELECT o, wire FROM (
    SELECT l.exchange_offset AS o, e.wire,
           sum(octet_length(e.wire)) OVER (ORDER BY l.exchange_offset ROWS UNBOUNDED PRECEDING)
               AS upto
    FROM exchange_log l JOIN events e ON e.seq = l.seq
    WHERE l.exchange_id = %s AND l.exchange_offset BETWEEN %s AND %s
    ORDER BY l.exchange_offset LIMIT %s
) r WHERE upto <= %s OR upto = octet_length(wire)
ORDER BY o
"""
_READ_LOG = """
SELECT wire FROM events
WHERE seq > %s ORDER BY seq LIMIT %s
"""
_PUBLISHED_AT = """
SELECT e.published_at FROM exchange_log l JOIN events e ON e.seq = l.seq
WHERE l.exchange_id = %s AND l.exchange_offset = %s
"""


def _one(cursor: psycopg.Cursor[Any]) -> Any:
    row = cursor.fetchone()
    assert row is not None, "the query returns one row"
    return row


_INSERT_PUBLISHERS = (
    "INSERT INTO event_publishers (first_seq, last_seq, runs, published_at) VALUES (%s, %s, %s, %s)"
)
_WRITE_FEW = """
WITH new_events AS (
    INSERT INTO events (seq, id, type, published_at, wire)
    SELECT * FROM unnest(%(seq)s::int8[], %(id)s::uuid[], %(type)s::text[], %(at)s::int8[],
                         %(wire)s::bytea[])
), new_ids AS (
    INSERT INTO event_ids (id, seq, published_at)
    SELECT * FROM unnest(%(id)s::uuid[], %(seq)s::int8[], %(at)s::int8[])
), new_log AS (
    INSERT INTO exchange_log (exchange_id, exchange_offset, seq)
    SELECT * FROM unnest(%(log_exchange)s::int8[], %(log_offset)s::int8[], %(log_seq)s::int8[])
), new_publishers AS (
    INSERT INTO event_publishers (first_seq, last_seq, runs, published_at)
    SELECT * FROM unnest(%(p_first)s::int8[], %(p_last)s::int8[], %(p_runs)s::text[],
                         %(p_at)s::int8[])
), saved AS (
    UPDATE subscribers AS s SET acked = u.acked, ledger = u.ledger, updated_at = %(now)s
    FROM unnest(%(queue_id)s::text[], %(name)s::text[], %(acked)s::int8[], %(ledger)s::text[])
        AS u (queue_id, name, acked, ledger)
    WHERE s.queue_id = u.queue_id AND s.name = u.name
)
SELECT 1
"""


def _write_few(
    cursor: psycopg.Cursor[Any],
    events: Sequence[StoredEvent],
    log_rows: Sequence[tuple[int, int, int]],
    cursors: Mapping[tuple[str, str], tuple[int, str]],
    now: int,
    publishers: Sequence[tuple[int, int, str, int]] = (),
) -> None:
    """A small commit's rows in one statement, one round trip (COPY takes two per table)."""
    cursor.execute(
        _WRITE_FEW,
        {
            "seq": [e.seq for e in events],
            "id": [e.id for e in events],
            "type": [e.type for e in events],
            "at": [e.published_at for e in events],
            "wire": [encode_event(e) for e in events],
            "log_exchange": [row[0] for row in log_rows],
            "log_offset": [row[1] for row in log_rows],
            "log_seq": [row[2] for row in log_rows],
            "now": now,
            "queue_id": [queue_id for queue_id, _ in cursors],
            "name": [name for _, name in cursors],
            "acked": [acked for acked, _ in cursors.values()],
            "ledger": [ledger for _, ledger in cursors.values()],
            "p_first": [row[0] for row in publishers],
            "p_last": [row[1] for row in publishers],
            "p_runs": [row[2] for row in publishers],
            "p_at": [row[3] for row in publishers],
        },
    )


def _copy_events(cursor: psycopg.Cursor[Any], rows: Sequence[tuple[StoredEvent, bytes]]) -> None:
    """Many events, as binary COPY (the data built by storage.pgcopy), from (event, id bytes)."""
    if rows:
        with cursor.copy(
            "COPY events (seq, id, type, published_at, wire) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            pgcopy.send(copy, rows, pgcopy.events)


def _copy_ids(
    cursor: psycopg.Cursor[Any], events: Sequence[StoredEvent]
) -> list[tuple[StoredEvent, bytes]]:
    """Index many events' ids (UniqueViolation if one is stored); (event, id bytes) pairs."""
    rows = [(e, id_bytes(e.id)) for e in events]
    if rows:
        with cursor.copy(
            "COPY event_ids (id, seq, published_at) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            pgcopy.send(copy, rows, pgcopy.event_ids)
    return rows


def _fill_wire(connection: psycopg.Connection[Any]) -> None:
    """Give the events stored before migration 3 their wire form, some thousands at a time."""
    after = 0
    while True:
        rows = connection.execute(
            "SELECT seq, id::text, type, payload, headers, published_at FROM events"
            " WHERE seq > %s ORDER BY seq LIMIT %s",
            (after, WIRE_FILL_ROWS),
        ).fetchall()
        if not rows:
            return
        connection.execute(
            "UPDATE events SET wire = u.wire FROM unnest(%s::int8[], %s::bytea[]) AS u (seq, wire)"
            " WHERE events.seq = u.seq",
            (
                [row[0] for row in rows],
                [wire_from_columns(*row) for row in rows],
            ),
        )
        after = rows[-1][0]


def _write_log_rows_and_cursors(
    cursor: psycopg.Cursor[Any],
    log_rows: Sequence[tuple[int, int, int]],
    cursors: Mapping[tuple[str, str], tuple[int, str]],
    now: int,
) -> None:
    """The exchange-log rows of a commit (binary COPY) and its cursor saves."""
    if log_rows:
        with cursor.copy(
            "COPY exchange_log (exchange_id, exchange_offset, seq) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            pgcopy.send(copy, log_rows, pgcopy.exchange_log)
    if cursors:
        cursor.executemany(
            "UPDATE subscribers SET acked = %s, ledger = %s, updated_at = %s"
            " WHERE queue_id = %s AND name = %s",
            [
                (acked, ledger, now, queue_id, name)
                for (queue_id, name), (acked, ledger) in cursors.items()
            ],
        )


class _Connection:
    """A psycopg connection opened on demand and dropped when it breaks."""

    def __init__(
        self, url: str, autocommit: bool, schema: str | None = None, lease: Lease | None = None
    ) -> None:
        self._url = url
        self._autocommit = autocommit
        self._schema = schema
        self._connection: psycopg.Connection[Any] | None = None
        # A leader's writer connection (storage.leadership): the first is the one that took the
        # lock; one opened again must take it again under the same epoch, or nothing is written.
        self._lease = lease

    def get(self) -> psycopg.Connection[Any]:
        if self._connection is None or self._connection.closed:
            self._connection = None
            connection = self._open()
            try:
                with connection.transaction():
                    # No JIT: it compiles a statement whose plan costs more than jit_above_cost,
                    # and a replay chunk's generic plan over a log of 1,000,000 events does (its
                    # estimates are in the hundreds of thousands of rows): 10 ms of compiling,
                    # each time, for 2 ms of work. These statements are all short.
                    connection.execute("SET jit = off")
                if self._schema is not None:
                    self._enter_schema(connection, self._schema)
            except psycopg.Error as error:
                connection.close()
                raise StorageUnavailable(f"postgresql: cannot connect: {error}") from error
            self._connection = connection  # only once set up (and, for a leader, locked)
        return self._connection

    def _open(self) -> psycopg.Connection[Any]:
        if self._lease is not None and self._lease.connection is not None:
            connection, self._lease.connection = self._lease.connection, None
            return connection
        try:
            connection = psycopg.connect(self._url, autocommit=self._autocommit, connect_timeout=5)
        except psycopg.Error as error:
            raise StorageUnavailable(f"postgresql: cannot connect: {error}") from error
        if self._lease is not None:
            try:
                relock(connection, self._lease.epoch)
            except Deposed:
                connection.close()  # the lock, if this connection had taken it, goes with it
                raise
            except psycopg.Error as error:
                connection.close()
                raise StorageUnavailable(f"postgresql: {error}".strip()) from error
        return connection

    @staticmethod
    def _enter_schema(connection: psycopg.Connection[Any], schema: str) -> None:
        """Put ``schema`` first on the search path: this node's tables are made and found there,
        and the tables it does not have (the event log) are found where the URL points."""
        with connection.transaction():
            connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            connection.execute(
                "SELECT set_config('search_path', %s || ', ' || current_setting('search_path'),"
                " false)",
                (f'"{schema}"',),
            )

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
    def __init__(self, url: str, schema: str | None = None) -> None:
        self._connection = _Connection(url, autocommit=True, schema=schema)

    def read(
        self, exchange_id: int, first: int, last: int, limit: int, max_bytes: int = 0
    ) -> WireBatch:
        with self._connection.errors():
            cursor = self._connection.get().cursor(binary=True)
            end = min(last, first + limit - 1)
            if max_bytes:
                run = (exchange_id, first, end, max_bytes)
                rows = cursor.execute(_READ_RUN_BYTES, run, prepare=True).fetchall()
                if not rows:
                    rest = (exchange_id, first, last, limit, max_bytes)
                    rows = cursor.execute(_READ_BYTES, rest, prepare=True).fetchall()
                return wire_batch(rows)
            rows = cursor.execute(_READ_RUN, (exchange_id, first, end), prepare=True).fetchall()
            if not rows:
                arguments = (exchange_id, first, last, limit)
                rows = cursor.execute(_READ, arguments, prepare=True).fetchall()
        return wire_batch(rows)

    def read_log(self, after_seq: int, limit: int) -> list[StoredEvent]:
        with self._connection.errors():
            cursor = self._connection.get().cursor(binary=True)
            rows = cursor.execute(_READ_LOG, (after_seq, limit), prepare=True).fetchall()
        return [decode_event(wire) for (wire,) in rows]

    def published_at(self, exchange_id: int, offset: int) -> int | None:
        with self._connection.errors():
            row = self._connection.get().execute(_PUBLISHED_AT, (exchange_id, offset)).fetchone()
        return None if row is None else int(row[0])

    def close(self) -> None:
        self._connection.drop()


class PostgresStorage(Storage):
    migrations = "postgres"
    schema: str | None = None

    def __init__(self, url: str, lease: Lease | None = None) -> None:
        """With ``lease`` (a leader's, storage.leadership), every write goes through the
        connection that holds the leadership lock, and stops once another router leads."""
        self.url = url
        self._connection = _Connection(url, autocommit=True, schema=self.schema, lease=lease)
        self._partitions: set[int] = set()
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
        applied = []
        with self._transaction() as connection:
            connection.execute("SELECT pg_advisory_xact_lock(727272)")
            connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (version int PRIMARY KEY, applied_at timestamptz DEFAULT now())"
            )
            connection.execute(
                "ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS router_version text"
            )
            self._schema_state(connection).check()
            done = {row[0] for row in connection.execute("SELECT version FROM schema_migrations")}
            for version, sql in _migrations.load(self.migrations):
                if version not in done and (upto is None or version <= upto):
                    connection.execute(sql.encode())
                    if version == WIRE_MIGRATION and self.migrations == "postgres":
                        _fill_wire(connection)
                    connection.execute(
                        "INSERT INTO schema_migrations (version, router_version) VALUES (%s, %s)",
                        (version, _migrations.applied_by()),
                    )
                    applied.append(version)
        return applied

    def schema_state(self) -> Schema:
        """Where the store's schema stands against this router's; reads only."""
        with self._connection.errors():
            return self._schema_state(self._connection.get())

    def _schema_state(self, connection: psycopg.Connection[Any]) -> Schema:
        (table,) = _one(connection.execute("SELECT to_regclass('schema_migrations')::text"))
        return _migrations.read_schema(self.migrations, connection, table is not None)

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

    def _log_position(self, connection: psycopg.Connection[Any]) -> Any:
        """(last seq, its published_at) of the log, or None when it is empty."""
        return connection.execute(
            "SELECT seq, published_at FROM events ORDER BY seq DESC LIMIT 1"
        ).fetchone()

    def positions(self) -> Positions:
        with self._connection.errors():
            connection = self._connection.get()
            row = self._log_position(connection)
            heads = {}
            self._tails = {}
            for exchange_id, first_kept in connection.execute(
                "SELECT id, first_kept FROM exchanges"
            ).fetchall():
                (head,) = _one(
                    connection.execute(
                        "SELECT coalesce(max(exchange_offset), 0) FROM exchange_log"
                        " WHERE exchange_id = %s",
                        (exchange_id,),
                    )
                )
                heads[int(exchange_id)] = max(int(head), int(first_kept) - 1)
                self._tails[int(exchange_id)] = int(first_kept)
            if row is None:  # every event removed: the horizon still says how far the log went
                row = _one(
                    connection.execute("SELECT first_seq - 1, removed_until FROM log_horizon")
                )
        last_seq, last_at = int(row[0]), int(row[1])
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
        return self._restored(positions, exchanges, queues)

    def commit(
        self,
        appends: Sequence[Append],
        cursors: Mapping[tuple[str, str], tuple[int, str]],
        positions: Positions,
        now: int,
    ) -> CommitResult:
        ids = list({event.id for append in appends for event in append.events})
        few = len(ids) <= FEW_EVENTS
        with self._transaction() as connection:
            cursor = connection.cursor()
            existing: dict[EventId, int] = {}
            if few:
                existing = self._stored_ids(connection, ids)
                publishers = self._publishers(connection, appends, existing)
                plan, after, duplicates = plan_commit(appends, existing, positions, now, publishers)
                if plan.events:
                    self._ensure_partition(connection, plan.events[-1].published_at)
                _write_few(cursor, plan.events, plan.log_rows, cursors, now, plan.publishers)
            else:
                # Optimistic, as in SQLite: plan as if no id were stored yet; a stored one fails
                # the id COPY, and the savepoint lets the commit look the ids up and plan again.
                # The look-up was an eighth of a large commit's time.
                plan, after, duplicates = plan_commit(appends, existing, positions, now)
                if plan.events:
                    self._ensure_partition(connection, plan.events[-1].published_at)
                try:
                    with connection.transaction():
                        rows = _copy_ids(cursor, plan.events)
                except pg_errors.UniqueViolation:
                    existing = self._stored_ids(connection, ids)
                    publishers = self._publishers(connection, appends, existing)
                    plan, after, duplicates = plan_commit(
                        appends, existing, positions, now, publishers
                    )
                    rows = _copy_ids(cursor, plan.events)
                _copy_events(cursor, rows)
                if plan.publishers:
                    cursor.executemany(_INSERT_PUBLISHERS, plan.publishers)
                _write_log_rows_and_cursors(cursor, plan.log_rows, cursors, now)
            resolved = resolve_duplicates(
                duplicates,
                existing,
                after.heads,
                lambda x, o: self._seq_at(connection, x, o),
                self._tails,
            )
        return finish_commit(plan, resolved, after)

    @staticmethod
    def _publishers(
        connection: psycopg.Connection[Any], appends: Sequence[Append], existing: dict[EventId, int]
    ) -> dict[int, str]:
        """Who published the stored ids a scoped append re-uses (see storage.base.clashing)."""
        if not needs_publishers(appends, existing):
            return {}
        return publishers_of(connection, "%s", existing.values())

    @staticmethod
    def _stored_ids(connection: psycopg.Connection[Any], ids: list[EventId]) -> dict[EventId, int]:
        """The seqs of those of ``ids`` that are stored."""
        if not ids:
            return {}
        # The ids as one array literal: psycopg dumping a list of 2,000 strings cost more than
        # the query (canonical UUID texts need no quoting).
        rows = connection.execute(
            "SELECT id::text, seq FROM event_ids WHERE id = ANY(%s::uuid[])",
            ("{" + ",".join(ids) + "}",),
        ).fetchall()
        return {id_: int(seq) for id_, seq in rows}

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
                " WHERE type = ANY(%s) AND seq <= %s",
                (exchange_id, types, self._history_end(connection)),
            )
            (head,) = _one(
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
        """Forget the removed events' ids, and drop the day partitions left empty: the files
        of a whole day go back to the system at once, where a DELETE leaves them for reuse."""
        run("DELETE FROM event_ids WHERE published_at < ?", (horizon.removed_until,))
        # A day with no kept event ends at or before the first kept event's time.
        kept_from = self._event_time(run, horizon.first_seq)
        if kept_from is None:
            kept_from = horizon.removed_until + 1
        for (name,) in run(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'events'::regclass AND c.relname LIKE 'events_d%%'",
            (),
        ):
            day = int(str(name)[len("events_d") :])
            if (day + 1) * DAY_US <= kept_from:
                run(f"DROP TABLE {name}", ())
                self._partitions.discard(day)
        self._tails = dict(horizon.tails)

    def reclaim(self) -> None:
        """VACUUM the tables removal deletes from: without it their dead rows wait for
        autovacuum (a minute or more), and a log trimmed every second grows twice its size."""
        connection = _Connection(self.url, autocommit=True, schema=self.schema)
        try:
            with connection.errors():
                live = connection.get()
                days = [
                    str(name)
                    for (name,) in live.execute(
                        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                        " WHERE i.inhparent = 'events'::regclass ORDER BY c.relname LIMIT 2"
                    ).fetchall()
                ]
                for table in ("exchange_log", "event_ids", *days):
                    live.execute(f"VACUUM {table}".encode())
        finally:
            connection.drop()

    def log_bytes(self) -> int:
        """Events (every partition), exchange log and id index, with their indexes and
        PostgreSQL's free space in them (reused by later writes)."""
        with self._transaction() as connection:
            ((size,),) = connection.execute(
                "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0)"
                " + pg_total_relation_size('exchange_log') + pg_total_relation_size('event_ids')"
                " FROM pg_inherits WHERE inhparent = 'events'::regclass"
            ).fetchall()
        return int(size)

    def reader(self) -> PostgresReader:
        return PostgresReader(self.url, self.schema)

    def close(self) -> None:
        self._connection.drop()


class PostgresRouteStorage(PostgresStorage):
    """A route node's store (``--role route``): its exchanges, exchange log, queues, subscribers,
    users and follow position live in schema ``route_<node>``; the event log it routes and
    replays is the ingest node's, found further along the search path, and never written here.

    A commit writes the offsets of events the ingest node stored, the position they reach and the
    cursors, in one transaction: after a crash the node follows again from exactly there.
    """

    migrations = "postgres_route"

    def __init__(self, url: str, node: str) -> None:
        self.schema = f"route_{node}"
        super().__init__(url)

    def _log_position(self, connection: psycopg.Connection[Any]) -> Any:
        row = connection.execute("SELECT last_seq, published_at FROM route_position").fetchone()
        return row if row is not None and row[0] else None

    def _history_end(self, connection: psycopg.Connection[Any]) -> int:
        row = self._log_position(connection)
        return int(row[0]) if row else 0

    def commit(
        self,
        appends: Sequence[Append],
        cursors: Mapping[tuple[str, str], tuple[int, str]],
        positions: Positions,
        now: int,
    ) -> CommitResult:
        plan, after = plan_routing(appends, positions)
        with self._transaction() as connection:
            _write_log_rows_and_cursors(connection.cursor(), plan.log_rows, cursors, now)
            if after.last_seq != positions.last_seq:
                connection.execute(
                    "UPDATE route_position SET last_seq = %s, published_at = %s",
                    (after.last_seq, after.last_published_at),
                )
        return finish_commit(plan, {}, after)

    def purge_ids(self, older_than: int) -> int:
        return 0  # the idempotency keys are the ingest node's

    def trim(self, before_seq: int, most: int) -> Trimmed:
        raise FailedPrecondition(
            "retention: a route node routes the ingest node's log; removal runs there"
        )
