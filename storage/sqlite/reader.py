"""Replay and log reads from SQLite, one connection per reader."""

from __future__ import annotations

import sqlite3

from router.core.model import StoredEvent
from router.core.wire import WireBatch, decode_event, framed_parts, wire_batch
from storage.base import Reader
from storage.sqlite.connection import connect, errors
from storage.sqlite.event_types import Fields

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
_READ_LOG = "SELECT id, type_id, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?"


class SqliteReader(Reader):
    """A read connection to the SQLite file: replay chunks, the log, point look-ups."""

    def __init__(self, path: str) -> None:
        self._connection = connect(path)
        self._types = Fields()
        self._longest = self._connection.getlimit(sqlite3.SQLITE_LIMIT_LENGTH)

    def read(
        self, exchange_id: int, first: int, last: int, limit: int, max_bytes: int = 0
    ) -> WireBatch:
        arguments = (exchange_id, first, last, limit)
        with errors():
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
        connection = self._connection
        with errors():
            row = connection.execute(
                "SELECT e.id, e.type_id, e.body FROM exchange_log l JOIN events e ON e.seq = l.seq"
                " WHERE l.exchange_id = ? AND l.exchange_offset = ?",
                (exchange_id, offset),
            ).fetchone()
            return (
                None
                if row is None
                else decode_event(self._types.wire(connection, *row)).published_at
            )

    def read_log(self, after_seq: int, limit: int) -> list[StoredEvent]:
        with errors():
            rows = self._connection.execute(_READ_LOG, (after_seq, limit)).fetchall()
            wire = self._types.wire
            return [decode_event(wire(self._connection, *parts)) for parts in rows]

    def close(self) -> None:
        self._connection.close()
