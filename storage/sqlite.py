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

from router.core.errors import AlreadyExists
from router.core.model import (
    EventId,
    ExchangeRecord,
    QueueConfig,
    QueueRecord,
    StoredEvent,
)
from router.core.wire import (
    WireBatch,
    body_start,
    decode_event,
    encode_event,
    framed_parts,
    type_field,
    whole,
    wire_batch,
)
from storage import _migrations
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
    id_text,
    needs_publishers,
    plan_commit,
    publishers_of,
    resolve_duplicates,
    wire_from_columns,
)
from storage.control import Run, rows_of
from storage.retention import Horizon

# Events are kept in parts (migration 8): the id as 16 bytes, the type as a number of event_types,
# and the rest of the wire form, the body; router.core.wire.whole makes the wire form again.
# A replay chunk comes back as one row: its offsets, its events' parts joined, and the bodies'
# sizes. sqlite3 lets go of the interpreter lock for each row it steps to and must then win it
# back from the threads that are sending and receiving; 2,000 rows a chunk made catch-up wait on
# those hand-offs (router system CPU 1.1-1.4 us an event, futexes). The offsets come back too so
# that the order of the three lists is checked, not assumed.
_READ = """
SELECT group_concat(o), CAST(group_concat(i, '') AS BLOB), min(t), max(t), group_concat(t),
       CAST(group_concat(b, '') AS BLOB), group_concat(length(b)) FROM (
    SELECT l.exchange_offset AS o, e.id AS i, e.type_id AS t, e.body AS b
    FROM exchange_log l JOIN events e ON e.seq = l.seq
    WHERE l.exchange_id = ? AND l.exchange_offset BETWEEN ? AND ?
    ORDER BY l.exchange_offset LIMIT ?
)
"""
_READ_ROWS = """
SELECT l.exchange_offset, e.id, e.type_id, e.body
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
# an index of 3,000,000 wrote 72 MB, and publishing fell from 56,000 to 31,000 events/s. A
# commit moves at most MOVE_IDS: time-ordered ids (UUIDv7) share their first bytes for weeks, so
# they all fall into one range, which would otherwise move in one commit of a million ids (and
# leave a WAL file of that size behind).
MERGE_IDS = 50_000
LEVEL_IDS = 1_000_000
MOVE_SLICES = 64
MOVE_IDS = 2 * LEVEL_IDS // MOVE_SLICES  # twice a range of random ids: those move in one commit
# After the window's purge, each commit looks at the next FORGET_IDS ids of event_ids_old, in id
# order, and forgets the expired ones among them, until it has looked at all.
FORGET_IDS = 2_000
_INSERT_PUBLISHERS = (
    "INSERT INTO event_publishers (first_seq, last_seq, runs, published_at) VALUES (?, ?, ?, ?)"
)
_ID_TABLES = ("event_ids_old", "event_ids", "event_ids_recent")
_INSERT_IDS = (  # the ids stored in neither other table: fewer rows than ids means one is stored
    _COUNT + "INSERT INTO event_ids_recent (id, seq)"
    " SELECT substr(?2, 16 * i + 1, 16), ?3 + i FROM k"
    " WHERE NOT EXISTS (SELECT 1 FROM event_ids WHERE id = substr(?2, 16 * i + 1, 16))"
    " AND NOT EXISTS (SELECT 1 FROM event_ids_old WHERE id = substr(?2, 16 * i + 1, 16))"
)
_STORED_IDS = _COUNT + " UNION ALL ".join(
    f"SELECT id, seq FROM {table} WHERE id IN (SELECT substr(?2, 16 * i + 1, 16) FROM k)"
    for table in _ID_TABLES
)
_MERGE_IDS = (
    "INSERT INTO event_ids (id, seq) SELECT id, seq FROM event_ids_recent",
    "DELETE FROM event_ids_recent",
)
_MOVE_RANGE = (  # the first ?3 ids from ?1 (included) to ?2 (excluded), of one range of the index
    "INSERT INTO event_ids_old (id, seq) SELECT id, seq"
    " FROM event_ids WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT ?3",
    "DELETE FROM event_ids WHERE id IN"
    " (SELECT id FROM event_ids WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT ?3)",
)
# The window's purge leaves event_ids_old alone: random ids lie on random pages all over it (10
# minutes of ids touch most of a big index, written whole to the log, at every purge). They are
# forgotten FORGET_IDS at a time in id order, each step touching a run of neighbouring pages;
# until then an expired id still counts as stored, which only makes the window longer.
_FORGET_NEXT = (  # after ?1: the last id of the next ?2, then the expired ones up to it forgotten
    "SELECT max(id) FROM (SELECT id FROM event_ids_old WHERE id > ?1 ORDER BY id LIMIT ?2)",
    "DELETE FROM event_ids_old WHERE id > ?1 AND id <= ?2 AND seq < ?3",
)
_PAST_EVERY_ID = b"\xff" * 17  # sorts after any 16 bytes


def _slice_bounds(k: int) -> tuple[bytes, bytes]:
    """The ids of slice ``k`` of MOVE_SLICES, by their first two bytes."""

    def edge(n: int) -> bytes:
        return (n * 65_536 // MOVE_SLICES).to_bytes(2, "big") if n < MOVE_SLICES else _PAST_EVERY_ID

    return edge(k), edge(k + 1)


# (type id, start, length) of each event's body in its joined wire forms, in seq order.
_INSERT_EVENTS = """
INSERT INTO events (seq, id, type_id, body)
SELECT ?1 + key, substr(?2, 16 * key + 1, 16), json_extract(value, '$[0]'),
       substr(?3, json_extract(value, '$[1]'), json_extract(value, '$[2]'))
