"""The embedded store: SQLite in WAL mode, one writer connection and one connection per reader.

Its parts, each owning one job: the file and its transactions (``connection``), the event types
(``event_types``), the idempotency keys (``ids``), migrations (``upgrade``), replay (``reader``)
and the writer (``store``).
"""

from __future__ import annotations

from storage.sqlite.connection import path_from_url
from storage.sqlite.reader import SqliteReader
from storage.sqlite.store import SqliteStorage

__all__ = ["SqliteReader", "SqliteStorage", "path_from_url"]
