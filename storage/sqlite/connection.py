"""Opening the SQLite file and running one transaction on it.

Connections are opened with ``check_same_thread=False`` because the StateActor calls them from
Trio's worker threads; each connection is used by one call at a time.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from storage.base import StorageUnavailable


def path_from_url(url: str) -> str:
    """``sqlite:///rel/path.db`` (relative to the working directory) or ``sqlite:////abs/path.db``."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise ValueError(f"db: not a sqlite URL (sqlite:///path): {url!r}")
    return url[len(prefix) :] or "router.db"


def connect(path: str) -> sqlite3.Connection:
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


def create_private(path: str) -> None:
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
def errors() -> Iterator[None]:
    """SQLite's failures as :class:`StorageUnavailable`, integrity errors aside (callers tell
    those apart)."""
    try:
        yield
    except sqlite3.IntegrityError:
        raise
    except (sqlite3.OperationalError, sqlite3.DatabaseError) as error:
        raise StorageUnavailable(f"sqlite: {error}") from error


@contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction (taking the write lock at once), rolled back if the block fails."""
    with errors():
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            if connection.in_transaction:  # SQLite ends it itself on some errors (disk full)
                connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