FROM json_each(?4)
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
        # A new file's pages (an existing file keeps its own): a 200-byte event takes some 250
        # bytes, of which fifteen did not fit a 4 KiB page and 32 fit an 8 KiB one.
        connection.execute("PRAGMA page_size=8192")
        connection.execute("PRAGMA journal_mode=WAL")
        # The log file is cut back to this after a checkpoint: a big transaction (a migration)
        # would otherwise leave a log of its size on disk for good.
        connection.execute("PRAGMA journal_size_limit=67108864")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA busy_timeout=30000")
    except sqlite3.Error as error:
        raise StorageUnavailable(f"sqlite: cannot open {path}: {error}") from error
    return connection


def _create_private(path: str) -> None:
    """Create the database file readable and writable by its owner only (0600; a umask can only
    narrow it), when it does not exist yet: it holds every event and the users' token hashes.
    SQLite gives its -wal and -shm files the database file's permissions. An existing file
    keeps the permissions its operator gave it."""
    if path == ":memory:" or path.startswith("file:"):
        return
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as error:
        raise StorageUnavailable(f"sqlite: cannot create {path}: {error}") from error
    os.close(descriptor)


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except sqlite3.IntegrityError:
        raise
    except (sqlite3.OperationalError, sqlite3.DatabaseError) as error:
        raise StorageUnavailable(f"sqlite: {error}") from error


_READ_LOG = "SELECT id, type_id, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?"
PARTS_MIGRATION = 8


class _Types:
    """The type fields of event_types by number (and by the number's text, as a replay chunk
    lists them), read again when a number is first met."""

    def __init__(self) -> None:
        self.fields: dict[int, bytes] = {}
        self.by_text: dict[str, bytes] = {}

    def field(self, connection: sqlite3.Connection, type_id: int) -> bytes:
        found = self.fields.get(type_id)
        if found is None:
            self._load(connection)
            found = self.fields[type_id]
        return found

    def listed(self, connection: sqlite3.Connection, type_ids: str) -> list[bytes]:
        """The fields of the comma-separated numbers ``type_ids``."""
        by_text = self.by_text
        try:
            return [by_text[t] for t in type_ids.split(",")]
        except KeyError:
            self._load(connection)
            return [self.by_text[t] for t in type_ids.split(",")]

    def _load(self, connection: sqlite3.Connection) -> None:
        self.fields.update(connection.execute("SELECT id, field FROM event_types"))
        self.by_text = {str(type_id): field for type_id, field in self.fields.items()}

    def wire(
        self, connection: sqlite3.Connection, raw_id: bytes, type_id: int, body: bytes
    ) -> bytes:
        return whole(raw_id, self.field(connection, type_id), body)


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


