"""Leadership among routers that share one PostgreSQL (docs/adr/0017): one leads and writes, the
others stand by, and a deposed leader can never commit again.

The leader holds a session advisory lock on its *writer connection*, the one connection every
write goes through (storage.postgres). Whoever holds the lock may write; a session keeps its lock
until it ends, so while the writer connection lives, no other router can lead, and when it ends
(the process killed, the connection cut, the backend terminated) its open transaction is rolled
back with it. A writer connection opened again must take the lock again and find the epoch
unchanged, or the router has been deposed (:class:`Deposed`) and writes nothing more.

The row ``router_leader`` says who leads: the epoch (raised by each takeover, in the transaction
that records it in ``router_epochs``), the addresses clients are sent to, the backend holding the
lock and a lease, renewed by the leader on a connection of its own. A standby takes the lock as
soon as it is free (a killed leader's backend ends at once); a leader whose lease ran out while
its backend lives on (a frozen process, a cut network that PostgreSQL has not noticed) has that
backend terminated by the standby, which then takes the lock. Times are the database server's,
so the routers' clocks do not matter.
"""

from __future__ import annotations

import threading
from typing import Any

import attrs
import psycopg

from storage.base import StorageUnavailable

# The advisory lock of leadership. Advisory locks are per database, and routers may keep their
# tables in different schemas of one database (each its own group): the key is made of a fixed
# number and the oid of this schema's router_leader table.
_KEY = "((727273::bigint << 32) | 'router_leader'::regclass::oid::bigint)"
_HELD = (
    "locktype = 'advisory' AND granted AND classid = 727273"
    " AND objid = 'router_leader'::regclass::oid"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


# The PostgreSQL migration that makes the tables below: a store without it has them made before
# routers elect; the others are applied by the leader only (router.node.serve).
LEADERSHIP_MIGRATION = 10
RELOCK_WAIT_MS = 2_000  # for an ended session of this leader's own to let the lock go


class Deposed(StorageUnavailable):
    """Another router leads now: this one writes nothing more."""


@attrs.frozen
class Leader:
    """The row ``router_leader`` as a standby reads it."""

    epoch: int
    name: str
    grpc_address: str
    http_address: str
    backend_pid: int
    lease_left_s: float  # until the lease ends, by the database's clock; negative: ended
    lock_held: bool  # some session holds the leadership lock

    @property
    def known(self) -> bool:
        """Somebody has led (epoch 0 is the row before the first takeover)."""
        return self.epoch > 0


@attrs.frozen
class Node:
    """A router that leads or stands by, as it last said."""

    name: str
    grpc_address: str
    http_address: str
    leading: bool
    seen_s_ago: float


@attrs.define
class Lease:
    """What a takeover gives the new leader: its epoch and the writer connection that holds the
    lock (handed to the store, which writes through it and only through it)."""

    epoch: int
    connection: psycopg.Connection[Any] | None


def connect(url: str) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=5)
    except psycopg.Error as error:
        raise StorageUnavailable(f"postgresql: cannot connect: {error}") from error


def relock(connection: psycopg.Connection[Any], epoch: int) -> None:
    """A leader's writer connection opened again: take the lock and check that nobody led since;
    :class:`Deposed` (with the connection left to the caller to close) when either fails.

    The lock may still be held by this leader's own earlier session, when the connection broke
    on the way (a network blip) and the server has not noticed: the row names that backend
    under this epoch, which no other router's session can be. It is ended, and the lock taken."""
    ((locked,),) = connection.execute(f"SELECT pg_try_advisory_lock({_KEY})".encode()).fetchall()
    if not locked:
        ended = connection.execute(
            f"SELECT pg_terminate_backend(pid) FROM pg_locks, router_leader WHERE {_HELD}"
            " AND pid = backend_pid AND epoch = %s AND pid <> pg_backend_pid()".encode(),
            (epoch,),
        ).fetchall()
        if not ended:
            raise Deposed(f"leadership: another router holds the lock; epoch {epoch} is over")
        # The ended backend lets the lock go as it exits: wait for the lock itself, bounded.
        try:
            connection.execute(f"SET lock_timeout = '{RELOCK_WAIT_MS}ms'".encode())
            connection.execute(f"SELECT pg_advisory_lock({_KEY})".encode())
        except psycopg.errors.LockNotAvailable as error:
            raise Deposed(f"leadership: the lock of epoch {epoch} was taken meanwhile") from error
        finally:
            connection.execute(b"RESET lock_timeout")
    with connection.transaction():
        row = connection.execute(
            "UPDATE router_leader SET backend_pid = pg_backend_pid() WHERE epoch = %s"
            " RETURNING epoch",
            (epoch,),
        ).fetchone()
    if row is None:
        connection.execute(f"SELECT pg_advisory_unlock({_KEY})".encode())
        raise Deposed(f"leadership: another router led after epoch {epoch}")


