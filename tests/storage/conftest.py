"""What the storage tests share: a migrated store on each backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from storage import Storage, open_storage
from tests.helpers.databases import postgres_schema


@pytest.fixture
def store(db_url: str) -> Iterator[Storage]:
    storage = open_storage(db_url)
    storage.migrate()
    yield storage
    storage.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema's URL (the tests using it are marked postgres)."""
    with postgres_schema() as url:
        yield url
