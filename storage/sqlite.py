"""The embedded store: SQLite in WAL mode, one writer connection and one connection per reader.

Connections are opened with ``check_same_thread=False`` because the StateActor calls them from
Trio's worker threads; each connection is used by one call at a time.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import accumulate

from router.errors import AlreadyExists
from router.model import (
    EventId,
    ExchangeRecord,
    QueueConfig,
    QueueRecord,
    StoredEvent,
)
from router.wire import WireBatch, decode_event, encode_event, framed, wire_batch
from storage import _migrations
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
    id_text,
    plan_commit,
    resolve_duplicates,
    wire_from_columns,
)
from storage.control import Run, rows_of

# A replay chunk comes back as one row: its offsets, its events' wire forms joined, and their
# sizes. sqlite3 lets go of the interpreter lock for each row it steps to and must then win it
# back from the threads that are sending and receiving; 2,000 rows a chunk made catch-up wait on
# those hand-offs (router system CPU 1.1-1.4 us an event, futexes). The offsets come back too so
# that the order of the three lists is checked, not assumed.
_READ = """
SELECT group_concat(o), CAST(group_concat(w, '') AS BLOB), group_concat(length(w)) FROM (
    SELECT l.exchange_offset AS o, e.wire AS w
    FROM exchange_log l JOIN events e ON e.seq = l.seq
    WHERE l.exchange_id = ? AND l.exchange_offset BETWEEN ? AND ?
    ORDER BY l.exchange_offset LIMIT ?
)
"""
_READ_ROWS = """
SELECT l.exchange_offset, e.wire
FROM exchange_log l JOIN events e ON e.seq = l.seq
WHERE l.exchange_id = ? AND l.exchange_offset BETWEEN ? AND ?
ORDER BY l.exchange_offset LIMIT ?
"""


# A commit writes each table with one statement over its rows packed into a few values (the
# events' ids and wire forms joined, the rest as JSON), not ``executemany``: sqlite3 lets go of
# the interpreter lock for every row it inserts and must then win it back from the threads that
# are receiving publishes and sending acks, and the writer spent most of a commit waiting so.
_COUNT = "WITH RECURSIVE k(i) AS (VALUES (0) UNION ALL SELECT i + 1 FROM k WHERE i + 1 < ?1) "
# Ids are indexed in three tables, an id in one of them (migrations 5 and 6). New ones go to
# event_ids_recent, whose unique key refuses an id stored there, and the same insert leaves out
# any found in the other two. Random ids touch random pages, and SQLite's log takes every page a
# transaction touched, whole: inserting into one growing index rewrote most of it at each commit
# (plain sqlite3, 2,000-event commits: 13 us an event at first, 25 us by 300,000 events). So
# the recent ids move into event_ids once MERGE_IDS have gathered, and event_ids, once it holds
# LEVEL_IDS, moves into event_ids_old one range of ids (1 / MOVE_SLICES of all) per commit, a
# range touching only its own pages of the big index: with two tables, each 50,000-id move into
# an index of 3,000,000 wrote 72 MB, and publishing fell from 56,000 to 31,000 events/s.
MERGE_IDS = 50_000
LEVEL_IDS = 1_000_000
MOVE_SLICES = 64
_ID_TABLES = ("event_ids_old", "event_ids", "event_ids_recent")
_INSERT_IDS = (  # the ids stored in neither other table: fewer rows than ids means one is stored
    _COUNT + "INSERT INTO event_ids_recent (id, seq, published_at)"
    " SELECT substr(?2, 16 * i + 1, 16), ?3 + i, ?4 FROM k"
    " WHERE NOT EXISTS (SELECT 1 FROM event_ids WHERE id = substr(?2, 16 * i + 1, 16))"
    " AND NOT EXISTS (SELECT 1 FROM event_ids_old WHERE id = substr(?2, 16 * i + 1, 16))"
)
_STORED_IDS = _COUNT + " UNION ALL ".join(
    f"SELECT id, seq FROM {table} WHERE id IN (SELECT substr(?2, 16 * i + 1, 16) FROM k)"
    for table in _ID_TABLES
)
_MERGE_IDS = (
    "INSERT INTO event_ids (id, seq, published_at)"
    " SELECT id, seq, published_at FROM event_ids_recent",
    "DELETE FROM event_ids_recent",
)
_MOVE_RANGE = (  # the ids from ?1 (included) to ?2 (excluded): one range of the index
    "INSERT INTO event_ids_old (id, seq, published_at) SELECT id, seq, published_at"
    " FROM event_ids WHERE id >= ?1 AND id < ?2 ORDER BY id",
    "DELETE FROM event_ids WHERE id >= ?1 AND id < ?2",
)
# The window's purge leaves event_ids_old alone: its expired ids lie on random pages all over
# it (10 minutes of ids touch most of a big index, written whole to the log, at every purge).
# They are forgotten range by range as the moves pass, whose inserts touch those pages anyway;
# until then an expired id still counts as stored, which only makes the window longer.
_FORGET_RANGE = "DELETE FROM event_ids_old WHERE id >= ?1 AND id < ?2 AND published_at < ?3"
_PAST_EVERY_ID = b"\xff" * 17  # sorts after any 16 bytes


def _slice_bounds(k: int) -> tuple[bytes, bytes]:
    """The ids of slice ``k`` of MOVE_SLICES, by their first two bytes."""

    def edge(n: int) -> bytes:
        return (n * 65_536 // MOVE_SLICES).to_bytes(2, "big") if n < MOVE_SLICES else _PAST_EVERY_ID

    return edge(k), edge(k + 1)


# (type, start, length) of each event's wire form in the joined bytes, in seq order.
_INSERT_EVENTS = """
INSERT INTO events (seq, id, type, published_at, wire)
SELECT ?1 + key, substr(?2, 16 * key + 1, 16), json_extract(value, '$[0]'), ?3,
       substr(?4, json_extract(value, '$[1]'), json_extract(value, '$[2]'))
