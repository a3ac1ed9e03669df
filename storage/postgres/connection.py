"""The PostgreSQL connection: opened on demand, set up, and dropped when it breaks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from storage.base import StorageUnavailable
from storage.leadership import Deposed, Lease, relock


def one(cursor: psycopg.Cursor[Any]) -> Any:
    """The one row a query returns."""
    row = cursor.fetchone()
    assert row is not None, "the query returns one row"
    return row


class Connection:
    """A psycopg connection opened on demand and dropped when it breaks."""

    def __init__(
        self, url: str, autocommit: bool, schema: str | None = None, lease: Lease | None = None
    ) -> None:
        self._url = url
        self._autocommit = autocommit
        self._schema = schema
        self._connection: psycopg.Connection[Any] | None = None
        # A leader's writer connection (storage.leadership): the first is the one that took the
        # lock; one opened again must take it again under the same epoch, or nothing is written.
        self._lease = lease

    def get(self) -> psycopg.Connection[Any]:
        if self._connection is None or self._connection.closed:
            self._connection = None
            connection = self._open()
            try:
                with connection.transaction():
                    # No JIT: it compiles a statement whose plan costs more than jit_above_cost,
                    # and a replay chunk's generic plan over a log of 1,000,000 events does (its
                    # estimates are in the hundreds of thousands of rows): 10 ms of compiling,
                    # each time, for 2 ms of work. These statements are all short.
                    connection.execute("SET jit = off")
                if self._schema is not None:
                    self._enter_schema(connection, self._schema)
            except psycopg.Error as error:
                connection.close()
                raise StorageUnavailable(f"postgresql: cannot connect: {error}") from error
            self._connection = connection  # only once set up (and, for a leader, locked)
        return self._connection

    def _open(self) -> psycopg.Connection[Any]:
        if self._lease is not None and self._lease.connection is not None:
            connection, self._lease.connection = self._lease.connection, None
            return connection
        try:
            connection = psycopg.connect(self._url, autocommit=self._autocommit, connect_timeout=5)
        except psycopg.Error as error:
            raise StorageUnavailable(f"postgresql: cannot connect: {error}") from error
        if self._lease is not None:
            try:
                relock(connection, self._lease.epoch)
            except Deposed:
                connection.close()  # the lock, if this connection had taken it, goes with it
                raise
            except psycopg.Error as error:
                connection.close()
                raise StorageUnavailable(f"postgresql: {error}".strip()) from error
        return connection

    @staticmethod
    def _enter_schema(connection: psycopg.Connection[Any], schema: str) -> None:
        """Put ``schema`` first on the search path: this node's tables are made and found there,
        and the tables it does not have (the event log) are found where the URL points."""
        with connection.transaction():
            connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            connection.execute(
                "SELECT set_config('search_path', %s || ', ' || current_setting('search_path'),"
                " false)",
                (f'"{schema}"',),
            )

    @contextmanager
    def errors(self) -> Iterator[None]:
        try:
            yield
        except (psycopg.OperationalError, psycopg.InterfaceError) as error:
            self.drop()
            raise StorageUnavailable(f"postgresql: {error}".strip()) from error

    def drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()