class Elector:
    """This router's side of leadership, on a connection of its own (blocking calls: run them in
    a thread). ``name`` identifies the router; the addresses are where clients should go."""

    def __init__(
        self, url: str, name: str, grpc_address: str, http_address: str, lease_s: float
    ) -> None:
        self.url = url
        self.name = name
        self.grpc_address = grpc_address
        self.http_address = http_address
        self.lease_s = lease_s
        self._connection: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()  # the lease keeper and readers of the view share it

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._run_locked(sql, params)

    def _run_locked(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        try:
            if self._connection is None or self._connection.closed:
                self._connection = connect(self.url)
            cursor = self._connection.execute(sql.encode(), params)
            return cursor.fetchall() if cursor.description is not None else []
        except (psycopg.OperationalError, psycopg.InterfaceError) as error:
            self.close()
            raise StorageUnavailable(f"postgresql: {error}".strip()) from error

    def leader(self) -> Leader:
        """Who leads, and say that this router stands by."""
        self._say(leading=False)
        ((epoch, name, grpc, http, pid, left, held),) = self._run(
            "SELECT epoch, name, grpc_address, http_address, backend_pid,"
            " extract(epoch FROM lease_until - now())::float8,"
            f" EXISTS (SELECT 1 FROM pg_locks WHERE {_HELD})"
            " FROM router_leader",
        )
        lease_left = float(left) if left is not None else float("-inf")
        return Leader(int(epoch), name, grpc, http, int(pid), lease_left, bool(held))

    def end_lapsed(self, leader: Leader) -> bool:
        """Terminate the backend of a leader whose lease ended (frozen, or cut off without
        PostgreSQL noticing): its lock and any transaction it had open end with it. True if a
        backend was terminated."""
        if not leader.lock_held or leader.lease_left_s >= 0 or leader.backend_pid == 0:
            return False
        rows = self._run(
            f"SELECT pg_terminate_backend(pid) FROM pg_locks WHERE {_HELD} AND pid = %s"
            " AND (SELECT lease_until < now() FROM router_leader)",
            (leader.backend_pid,),
        )
        return bool(rows and rows[0][0])

    def take(self) -> Lease | None:
        """Lead if the lock is free: on a new connection, take the lock, raise the epoch and
        record it; that connection becomes the store's writer connection. None if another
        session holds the lock."""
        connection = connect(self.url)
        try:
            ((locked,),) = connection.execute(
                f"SELECT pg_try_advisory_lock({_KEY})".encode()
            ).fetchall()
            if not locked:
                connection.close()
                return None
            with connection.transaction():
                ((epoch,),) = connection.execute(
                    "UPDATE router_leader SET epoch = epoch + 1, name = %s, grpc_address = %s,"
                    " http_address = %s, backend_pid = pg_backend_pid(),"
                    " lease_until = now() + make_interval(secs => %s), since = now()"
                    " RETURNING epoch",
                    (self.name, self.grpc_address, self.http_address, self.lease_s),
                ).fetchall()
                connection.execute(
                    "INSERT INTO router_epochs (epoch, name) VALUES (%s, %s)", (epoch, self.name)
                )
        except psycopg.Error as error:
            connection.close()
            raise StorageUnavailable(f"postgresql: {error}".strip()) from error
        return Lease(int(epoch), connection)

    def renew(self, epoch: int) -> None:
        """Extend the lease of ``epoch``; :class:`Deposed` if another router leads now."""
        rows = self._run(
            "UPDATE router_leader SET lease_until = now() + make_interval(secs => %s)"
            " WHERE epoch = %s RETURNING 1",
            (self.lease_s, epoch),
        )
        if not rows:
            raise Deposed(f"leadership: another router led after epoch {epoch}")
        self._say(leading=True)

    def resign(self, epoch: int) -> None:
        """End the lease now (a clean stop): a standby need not wait for it to run out."""
        self._run(
            "UPDATE router_leader SET lease_until = now() WHERE epoch = %s",
            (epoch,),
        )
        self._say(leading=False)

    def nodes(self, within_s: float) -> list[Node]:
        """The routers heard from in the last ``within_s`` seconds, the leader first."""
        return [
            Node(name, grpc, http, bool(leading), float(ago))
            for name, grpc, http, leading, ago in self._run(
                "SELECT name, grpc_address, http_address, is_leader,"
                " extract(epoch FROM now() - seen)::float8 FROM router_nodes"
                " WHERE seen > now() - make_interval(secs => %s) ORDER BY is_leader DESC, name",
                (within_s,),
            )
        ]

    def database_host(self) -> str:
        """HOST:PORT of the PostgreSQL server this router's connections reach now."""
        self._run("SELECT 1")
        assert self._connection is not None
        return f"{self._connection.info.host}:{self._connection.info.port}"

    def _say(self, leading: bool) -> None:
        self._run(
            "INSERT INTO router_nodes (name, grpc_address, http_address, is_leader, seen)"
            " VALUES (%s, %s, %s, %s, now()) ON CONFLICT (name) DO UPDATE SET"
            " grpc_address = excluded.grpc_address, http_address = excluded.http_address,"
            " is_leader = excluded.is_leader, seen = excluded.seen",
            (self.name, self.grpc_address, self.http_address, leading),
        )

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None