FROM json_each(?5)
"""
# An exchange's rows of one commit: consecutive offsets; their seqs are consecutive too when
# the exchange took every event of the commit, else listed.
_INSERT_LOG_RUN = (
    _COUNT + "INSERT INTO exchange_log (exchange_id, exchange_offset, seq)"
    " SELECT ?2, ?3 + i, ?4 + i FROM k"
)
_INSERT_LOG_SEQS = (
    "INSERT INTO exchange_log (exchange_id, exchange_offset, seq)"
    " SELECT ?1, ?2 + key, value FROM json_each(?3)"
)


def path_from_url(url: str) -> str:
    """``sqlite:///rel/path.db`` (relative to the working directory) or ``sqlite:////abs/path.db``."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise ValueError(f"db: not a sqlite URL (sqlite:///path): {url!r}")
    return url[len(prefix) :] or "router.db"


def _connect(path: str) -> sqlite3.Connection:
    try:
        connection = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA busy_timeout=30000")
    except sqlite3.Error as error:
        raise StorageUnavailable(f"sqlite: cannot open {path}: {error}") from error
    return connection


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except sqlite3.IntegrityError:
        raise
    except (sqlite3.OperationalError, sqlite3.DatabaseError) as error:
        raise StorageUnavailable(f"sqlite: {error}") from error


def _split(joined: bytes, sizes: list[int]) -> Iterator[bytes]:
    end = 0
    for size in sizes:
        start, end = end, end + size
        yield joined[start:end]


_READ_LOG = "SELECT wire FROM events WHERE seq > ? ORDER BY seq LIMIT ?"


def _fill_wire(connection: sqlite3.Connection) -> None:
    """Give the events stored before migration 3 their wire form, some thousands at a time."""
    after = 0
    while True:
        rows = connection.execute(
            "SELECT seq, id, type, payload, headers, published_at FROM events"
            " WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, WIRE_FILL_ROWS),
        ).fetchall()
        if not rows:
            return
        connection.executemany(
            "UPDATE events SET wire = ? WHERE seq = ?",
            [
                (wire_from_columns(seq, id_text(raw_id), type_, payload, headers, at), seq)
                for seq, raw_id, type_, payload, headers, at in rows
            ],
        )
        after = rows[-1][0]


def _published_at(connection: sqlite3.Connection, exchange_id: int, offset: int) -> int | None:
    row = connection.execute(
        "SELECT e.published_at FROM exchange_log l JOIN events e ON e.seq = l.seq"
        " WHERE l.exchange_id = ? AND l.exchange_offset = ?",
        (exchange_id, offset),
    ).fetchone()
    return None if row is None else int(row[0])


