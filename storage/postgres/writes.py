"""How a PostgreSQL commit writes its rows: a small one in one statement, a large one with
binary COPY (storage.pgcopy); and the look-ups of ids it needs first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg

from router.core.model import EventId, StoredEvent
from router.core.wire import encode_event
from storage import pgcopy
from storage.base import Append, id_bytes, needs_publishers, publishers_of

# A commit of at most this many events writes its rows in one statement (_WRITE_FEW): four
# round trips in all (BEGIN, the id lookup, the rows, COMMIT) instead of about ten; a larger one
# uses binary COPY, which costs more round trips and much less per row.
FEW_EVENTS = 64

INSERT_PUBLISHERS = (
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


def write_few(
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


def copy_events(cursor: psycopg.Cursor[Any], rows: Sequence[tuple[StoredEvent, bytes]]) -> None:
    """Many events, as binary COPY (the data built by storage.pgcopy), from (event, id bytes)."""
    if rows:
        with cursor.copy(
            "COPY events (seq, id, type, published_at, wire) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            pgcopy.send(copy, rows, pgcopy.events)


def copy_ids(
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


def write_log_rows_and_cursors(
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


def stored_ids(connection: psycopg.Connection[Any], ids: list[EventId]) -> dict[EventId, int]:
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


def publishers(
    connection: psycopg.Connection[Any], appends: Sequence[Append], existing: dict[EventId, int]
) -> dict[int, str]:
    """Who published the stored ids a scoped append re-uses (see storage.base.clashing)."""
    if not needs_publishers(appends, existing):
        return {}
    return publishers_of(connection, "%s", existing.values())
