"""What the storage tests share: a migrated store on each backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from storage import Storage, open_storage


@pytest.fixture
def store(db_url: str) -> Iterator[Storage]:
    storage = open_storage(db_url)
    storage.migrate()
    yield storage
    storage.close()
