from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.databases import database_url

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[str]:
    """A fresh, empty database on each backend: the same tests run against SQLite and PostgreSQL."""
    with database_url(request.param, str(tmp_path)) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: object) -> Iterator[str]:
    with database_url("sqlite", str(tmp_path)) as url:
        yield url