def _published_at(
    connection: sqlite3.Connection, types: _Types, exchange_id: int, offset: int
) -> int | None:
    row = connection.execute(
        "SELECT e.id, e.type_id, e.body FROM exchange_log l JOIN events e ON e.seq = l.seq"
        " WHERE l.exchange_id = ? AND l.exchange_offset = ?",
        (exchange_id, offset),
    ).fetchone()
    return None if row is None else decode_event(types.wire(connection, *row)).published_at


class SqliteReader(Reader):
    def __init__(self, path: str) -> None:
        self._connection = _connect(path)
        self._types = _Types()
        self._longest = self._connection.getlimit(sqlite3.SQLITE_LIMIT_LENGTH)

    def read(
        self, exchange_id: int, first: int, last: int, limit: int, max_bytes: int = 0
    ) -> WireBatch:
        arguments = (exchange_id, first, last, limit)
        with _errors():
            batch = self._joined(arguments, max_bytes)
            if batch is None:
                batch = self._rows(arguments, max_bytes)
        return batch

    def _rows(self, arguments: tuple[int, int, int, int], max_bytes: int) -> WireBatch:
        """The chunk row by row; with ``max_bytes``, the rows after those that fit in it (at
        least one) are not read: SQLite steps through the rows as they are taken."""
        connection, wire = self._connection, self._types.wire
        cursor = connection.execute(_READ_ROWS, arguments)
        rows: list[tuple[int, bytes]] = []
        total = 0
        try:
            for offset, *parts in cursor:
                total += len(parts[-1])
                if max_bytes and rows and total > max_bytes:
                    break
                rows.append((offset, wire(connection, *parts)))
        finally:
            cursor.close()
        return wire_batch(rows)

    def _joined(self, arguments: tuple[int, int, int, int], max_bytes: int) -> WireBatch | None:
        """The chunk from its one joined row; None if it is too long to join (longer than
        ``max_bytes``, or than SQLite's longest value: SQLite stops joining there), or if its
        offsets are not one run of consecutive offsets in order (then it is read row by row)."""
        connection = self._connection
        if max_bytes:
            connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, min(max_bytes, self._longest))
        try:
            row = connection.execute(_READ, arguments).fetchone()
        except sqlite3.DataError:  # longer than the budget, or than SQLite's longest value
            return None
        finally:
            if max_bytes:
                connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, self._longest)
        offsets, ids, low_type, high_type, type_ids, bodies, sizes = row
        if offsets is None:
            return WireBatch(0, -1, [])
        start = int(offsets.partition(",")[0])
        lengths = [int(size) for size in sizes.split(",")]
        if offsets != ",".join(map(str, range(start, start + len(lengths)))):
            return None
        if low_type == high_type:  # the usual chunk: events of one type
            types = [self._types.field(connection, low_type)] * len(lengths)
        else:
            types = self._types.listed(connection, type_ids)
        return framed_parts(start, ids, types, bodies, lengths)

    def published_at(self, exchange_id: int, offset: int) -> int | None:
        with _errors():
            return _published_at(self._connection, self._types, exchange_id, offset)

    def read_log(self, after_seq: int, limit: int) -> list[StoredEvent]:
        with _errors():
            rows = self._connection.execute(_READ_LOG, (after_seq, limit)).fetchall()
            wire = self._types.wire
            return [decode_event(wire(self._connection, *parts)) for parts in rows]

    def close(self) -> None:
        self._connection.close()


