"""The PostgreSQL connection (storage.postgres.connection): set up when opened, dropped when it
breaks, opened again on the next call."""

from __future__ import annotations

import psycopg
import pytest

from storage import StorageUnavailable, open_storage
from storage.postgres.connection import Connection, one
from tests.helpers.databases import postgres_schema


def test_postgresql_connections_compile_nothing_just_in_time() -> None:
    """A replay chunk's generic plan over a large log is estimated above jit_above_cost, and
    PostgreSQL then compiled it at every chunk (10 ms for 2 ms of work): catch-up of 1,000,000
    events ran at 229k/s instead of 498k/s. The writer and the readers turn JIT off."""
    with postgres_schema() as url:
        store = open_storage(url)
        store.migrate()
        reader = store.reader()
        try:
            for connection in (store._connection, reader._connection):  # type: ignore[attr-defined]
                assert connection.get().execute("SHOW jit").fetchone() == ("off",)
        finally:
            reader.close()
            store.close()


def test_a_broken_connection_is_dropped_and_opened_again() -> None:
    with postgres_schema() as url:
        connection = Connection(url, autocommit=True)
        try:
            first = connection.get()
            assert one(first.execute("SELECT 1")) == (1,)
            with pytest.raises(StorageUnavailable), connection.errors():
                raise psycopg.OperationalError("server closed the connection")
            assert first.closed
            assert connection.get() is not first
        finally:
            connection.drop()
            connection.drop()  # dropping twice is harmless


def test_a_node_schema_is_made_and_searched_first() -> None:
    with postgres_schema() as url:
        connection = Connection(url, autocommit=True, schema="route_x")
        try:
            path = one(connection.get().execute("SHOW search_path"))[0]
            assert path.startswith('"route_x", ')
        finally:
            connection.drop()
