"""Fresh databases for tests: a SQLite file in a temporary folder, or a PostgreSQL schema.

PostgreSQL is found at ``ROUTER_TEST_PG`` (default: the local server, trust auth). Each test gets
its own schema through ``search_path``, dropped afterwards. When no server answers the tests skip
with the reason, except under ``CI=true``, where they fail: CI must exercise PostgreSQL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import psycopg
import pytest

from storage import Storage

PG_BASE = os.environ.get("ROUTER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
_pg_state: dict[str, str | None] = {}


def postgres_problem() -> str | None:
    """None when the test server answers, else why not."""
    if "problem" not in _pg_state:
        try:
            with psycopg.connect(PG_BASE, connect_timeout=3) as connection:
                connection.execute("SELECT 1")
            _pg_state["problem"] = None
        except psycopg.Error as error:
            _pg_state["problem"] = f"PostgreSQL at {PG_BASE} not reachable: {error}".strip()
    return _pg_state["problem"]


def require(service: str, problem: str | None) -> None:
    """Nothing when ``problem`` is None; else the test skips saying it, or fails under
    ``CI=true``: CI must run the tests of every ``service``."""
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the {service} tests: {problem}")
    pytest.skip(problem)


def require_postgres() -> None:
    require("PostgreSQL", postgres_problem())


def with_search_path(url: str, schema: str) -> str:
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options={quote(f'-csearch_path={schema}')}"


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL whose tables live in a new, empty schema; the schema is dropped afterwards."""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(PG_BASE, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        yield with_search_path(PG_BASE, schema)
    finally:
        with psycopg.connect(PG_BASE, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@contextmanager
def database_url(kind: str, folder: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{os.path.join(folder, 'router.db')}"
    else:
        with postgres_schema() as url:
            yield url


def record_a_newer_schema(store: Storage, router_version: str) -> int:
    """Migrate ``store``, then record one version past this router's, applied by
    ``router_version``, as a newer router would; returns this router's newest version."""
    store.migrate()
    known = store.schema_state().known
    with store._control() as run:  # type: ignore[attr-defined]
        run(
            "INSERT INTO schema_migrations (version, router_version) VALUES (?, ?)",
            (known + 1, router_version),
        )
    return known
