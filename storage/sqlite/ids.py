"""The events' idempotency keys in SQLite: three tables, an id in one of them (migrations 5, 6).

New ones go to event_ids_recent, whose unique key refuses an id stored there, and the same insert
leaves out any found in the other two. Random ids touch random pages, and SQLite's log takes every
page a transaction touched, whole: inserting into one growing index rewrote most of it at each
commit (plain sqlite3, 2,000-event commits: 13 us an event at first, 25 us by 300,000 events). So
the recent ids move into event_ids once MERGE_IDS have gathered, and event_ids, once it holds
LEVEL_IDS, moves into event_ids_old one range of ids (1 / MOVE_SLICES of all) per commit, a range
touching only its own pages of the big index: with two tables, each 50,000-id move into an index
of 3,000,000 wrote 72 MB, and publishing fell from 56,000 to 31,000 events/s. A commit moves at
most MOVE_IDS: time-ordered ids (UUIDv7) share their first bytes for weeks, so they all fall into
one range, which would otherwise move in one commit of a million ids (and leave a WAL file of that
size behind).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import attrs

from router.core.model import EventId, StoredEvent
from storage.base import id_text

MERGE_IDS = 50_000
LEVEL_IDS = 1_000_000
MOVE_SLICES = 64
MOVE_IDS = 2 * LEVEL_IDS // MOVE_SLICES  # twice a range of random ids: those move in one commit
# After the window's purge, each commit looks at the next FORGET_IDS ids of event_ids_old, in id
# order, and forgets the expired ones among them, until it has looked at all.
FORGET_IDS = 2_000

# A count of rows 0 .. ?1 - 1, for one statement over values packed into a few parameters.
COUNT = "WITH RECURSIVE k(i) AS (VALUES (0) UNION ALL SELECT i + 1 FROM k WHERE i + 1 < ?1) "
_ID_TABLES = ("event_ids_old", "event_ids", "event_ids_recent")
_INSERT_IDS = (  # the ids stored in neither other table: fewer rows than ids means one is stored
    COUNT + "INSERT INTO event_ids_recent (id, seq)"
    " SELECT substr(?2, 16 * i + 1, 16), ?3 + i FROM k"
    " WHERE NOT EXISTS (SELECT 1 FROM event_ids WHERE id = substr(?2, 16 * i + 1, 16))"
    " AND NOT EXISTS (SELECT 1 FROM event_ids_old WHERE id = substr(?2, 16 * i + 1, 16))"
)
_STORED_IDS = COUNT + " UNION ALL ".join(
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


def slice_bounds(k: int) -> tuple[bytes, bytes]:
    """The ids of slice ``k`` of MOVE_SLICES, by their first two bytes."""

    def edge(n: int) -> bytes:
        return (n * 65_536 // MOVE_SLICES).to_bytes(2, "big") if n < MOVE_SLICES else _PAST_EVERY_ID

    return edge(k), edge(k + 1)


@attrs.frozen
class Moves:
    """Where the moves between the three tables stand after a commit's share of them."""

    recent: int  # ids in event_ids_recent
    level: int  # ids in event_ids
    next_slice: int | None  # the next range of event_ids to move, while moving
    forget_after: bytes | None  # where forgetting goes on, while it does


def insert_ids(
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


def stored_ids(connection: sqlite3.Connection, ids: list[bytes]) -> dict[EventId, int]:
    """The seqs of those of ``ids`` that are stored, by id text."""
    rows = connection.execute(_STORED_IDS, (len(ids), b"".join(ids))).fetchall()
    return {id_text(raw_id): int(seq) for raw_id, seq in rows}


class IdIndex:
    """Where the three id tables stand, as the last commit left them (counted once, then kept):
    what decides each commit's merge, move and forgetting."""

    def __init__(self) -> None:
        self.recent: int | None = None  # ids in event_ids_recent, once counted
        self.level: int | None = None  # ids in event_ids, once counted
        self.slice: int | None = None  # the next range of event_ids to move, while moving
        self.forget_before = 0  # the window's first seq at the last purge (see _FORGET_NEXT)
        self.forget_after: bytes | None = None  # where forgetting goes on, while it does

    def waiting(self, connection: sqlite3.Connection) -> int:
        """How many ids wait in event_ids_recent to be moved."""
        if self.recent is None:
            (self.recent,) = connection.execute("SELECT count(*) FROM event_ids_recent").fetchone()
        return self.recent

    def _level_ids(self, connection: sqlite3.Connection) -> int:
        """How many ids event_ids holds."""
        if self.level is None:
            (self.level,) = connection.execute("SELECT count(*) FROM event_ids").fetchone()
        return self.level

    def tidy(self, connection: sqlite3.Connection, recent: int) -> Moves:
        """A commit's share of the moves, ``recent`` ids now waiting in event_ids_recent; where
        they stand after it, kept (:meth:`adopt`) only once the commit has gone through."""
        level, next_slice = self._level_ids(connection), self.slice
        if recent >= MERGE_IDS:
            for sql in _MERGE_IDS:
                connection.execute(sql)
            level, recent = level + recent, 0
        if next_slice is None and level >= LEVEL_IDS:
            next_slice = 0
        if next_slice is not None:
            moved = _move_slice(connection, next_slice)
            level -= moved
            if moved < MOVE_IDS:  # else more may be left in this range
                next_slice = next_slice + 1 if next_slice + 1 < MOVE_SLICES else None
        forget_after = self.forget_after
        if forget_after is not None:
            forget_after = self._forget_some(connection, forget_after)
        return Moves(recent, level, next_slice, forget_after)

    def adopt(self, moves: Moves) -> None:
        self.recent, self.level, self.slice = moves.recent, moves.level, moves.next_slice
        self.forget_after = moves.forget_after

    def _forget_some(self, connection: sqlite3.Connection, after: bytes) -> bytes | None:
        """Forget the expired ones of the next FORGET_IDS ids of event_ids_old after ``after``;
        where to go on from, or None once all are looked at."""
        (last,) = connection.execute(_FORGET_NEXT[0], (after, FORGET_IDS)).fetchone()
        if last is None:
            return None
        connection.execute(_FORGET_NEXT[1], (after, last, self.forget_before))
        return bytes(last)

    @staticmethod
    def purge(connection: sqlite3.Connection, first: int) -> int:
        """Forget the ids of the events before seq ``first`` from event_ids_recent and
        event_ids; how many. Those of event_ids_old go as the moves pass (:meth:`purged`)."""
        purged = 0
        for table in ("event_ids", "event_ids_recent"):
            cursor = connection.execute(f"DELETE FROM {table} WHERE seq < ?", (first,))
            purged += int(cursor.rowcount)
        return purged

    def purged(self, first: int) -> None:
        """A purge up to seq ``first`` went through: count again at the next commit, and forget
        the expired ids of event_ids_old from the start."""
        self.recent = self.level = None
        self.forget_before, self.forget_after = first, b""


def _move_slice(connection: sqlite3.Connection, k: int) -> int:
    """Move the first MOVE_IDS ids of slice ``k`` of event_ids into event_ids_old; how many it
    moved."""
    before = connection.total_changes
    for sql in _MOVE_RANGE:
        connection.execute(sql, (*slice_bounds(k), MOVE_IDS))
    return (connection.total_changes - before) // 2  # each id inserted, then deleted
