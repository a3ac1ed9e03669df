"""The SQLite writer: SqliteStorage, the one connection every write goes through.

Its jobs live beside it: opening the file (storage.sqlite.connection), the event types
(storage.sqlite.event_types), the id index (storage.sqlite.ids), migrations
(storage.sqlite.upgrade) and replay (storage.sqlite.reader).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial

from router.core.errors import AlreadyExists
from router.core.model import EventId, ExchangeRecord
from router.core.wire import decode_event, encode_event
from storage._migrations import Schema
from storage.base import (
    Append,
    CommitResult,
    Cursors,
    Plan,
    Positions,
    Storage,
    finish_commit,
    id_bytes,
    needs_publishers,
    plan_commit,
    publishers_of,
    resolve_duplicates,
    seq_at,
)
from storage.control import Run, rows_of
from storage.retention import Horizon
from storage.sqlite import ids as id_index
from storage.sqlite import upgrade
from storage.sqlite.connection import connect, create_private, errors, path_from_url, transaction
from storage.sqlite.event_types import Fields, Names
from storage.sqlite.reader import SqliteReader

# A commit writes each table with one statement over its rows packed into a few values (the
# events' ids and wire forms joined, the rest as JSON), not ``executemany``: sqlite3 lets go of
# the interpreter lock for every row it inserts and must then win it back from the threads that
# are receiving publishes and sending acks, and the writer spent most of a commit waiting so.
_INSERT_PUBLISHERS = (
    "INSERT INTO event_publishers (first_seq, last_seq, runs, published_at) VALUES (?, ?, ?, ?)"
)
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
    id_index.COUNT + "INSERT INTO exchange_log (exchange_id, exchange_offset, seq)"
    " SELECT ?2, ?3 + i, ?4 + i FROM k"
)
_INSERT_LOG_SEQS = (
    "INSERT INTO exchange_log (exchange_id, exchange_offset, seq)"
    " SELECT ?1, ?2 + key, value FROM json_each(?3)"
)


class SqliteStorage(Storage):
    """The embedded store's writer: SQLite in WAL mode, one file, one writer connection."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._path = path_from_url(url)
        directory = os.path.dirname(os.path.abspath(self._path))
        os.makedirs(directory, exist_ok=True)
        create_private(self._path)
        self._connection = connect(self._path)
        self._types = Fields()
        self._names = Names()  # event_types by name, as committed
        self._ids = id_index.IdIndex()
        self._tails: dict[int, int] = {}  # exchange id -> oldest kept offset (storage.retention)

    @contextmanager
    def _control(self) -> Iterator[Run]:
        with transaction(self._connection) as connection:
            yield lambda sql, params: rows_of(connection.execute(sql, params))

    def migrate(self, upto: int | None = None) -> list[int]:
        return upgrade.migrate(self._connection, upto)

    def schema_state(self) -> Schema:
        return upgrade.schema_state(self._connection)

    def _last_event(self, run: Run) -> tuple[int, int] | None:
        rows = run("SELECT id, type_id, body FROM events ORDER BY seq DESC LIMIT 1", ())
        if not rows:
            return None
        last = decode_event(self._types.wire(self._connection, *rows[0]))
        return last.seq, last.published_at

    def commit(
        self, appends: Sequence[Append], cursors: Cursors, positions: Positions, now: int
    ) -> CommitResult:
        raw_ids = {event.id: id_bytes(event.id) for append in appends for event in append.events}
        new_types: dict[str, tuple[int, bytes]] = {}
        with transaction(self._connection) as connection:
            # Optimistic: plan as if no id were stored yet and let the id index say otherwise.
            # A stored id fails the insert; then the ids are looked up and the commit planned
            # again. Publishers rarely repeat an id, and the look-up cost as much as the insert.
            existing: dict[EventId, int] = {}
            plan, after, duplicates = plan_commit(appends, existing, positions, now)
            waiting = self._ids.waiting(connection)
            try:
                ids = id_index.insert_ids(connection, plan.events, raw_ids)
            except sqlite3.IntegrityError:  # the insert left nothing behind
                existing = id_index.stored_ids(connection, list(raw_ids.values()))
                publishers = (
                    publishers_of(connection, "?", existing.values())
                    if needs_publishers(appends, existing)
                    else {}
                )
                plan, after, duplicates = plan_commit(appends, existing, positions, now, publishers)
                ids = id_index.insert_ids(connection, plan.events, raw_ids)
            self._write(connection, plan, ids, new_types)
            moves = self._ids.tidy(connection, waiting + len(plan.events))
            connection.executemany(
                "UPDATE subscribers SET acked = ?, ledger = ?, updated_at = ?"
                " WHERE queue_id = ? AND name = ?",
                [
                    (acked, ledger, now, queue_id, name)
                    for (queue_id, name), (acked, ledger) in cursors.items()
                ],
            )
            resolved = resolve_duplicates(
                duplicates, existing, after.heads, partial(seq_at, connection, "?"), self._tails
            )
        self._ids.adopt(moves)
        self._names.adopt(new_types)
        return finish_commit(plan, resolved, after)

    def _write(
        self,
        connection: sqlite3.Connection,
        plan: Plan,
        ids: bytes,
        new_types: dict[str, tuple[int, bytes]],
    ) -> None:
        """A commit's publishers, events (``ids``: their ids joined) and exchange-log rows."""
        if plan.publishers:
            connection.executemany(_INSERT_PUBLISHERS, plan.publishers)
        if not plan.events:
            return
        places = self._names.places(connection, plan.events, new_types)
        wires = b"".join([encode_event(e) for e in plan.events])
        connection.execute(_INSERT_EVENTS, (plan.events[0].seq, ids, wires, places))
        for exchange_id, deliveries in plan.deliveries.items():
            start, end, count = deliveries[0], deliveries[-1], len(deliveries)
            if end.event.seq - start.event.seq == count - 1:
                run = (count, exchange_id, start.offset, start.event.seq)
                connection.execute(_INSERT_LOG_RUN, run)
            else:
                seqs = ",".join([str(d.event.seq) for d in deliveries])
                connection.execute(_INSERT_LOG_SEQS, (exchange_id, start.offset, f"[{seqs}]"))

    def create_exchange(
        self, name: str, patterns: tuple[str, ...], created_at: int, matcher: Callable[[str], bool]
    ) -> ExchangeRecord:
        with transaction(self._connection) as connection:
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
        storage.sqlite.ids)."""
        with transaction(self._connection) as connection:
            first = self._first_seq_from(connection, older_than)
            purged = self._ids.purge(connection, first)
            connection.execute("DELETE FROM event_publishers WHERE last_seq < ?", (first,))
        self._ids.purged(first)
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
        with errors():
            connection = self._connection
            (pages,) = connection.execute("PRAGMA page_count").fetchone()
            (free,) = connection.execute("PRAGMA freelist_count").fetchone()
            (size,) = connection.execute("PRAGMA page_size").fetchone()
        return (int(pages) - int(free)) * int(size)

    def reader(self) -> SqliteReader:
        return SqliteReader(self._path)

    def close(self) -> None:
        self._connection.close()