class SqliteReader(Reader):
    def __init__(self, path: str) -> None:
        self._connection = _connect(path)

    def read(self, exchange_id: int, first: int, last: int, limit: int) -> WireBatch:
        arguments = (exchange_id, first, last, limit)
        with _errors():
            batch = self._joined(arguments)
            if batch is None:
                batch = wire_batch(self._connection.execute(_READ_ROWS, arguments).fetchall())
        return batch

    def _joined(self, arguments: tuple[int, int, int, int]) -> WireBatch | None:
        """The chunk from its one joined row; None if it is too long to join, or if its offsets
        are not one run of consecutive offsets in order (then it is read row by row)."""
        try:
            offsets, joined, sizes = self._connection.execute(_READ, arguments).fetchone()
        except sqlite3.DataError:  # longer than SQLite's longest value
            return None
        if offsets is None:
            return WireBatch(0, -1, [])
        start = int(offsets.partition(",")[0])
        lengths = [int(size) for size in sizes.split(",")]
        if offsets != ",".join(map(str, range(start, start + len(lengths)))):
            return None
        return framed(start, _split(joined, lengths))

    def published_at(self, exchange_id: int, offset: int) -> int | None:
        with _errors():
            return _published_at(self._connection, exchange_id, offset)

    def read_log(self, after_seq: int, limit: int) -> list[StoredEvent]:
        with _errors():
            rows = self._connection.execute(_READ_LOG, (after_seq, limit)).fetchall()
        return [decode_event(wire) for (wire,) in rows]

    def close(self) -> None:
        self._connection.close()


