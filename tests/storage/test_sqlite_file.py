"""The SQLite file holds every event and the users' token hashes: a new one, and the -wal and
-shm files beside it, are readable by their owner only, whatever the umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from router.core.ids import uuid7
from router.core.model import NewEvent
from storage import open_storage
from storage.base import Append


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