class SqliteStorage(Storage):
    def __init__(self, url: str) -> None:
        self.url = url
        self._path = path_from_url(url)
        directory = os.path.dirname(os.path.abspath(self._path))
        os.makedirs(directory, exist_ok=True)
        _create_private(self._path)
        self._connection = _connect(self._path)
        self._types = _Types()
        self._type_ids: dict[str, tuple[int, bytes]] = {}  # event_types by name, as committed
        self._recent: int | None = None  # ids in event_ids_recent, once counted
        self._level: int | None = None  # ids in event_ids, once counted
        self._slice: int | None = None  # the next range of event_ids to move, while moving
        self._forget_before = 0  # the window's first seq at the last purge (see _FORGET_NEXT)
        self._forget_after: bytes | None = None  # where forgetting goes on, while it does
        self._tails: dict[int, int] = {}  # exchange id -> oldest kept offset (storage.retention)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        connection = self._connection
        with _errors():
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                if connection.in_transaction:  # SQLite ends it itself on some errors (disk full)
                    connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    @contextmanager
    def _control(self) -> Iterator[Run]:
        with self._transaction() as connection:
            yield lambda sql, params: rows_of(connection.execute(sql, params))

    def migrate(self, upto: int | None = None) -> list[int]:
        """Apply the migrations not yet applied (those up to ``upto``), in order, one transaction
        each; return their versions. :class:`SchemaNewer`, changing nothing, when the store's
        schema is ahead of this router."""
        self.schema_state().check()
        with _errors():
            self._connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
                " applied_at TEXT DEFAULT CURRENT_TIMESTAMP, router_version TEXT)"
            )
            columns = {
                r[1] for r in self._connection.execute("PRAGMA table_info(schema_migrations)")
            }
            if "router_version" not in columns:
                self._connection.execute(
                    "ALTER TABLE schema_migrations ADD COLUMN router_version TEXT"
                )
            done = {
                row[0] for row in self._connection.execute("SELECT version FROM schema_migrations")
            }
        applied = []
        for version, sql in _migrations.load("sqlite"):
            if version in done or (upto is not None and version > upto):
                continue
            with self._transaction() as connection:
                code = "\n".join(l for l in sql.splitlines() if not l.lstrip().startswith("--"))
                for statement in code.split(";"):
                    if statement.strip():
                        connection.execute(statement)
                if version == WIRE_MIGRATION:
                    _fill_wire(connection)
                if version == PARTS_MIGRATION:
                    _in_parts(connection)
                connection.execute(
                    "INSERT INTO schema_migrations (version, router_version) VALUES (?, ?)",
                    (version, _migrations.applied_by()),
                )
            applied.append(version)
        return applied

    def schema_state(self) -> Schema:
        """Where the store's schema stands against this router's; reads only."""
        with _errors():
            connection = self._connection
            found = connection.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
            ).fetchone()
            return _migrations.read_schema("sqlite", connection, found is not None)

    def positions(self) -> Positions:
        with _errors():
            connection = self._connection
            row = connection.execute(
                "SELECT id, type_id, body FROM events ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            last = None if row is None else decode_event(self._types.wire(connection, *row))
            first_seq, removed_until = connection.execute(
                "SELECT first_seq, removed_until FROM log_horizon"
            ).fetchone()
            heads = {}
            self._tails = {}
            for exchange_id, first_kept in connection.execute(
                "SELECT id, first_kept FROM exchanges"
            ).fetchall():
                (head,) = connection.execute(
                    "SELECT coalesce(max(exchange_offset), 0) FROM exchange_log"
                    " WHERE exchange_id = ?",
                    (exchange_id,),
                ).fetchone()
                heads[int(exchange_id)] = max(int(head), int(first_kept) - 1)
                self._tails[int(exchange_id)] = int(first_kept)
        # Every event removed: the horizon still says how far the log went.
        last_seq, last_at = (
            (last.seq, last.published_at) if last else (first_seq - 1, removed_until)
        )
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
        return self._restored(positions, exchanges, queues)

    def commit(
        self,
        appends: Sequence[Append],
        cursors: Mapping[tuple[str, str], tuple[int, str]],
        positions: Positions,
        now: int,
    ) -> CommitResult:
        raw_ids = {event.id: id_bytes(event.id) for append in appends for event in append.events}
        new_types: dict[str, tuple[int, bytes]] = {}
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
                publishers = (
                    publishers_of(connection, "?", existing.values())
                    if needs_publishers(appends, existing)
                    else {}
                )
                plan, after, duplicates = plan_commit(appends, existing, positions, now, publishers)
                ids = self._insert_ids(connection, plan.events, raw_ids)
            if plan.publishers:
                connection.executemany(_INSERT_PUBLISHERS, plan.publishers)
            if plan.events:
                places = self._places(connection, plan.events, new_types)
                wires = b"".join([encode_event(e) for e in plan.events])
                connection.execute(_INSERT_EVENTS, (plan.events[0].seq, ids, wires, places))
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
                moved = self._move_slice(connection, next_slice)
                level -= moved
                if moved < MOVE_IDS:  # else more may be left in this range
                    next_slice = next_slice + 1 if next_slice + 1 < MOVE_SLICES else None
            forget_after = self._forget_after
            if forget_after is not None:
                forget_after = self._forget_some(connection, forget_after)
            connection.executemany(
                "UPDATE subscribers SET acked = ?, ledger = ?, updated_at = ?"
                " WHERE queue_id = ? AND name = ?",
                [
                    (acked, ledger, now, queue_id, name)
                    for (queue_id, name), (acked, ledger) in cursors.items()
                ],
            )
            resolved = resolve_duplicates(
                duplicates, existing, after.heads, self._seq_at, self._tails
            )
        self._recent, self._level, self._slice = recent, level, next_slice
        self._forget_after = forget_after
        self._type_ids.update(new_types)
        return finish_commit(plan, resolved, after)

    def _places(
        self,
        connection: sqlite3.Connection,
        events: Sequence[StoredEvent],
        new: dict[str, tuple[int, bytes]],
    ) -> str:
        """(type id, start, length) of each event's body in the events' wire forms joined, as
        JSON. Types met for the first time are added to event_types and to ``new``, which the
        caller keeps only once the commit has gone through."""
        if not self._type_ids:  # the types stored before, once
            self._type_ids.update(
                (name, (int(type_id), field))
                for name, type_id, field in connection.execute(
                    "SELECT name, id, field FROM event_types"
                )
            )
        known = self._type_ids
        places = []
        start = 1  # SQLite counts from 1
        for event in events:
            wire = encode_event(event)
            found = known.get(event.type) or new.get(event.type)
            if found is None:
                field = type_field(event.type)
                cursor = connection.execute(
                    "INSERT INTO event_types (name, field) VALUES (?, ?)", (event.type, field)
                )
                found = new[event.type] = (int(cursor.lastrowid or 0), field)
            type_id, field = found
            body = body_start(wire, field)
            places.append((type_id, start + body, len(wire) - body))
            start += len(wire)
        return json.dumps(places)

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

    @staticmethod
    def _move_slice(connection: sqlite3.Connection, k: int) -> int:
        """Move the first MOVE_IDS ids of slice ``k`` of event_ids into event_ids_old; how many
        it moved."""
        before = connection.total_changes
        for sql in _MOVE_RANGE:
            connection.execute(sql, (*_slice_bounds(k), MOVE_IDS))
        return (connection.total_changes - before) // 2  # each id inserted, then deleted

    def _forget_some(self, connection: sqlite3.Connection, after: bytes) -> bytes | None:
        """Forget the expired ones of the next FORGET_IDS ids of event_ids_old after ``after``;
        where to go on from, or None once all are looked at."""
        (last,) = connection.execute(_FORGET_NEXT[0], (after, FORGET_IDS)).fetchone()
        if last is None:
            return None
        connection.execute(_FORGET_NEXT[1], (after, last, self._forget_before))
        return bytes(last)

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
            connection.execute(_INSERT_IDS, (len(events), ids, first))
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
                type_id
                for type_id, name in connection.execute("SELECT id, name FROM event_types")
                if matcher(name)
            ]
            connection.execute(
                "INSERT INTO exchange_log (exchange_id, exchange_offset, seq)"
                " SELECT ?, row_number() OVER (ORDER BY seq), seq FROM events"
                " WHERE type_id IN (SELECT value FROM json_each(?)) ORDER BY seq",
                (exchange_id, json.dumps(types)),
            )
            (head,) = connection.execute(
                "SELECT coalesce(max(exchange_offset), 0) FROM exchange_log WHERE exchange_id = ?",
                (exchange_id,),
            ).fetchone()
        return ExchangeRecord(exchange_id, name, patterns, created_at, int(head))

    def purge_ids(self, older_than: int) -> int:
        """Forget the ids of the events published before ``older_than``: those of
        event_ids_recent and event_ids now, those of event_ids_old as the moves pass (see
        _FORGET_RANGE)."""
        with self._transaction() as connection:
            first = self._first_seq_from(connection, older_than)
            purged = 0
            for table in ("event_ids", "event_ids_recent"):
                cursor = connection.execute(f"DELETE FROM {table} WHERE seq < ?", (first,))
                purged += int(cursor.rowcount)
            connection.execute("DELETE FROM event_publishers WHERE last_seq < ?", (first,))
        self._recent = self._level = None  # counted again at the next commit
        self._forget_before, self._forget_after = first, b""
        return purged

    def _first_seq_from(self, connection: sqlite3.Connection, time_us: int) -> int:
        """The first seq published at or after ``time_us`` (one past the last if none is): a
        binary search, as publish times grow with seq."""
        # Two queries in one: SQLite reads min() or max() alone off the key, both together by
        # scanning the table (2 s at 10,000,000 events).
        low, high = connection.execute(
            "SELECT (SELECT min(seq) FROM events), (SELECT max(seq) FROM events)"
        ).fetchone()
        if low is None:
            return 1
        high += 1
        while low < high:
            middle = (low + high) // 2
            row = connection.execute(
                "SELECT id, type_id, body FROM events WHERE seq >= ? ORDER BY seq LIMIT 1",
                (middle,),
            ).fetchone()
            event = decode_event(self._types.wire(connection, *row))
            if event.published_at < time_us:
                low = event.seq + 1
            else:
                high = middle
        return int(low)

    def _event_time(self, run: Run, seq: int) -> int | None:
        rows = run("SELECT id, type_id, body FROM events WHERE seq = ?", (seq,))
        if not rows:
            return None
        return decode_event(self._types.wire(self._connection, *rows[0])).published_at

    def _after_trim(self, run: Run, horizon: Horizon) -> None:
        self._tails = dict(horizon.tails)

    def reclaim(self) -> None:
        """Nothing to do: a removal's pages are on the free list once it commits."""

    def log_bytes(self) -> int:
        """The pages in use (the file less its free pages: a removal frees pages, which the
        next commits fill before the file grows again)."""
        with _errors():
            connection = self._connection
            (pages,) = connection.execute("PRAGMA page_count").fetchone()
            (free,) = connection.execute("PRAGMA freelist_count").fetchone()
            (size,) = connection.execute("PRAGMA page_size").fetchone()
        return (int(pages) - int(free)) * int(size)

    def reader(self) -> SqliteReader:
        return SqliteReader(self._path)

    def close(self) -> None:
        self._connection.close()