class SqliteStorage(Storage):
    def __init__(self, url: str) -> None:
        self.url = url
        self._path = path_from_url(url)
        directory = os.path.dirname(os.path.abspath(self._path))
        os.makedirs(directory, exist_ok=True)
        self._connection = _connect(self._path)
        self._recent: int | None = None  # ids in event_ids_recent, once counted
        self._level: int | None = None  # ids in event_ids, once counted
        self._slice: int | None = None  # the next range of event_ids to move, while moving
        self._forget_before: int | None = None  # the window's last cutoff (see _FORGET_RANGE)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        connection = self._connection
        with _errors():
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    @contextmanager
    def _control(self) -> Iterator[Run]:
        with self._transaction() as connection:
            yield lambda sql, params: rows_of(connection.execute(sql, params))

    def migrate(self) -> list[int]:
        with _errors():
            self._connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (version INTEGER PRIMARY KEY, applied_at TEXT DEFAULT CURRENT_TIMESTAMP)"
            )
            done = {
                row[0] for row in self._connection.execute("SELECT version FROM schema_migrations")
            }
        applied = []
        for version, sql in _migrations.load("sqlite"):
            if version in done:
                continue
            with self._transaction() as connection:
                code = "\n".join(l for l in sql.splitlines() if not l.lstrip().startswith("--"))
                for statement in code.split(";"):
                    if statement.strip():
                        connection.execute(statement)
                if version == WIRE_MIGRATION:
                    _fill_wire(connection)
                connection.execute("INSERT INTO schema_migrations (version) VALUES (?)", (version,))
            applied.append(version)
        return applied

    def positions(self) -> Positions:
        with _errors():
            connection = self._connection
            row = connection.execute(
                "SELECT seq, published_at FROM events ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            heads = {}
            for (exchange_id,) in connection.execute("SELECT id FROM exchanges").fetchall():
                (head,) = connection.execute(
                    "SELECT coalesce(max(exchange_offset), 0) FROM exchange_log"
                    " WHERE exchange_id = ?",
                    (exchange_id,),
                ).fetchone()
                heads[int(exchange_id)] = int(head)
        last_seq, last_at = (int(row[0]), int(row[1])) if row else (0, 0)
        return Positions(last_seq, last_at, heads)

    def restore(self) -> Restored:
        positions = self.positions()
        with _errors():
            connection = self._connection
            exchanges = tuple(
                ExchangeRecord(
                    int(id_), name, tuple(json.loads(patterns)), int(at), positions.heads[id_]
                )
                for id_, name, patterns, at in connection.execute(
                    "SELECT id, name, patterns, created_at FROM exchanges ORDER BY id"
                )
            )
            queues = tuple(
                QueueRecord(id_, int(exchange_id), QueueConfig(**json.loads(config)))
                for id_, exchange_id, config in connection.execute(
                    "SELECT id, exchange_id, config FROM queues ORDER BY id"
                )
            )
        return Restored(
            positions,
            exchanges,
            queues,
            self.subscribers(),
            tuple(self.users()),
            tuple(self.tokens()),
        )

    def commit(
        self,
        appends: Sequence[Append],
        cursors: Mapping[tuple[str, str], tuple[int, str]],
        positions: Positions,
        now: int,
    ) -> CommitResult:
        raw_ids = {event.id: id_bytes(event.id) for append in appends for event in append.events}
        with self._transaction() as connection:
            # Optimistic: plan as if no id were stored yet and let the id index say otherwise.
            # A stored id fails the insert; then the ids are looked up and the commit planned
            # again. Publishers rarely repeat an id, and the look-up cost as much as the insert.
            existing: dict[EventId, int] = {}
            plan, after, duplicates = plan_commit(appends, existing, positions, now)
            waiting = self._recent_ids(connection)
            try:
                ids = self._insert_ids(connection, plan.events, raw_ids)
            except sqlite3.IntegrityError:  # the insert left nothing behind
                existing = self._stored_ids(connection, list(raw_ids.values()))
                plan, after, duplicates = plan_commit(appends, existing, positions, now)
                ids = self._insert_ids(connection, plan.events, raw_ids)
            if plan.events:
                wires = [encode_event(e) for e in plan.events]
                lengths = list(map(len, wires))
                starts = accumulate(lengths, initial=1)  # one more than there are events
                places = zip([e.type for e in plan.events], starts, lengths, strict=False)
                first = plan.events[0]
                connection.execute(
                    _INSERT_EVENTS,
                    (first.seq, ids, first.published_at, b"".join(wires), json.dumps(list(places))),
                )
                for exchange_id, deliveries in plan.deliveries.items():
                    start, end, count = deliveries[0], deliveries[-1], len(deliveries)
                    if end.event.seq - start.event.seq == count - 1:
                        run = (count, exchange_id, start.offset, start.event.seq)
                        connection.execute(_INSERT_LOG_RUN, run)
                    else:
                        seqs = ",".join([str(d.event.seq) for d in deliveries])
                        connection.execute(
                            _INSERT_LOG_SEQS, (exchange_id, start.offset, f"[{seqs}]")
                        )
            recent = waiting + len(plan.events)
            level, next_slice = self._level_ids(connection), self._slice
            if recent >= MERGE_IDS:
                for sql in _MERGE_IDS:
                    connection.execute(sql)
                level, recent = level + recent, 0
            if next_slice is None and level >= LEVEL_IDS:
                next_slice = 0
            if next_slice is not None:
                level -= self._move_slice(connection, next_slice)
                next_slice = next_slice + 1 if next_slice + 1 < MOVE_SLICES else None
            connection.executemany(
                "UPDATE subscribers SET acked = ?, ledger = ?, updated_at = ?"
                " WHERE queue_id = ? AND name = ?",
                [
                    (acked, ledger, now, queue_id, name)
                    for (queue_id, name), (acked, ledger) in cursors.items()
                ],
            )
            resolved = resolve_duplicates(duplicates, existing, after.heads, self._seq_at)
        self._recent, self._level, self._slice = recent, level, next_slice
        return finish_commit(plan, resolved, after)

    def _recent_ids(self, connection: sqlite3.Connection) -> int:
        """How many ids wait in event_ids_recent to be moved (counted once, then kept)."""
        if self._recent is None:
            (self._recent,) = connection.execute("SELECT count(*) FROM event_ids_recent").fetchone()
        return self._recent

    def _level_ids(self, connection: sqlite3.Connection) -> int:
        """How many ids event_ids holds (counted once, then kept)."""
        if self._level is None:
            (self._level,) = connection.execute("SELECT count(*) FROM event_ids").fetchone()
        return self._level

    def _move_slice(self, connection: sqlite3.Connection, k: int) -> int:
        """Move slice ``k`` of event_ids into event_ids_old, forgetting the expired ids of that
        range there; how many ids it moved."""
        bounds = _slice_bounds(k)
        if self._forget_before is not None:
            connection.execute(_FORGET_RANGE, (*bounds, self._forget_before))
        before = connection.total_changes
        for sql in _MOVE_RANGE:
            connection.execute(sql, bounds)
        return (connection.total_changes - before) // 2  # each id inserted, then deleted

    @staticmethod
    def _insert_ids(
        connection: sqlite3.Connection, events: Sequence[StoredEvent], raw_ids: dict[EventId, bytes]
    ) -> bytes:
        """Index the new events' ids; their 16 bytes each, joined. IntegrityError, with nothing
        left inserted, if one of them is stored.

        ``events`` are a commit's new events: consecutive seqs, one ``published_at``
        (:func:`storage.base.plan_commit`)."""
        ids = b"".join([raw_ids[e.id] for e in events])
        if events:
            first, at = events[0].seq, events[0].published_at
            assert events[-1].seq == first + len(events) - 1 and events[-1].published_at == at
            before = connection.total_changes  # rowcount is -1 for a statement led by WITH
            # One in event_ids_recent: the unique key fails the statement, which SQLite undoes.
            connection.execute(_INSERT_IDS, (len(events), ids, first, at))
            if connection.total_changes - before != len(events):  # one in event_ids
                last = first + len(events) - 1
                connection.execute(
                    "DELETE FROM event_ids_recent WHERE seq BETWEEN ? AND ?", (first, last)
                )
                raise sqlite3.IntegrityError("event_ids: an id is stored already")
        return ids

    @staticmethod
    def _stored_ids(connection: sqlite3.Connection, ids: list[bytes]) -> dict[EventId, int]:
        """The seqs of those of ``ids`` that are stored, by id text."""
        rows = connection.execute(_STORED_IDS, (len(ids), b"".join(ids))).fetchall()
        return {id_text(raw_id): int(seq) for raw_id, seq in rows}

    def _seq_at(self, exchange_id: int, offset: int) -> int | None:
        row = self._connection.execute(
            "SELECT seq FROM exchange_log WHERE exchange_id = ? AND exchange_offset = ?",
            (exchange_id, offset),
        ).fetchone()
        return None if row is None else int(row[0])

    def create_exchange(
        self, name: str, patterns: tuple[str, ...], created_at: int, matcher: Callable[[str], bool]
    ) -> ExchangeRecord:
        with self._transaction() as connection:
            try:
                cursor = connection.execute(
                    "INSERT INTO exchanges (name, patterns, created_at) VALUES (?, ?, ?)",
                    (name, json.dumps(list(patterns)), created_at),
                )
            except sqlite3.IntegrityError as error:
                raise AlreadyExists(f"name: exchange {name!r} already exists") from error
            exchange_id = int(cursor.lastrowid or 0)
            types = [
                t for (t,) in connection.execute("SELECT DISTINCT type FROM events") if matcher(t)
            ]
            connection.execute(
                "INSERT INTO exchange_log (exchange_id, exchange_offset, seq)"
                " SELECT ?, row_number() OVER (ORDER BY seq), seq FROM events"
                " WHERE type IN (SELECT value FROM json_each(?)) ORDER BY seq",
                (exchange_id, json.dumps(types)),
            )
            (head,) = connection.execute(
                "SELECT coalesce(max(exchange_offset), 0) FROM exchange_log WHERE exchange_id = ?",
                (exchange_id,),
            ).fetchone()
        return ExchangeRecord(exchange_id, name, patterns, created_at, int(head))

    def purge_ids(self, older_than: int) -> int:
        """Forget the expired ids of event_ids_recent and event_ids now, and those of
        event_ids_old as the moves pass (see _FORGET_RANGE)."""
        with self._transaction() as connection:
            purged = 0
            for table in ("event_ids", "event_ids_recent"):
                cursor = connection.execute(
                    f"DELETE FROM {table} WHERE published_at < ?", (older_than,)
                )
                purged += int(cursor.rowcount)
        self._recent = self._level = None  # counted again at the next commit
        self._forget_before = older_than
        return purged

    def reader(self) -> SqliteReader:
        return SqliteReader(self._path)

    def close(self) -> None:
        self._connection.close()
