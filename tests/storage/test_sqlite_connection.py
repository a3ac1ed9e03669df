"""Opening the SQLite file (storage.sqlite.connection). It holds every event and the users' token
hashes: a new one, and the -wal and -shm files beside it, are readable by their owner only,
whatever the umask. A transaction leaves nothing of itself when it fails."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from router.core.ids import uuid7
from router.core.model import NewEvent
from storage import StorageUnavailable, open_storage
from storage.base import Append
from storage.sqlite.connection import connect, path_from_url, transaction


def test_a_new_database_and_its_logs_are_private_to_their_owner(tmp_path: Path) -> None:
    path = tmp_path / "router.db"
    before = os.umask(0o022)  # the usual umask, under which files are created 0644
    try:
        store = open_storage(f"sqlite:///{path}")
        store.migrate()
        event = NewEvent(uuid7(), "order.created", b"{}")
        store.commit([Append([event], [()])], {}, store.positions(), 1)
        files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in files}
        store.close()
    finally:
        os.umask(before)
    assert modes == {p.name: 0o600 for p in files}


def test_an_existing_database_keeps_its_permissions(tmp_path: Path) -> None:
    path = tmp_path / "router.db"
    open_storage(f"sqlite:///{path}").close()
    path.chmod(0o640)  # an operator's choice (a group that backs it up)
    store = open_storage(f"sqlite:///{path}")
    store.migrate()
    store.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_a_url_names_a_path_relative_or_absolute() -> None:
    assert path_from_url("sqlite:///data/router.db") == "data/router.db"
    assert path_from_url("sqlite:////var/lib/router.db") == "/var/lib/router.db"
    assert path_from_url("sqlite:///") == "router.db"
    with pytest.raises(ValueError):
        path_from_url("postgresql://localhost/router")


def test_a_failed_transaction_leaves_nothing_and_failures_are_unavailable(tmp_path: Path) -> None:
    connection = connect(str(tmp_path / "t.db"))
    connection.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)")
    with pytest.raises(RuntimeError), transaction(connection):
        connection.execute("INSERT INTO t VALUES (1)")
        raise RuntimeError("the caller failed")
    assert connection.execute("SELECT count(*) FROM t").fetchone() == (0,)
    with pytest.raises(sqlite3.IntegrityError), transaction(connection):
        connection.execute("INSERT INTO t VALUES (1)")
        connection.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(StorageUnavailable), transaction(connection):
        connection.execute("SELECT * FROM missing")
    assert not connection.in_transaction
    connection.close()
