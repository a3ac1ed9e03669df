"""The table event_types (migration 8): each event type's number and its wire field.

Events are kept in parts: the id as 16 bytes, the type as a number of event_types, and the rest of
the wire form, the body; router.core.wire.whole makes the wire form again. Readers look the
fields up by number (:class:`Fields`); the writer gives new types their numbers (:class:`Names`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from router.core.model import StoredEvent
from router.core.wire import body_start, encode_event, type_field, whole


class Fields:
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


class Names:
    """The writer's event_types by name, as committed: (number, field) of each type stored."""

    def __init__(self) -> None:
        self.known: dict[str, tuple[int, bytes]] = {}

    def places(
        self,
        connection: sqlite3.Connection,
        events: Sequence[StoredEvent],
        new: dict[str, tuple[int, bytes]],
    ) -> str:
        """(type id, start, length) of each event's body in the events' wire forms joined, as
        JSON. Types met for the first time are added to event_types and to ``new``, which the
        caller keeps (:meth:`adopt`) only once the commit has gone through."""
        if not self.known:  # the types stored before, once
            self.known.update(
                (name, (int(type_id), field))
                for name, type_id, field in connection.execute(
                    "SELECT name, id, field FROM event_types"
                )
            )
        known = self.known
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

    def adopt(self, new: dict[str, tuple[int, bytes]]) -> None:
        """Keep the types a commit added, now that it has gone through."""
        self.known.update(new)
