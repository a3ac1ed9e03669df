"""Migrating a PostgreSQL store (storage.postgres.upgrade): versions applied once, in order, in
one transaction, up to a version when asked."""

from __future__ import annotations

import psycopg
import pytest

from storage import _migrations
from storage.postgres.upgrade import migrate, schema_state

pytestmark = pytest.mark.postgres


def test_a_new_schema_is_migrated_up_to_a_version_then_the_rest(pg_url: str) -> None:
    known = max(version for version, _ in _migrations.load("postgres"))
    with psycopg.connect(pg_url, autocommit=True) as connection:
        assert schema_state(connection, "postgres").applied == 0
        with connection.transaction():
            assert migrate(connection, "postgres", 2) == [1, 2]
        state = schema_state(connection, "postgres")
        assert (state.applied, state.known, state.missing) == (2, known, tuple(range(3, known + 1)))
        with connection.transaction():
            assert migrate(connection, "postgres", None) == list(range(3, known + 1))
        with connection.transaction():
            assert migrate(connection, "postgres", None) == []
        assert schema_state(connection, "postgres").applied_by == _migrations.applied_by()
