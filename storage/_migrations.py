"""Versioned migrations: ``migrations/<dialect>/NNNN_name.sql``, applied in order, once each.

The store records each applied version with the build of the router that applied it
(``schema_migrations.router_version``), so that a router given a store whose schema is newer
than it knows refuses it, naming both (:class:`SchemaNewer`), rather than run on tables it does
not understand.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from typing import Any

import attrs

from router.core.build import build
from router.core.errors import FailedPrecondition
from router.core.model import EventId, StoredEvent
from router.core.wire import encode_event


class SchemaNewer(FailedPrecondition):
    """The store's schema is newer than this router knows: it refuses to run on it."""


@attrs.frozen
class Schema:
    """Where a store's schema stands, against what this router knows."""

    applied: int  # the highest version applied to the store (0: none)
    known: int  # the highest version this router has
    applied_by: str = ""  # the router build that applied ``applied`` ("": not recorded)
    missing: tuple[int, ...] = ()  # the versions this router would apply

    @property
    def pending(self) -> bool:
        return self.applied < self.known

    def check(self) -> None:
        """Raise :class:`SchemaNewer` when the store is ahead of this router."""
        if self.applied <= self.known:
            return
        by = f" by router {self.applied_by}" if self.applied_by else ""
        raise SchemaNewer(
            f"the store's schema is at version {self.applied} (migrated{by}), newer than this"
            f" router knows (schema version {self.known}, router {build()}): run a router of"
            " that version or later; the store was left as it is"
        )


def load(dialect: str) -> list[tuple[int, str]]:
    """Every migration of ``dialect`` as (version, SQL), in version order."""
    folder = resources.files("storage").joinpath("migrations", dialect)
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text()))
    return sorted(found)


def schema_from(dialect: str, newest: dict[str, object] | None) -> Schema:
    """The schema of a store whose newest ``schema_migrations`` row is ``newest`` (None: none)."""
    applied = 0 if newest is None else int(str(newest["version"]))
    by = "" if newest is None else str(newest.get("router_version") or "")
    versions = [version for version, _ in load(dialect)]
    missing = tuple(version for version in versions if version > applied)
    return Schema(applied, max(versions, default=0), by, missing)


def read_schema(dialect: str, connection: Any, tracked: bool) -> Schema:
    """The schema of a store, read on ``connection`` (a psycopg or sqlite3 connection: its
    ``execute`` returns the cursor); ``tracked`` says whether it has ``schema_migrations`` yet."""
    newest = None
    if tracked:
        cursor = connection.execute("SELECT * FROM schema_migrations ORDER BY version DESC LIMIT 1")
        row = cursor.fetchone()
        if row is not None:
            newest = dict(zip([column[0] for column in cursor.description], row, strict=True))
    return schema_from(dialect, newest)


def applied_by() -> str:
    """What a migration applied now is recorded as having been applied by."""
    return str(build())


def record(connection: Any, mark: str, version: int) -> None:
    """Note in ``schema_migrations`` that ``version`` is applied, and by which router (``mark``:
    the driver's parameter mark)."""
    connection.execute(
        f"INSERT INTO schema_migrations (version, router_version) VALUES ({mark}, {mark})",
        (version, applied_by()),
    )


# The migration (both dialects) after which the events table has its ``wire`` column, filled from
# the columns it replaces (payload, headers) before the next migration drops them.
WIRE_MIGRATION = 3
WIRE_FILL_ROWS = 5_000


def wire_from_columns(
    seq: int, event_id: EventId, type_: str, payload: bytes, headers: str, published_at: int
) -> bytes:
    """The wire form of an event stored before migration 3 (headers were a JSON object)."""
    found = tuple(sorted(json.loads(headers).items())) if headers else ()
    return encode_event(StoredEvent(seq, event_id, type_, payload, found, published_at))


def fill_wire(
    connection: Any, select: str, update: Callable[[list[tuple[Any, ...]]], None]
) -> None:
    """Give the events stored before WIRE_MIGRATION their wire form, WIRE_FILL_ROWS at a time:
    ``select`` reads the next rows after a seq (seq first, with the columns
    :func:`wire_from_columns` takes), ``update`` stores their wire forms."""
    after = 0
    while True:
        rows = connection.execute(select, (after, WIRE_FILL_ROWS)).fetchall()
        if not rows:
            return
        update(rows)
        after = rows[-1][0]
