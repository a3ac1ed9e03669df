"""A route node's store (``--role route``) in PostgreSQL: it routes the ingest node's log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from router.core.errors import FailedPrecondition
from storage.base import Append, CommitResult, Cursors, Positions, finish_commit, plan_routing
from storage.control import Run
from storage.postgres.store import PostgresStorage
from storage.postgres.writes import write_log_rows_and_cursors
from storage.retention import Trimmed

_POSITION = "SELECT last_seq, published_at FROM route_position"


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

    def _last_event(self, run: Run) -> tuple[int, int] | None:
        """The last routed event's place, None before the first."""
        rows = run(_POSITION, ())
        return (int(rows[0][0]), int(rows[0][1])) if rows and rows[0][0] else None

    def _history_end(self, connection: psycopg.Connection[Any]) -> int:
        row = connection.execute(_POSITION).fetchone()
        return int(row[0]) if row is not None and row[0] else 0

    def commit(
        self, appends: Sequence[Append], cursors: Cursors, positions: Positions, now: int
    ) -> CommitResult:
        plan, after = plan_routing(appends, positions)
        with self._transaction() as connection:
            write_log_rows_and_cursors(connection.cursor(), plan.log_rows, cursors, now)
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
