"""Leadership on PostgreSQL (storage.leadership): one lock holder, epochs that only rise, and a
deposed leader's store that cannot write again."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest

from router.core.model import NewEvent
from storage import Storage, open_storage
from storage.base import Append, Positions, StorageUnavailable
from storage.leadership import Deposed, Elector
from tests.helpers.databases import postgres_schema

pytestmark = pytest.mark.postgres


@pytest.fixture
def url() -> Iterator[str]:
    with postgres_schema() as schema_url:
        store = open_storage(schema_url)
        store.migrate()
        store.close()
        yield schema_url


def elector(url: str, name: str, lease_s: float = 60) -> Elector:
    return Elector(url, name, f"{name}:50051", f"{name}:8080", lease_s)


def one_event(store: Storage, positions: Positions, n: int) -> None:
    event = NewEvent(f"00000000-0000-7000-8000-{n:012d}", "t.x", b"{}", ())
    store.commit([Append((event,), ((),))], {}, positions, time.time_ns() // 1000)


def test_one_router_leads_and_the_others_see_it(url: str) -> None:
    a, b = elector(url, "a"), elector(url, "b")
    try:
        assert b.leader().known is False
        lease = a.take()
        assert lease is not None and lease.epoch == 1
        assert b.take() is None, "the lock is held"
        seen = b.leader()
        assert (seen.epoch, seen.name, seen.grpc_address, seen.lock_held) == (
            1,
            "a",
            "a:50051",
            True,
        )
        assert b.end_lapsed(seen) is False, "the lease has not run out"
        a.renew(1)
        assert [n.name for n in b.nodes(60)] == ["a", "b"]
        assert lease.connection is not None
        lease.connection.close()  # the leader's connection ends (killed): the lock is free
        taken = b.take()
        assert taken is not None and taken.epoch == 2
        with pytest.raises(Deposed):
            a.renew(1)
        assert taken.connection is not None
        taken.connection.close()
    finally:
        a.close()
        b.close()


def test_a_lapsed_lease_ends_the_holders_connection_and_its_store_writes_nothing(url: str) -> None:
    a, b = elector(url, "a", lease_s=1), elector(url, "b", lease_s=1)
    lease = a.take()
    assert lease is not None
    store = open_storage(url, lease=lease)
    try:
        positions = store.restore().positions
        one_event(store, positions, 1)
        time.sleep(1.2)  # past the 1 s lease, with no renewal: the leader is "frozen"
        seen = b.leader()
        assert seen.lease_left_s < 0
        assert b.end_lapsed(seen) is True
        # The lock goes with the terminated backend; the standby takes over.
        for _ in range(50):
            taken = b.take()
            if taken is not None:
                break
            time.sleep(0.05)  # the backend's exit releases the lock a moment later
        assert taken is not None and taken.epoch == 2
        # The old leader's store: its connection is gone, and a new one cannot take the lock.
        with pytest.raises(StorageUnavailable):
            one_event(store, positions, 2)
        with pytest.raises(Deposed):
            one_event(store, positions, 2)
        assert taken.connection is not None
        taken.connection.close()
        # Even with the lock free again, the old epoch is over.
        with pytest.raises(Deposed):
            one_event(store, positions, 3)
    finally:
        store.close()
        a.close()
        b.close()
    with psycopg.connect(url) as connection:
        assert connection.execute("SELECT count(*) FROM events").fetchone() == (1,)
        assert connection.execute(
            "SELECT epoch, name FROM router_epochs ORDER BY epoch"
        ).fetchall() == [
            (1, "a"),
            (2, "b"),
        ]


def test_a_leader_whose_connection_broke_carries_on_under_its_epoch(url: str) -> None:
    a = elector(url, "a")
    lease = a.take()
    assert lease is not None
    store = open_storage(url, lease=lease)
    try:
        positions = store.restore().positions
        with psycopg.connect(url, autocommit=True) as other:
            (pid,) = other.execute("SELECT backend_pid FROM router_leader").fetchone() or (0,)
            other.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(StorageUnavailable):
            one_event(store, positions, 1)
        one_event(store, positions, 1)  # opened again: the lock taken again, the epoch unchanged
        a.renew(lease.epoch)
    finally:
        store.close()
        a.close()


def test_routers_in_two_schemas_of_one_database_lead_each_their_own(url: str) -> None:
    with postgres_schema() as other_url:
        store = open_storage(other_url)
        store.migrate()
        store.close()
        a, b = elector(url, "a"), elector(other_url, "b")
        try:
            first, second = a.take(), b.take()
            assert first is not None and second is not None
            for lease in (first, second):
                assert lease.connection is not None
                lease.connection.close()
        finally:
            a.close()
            b.close()


def test_a_leader_whose_old_session_still_holds_the_lock_takes_it_back(url: str) -> None:
    a = elector(url, "a")
    lease = a.take()
    assert lease is not None
    stale = lease.connection  # the server keeps this session (and its lock) alive...
    store = open_storage(url, lease=lease)
    try:
        positions = store.restore().positions
        store._connection._connection = None  # type: ignore[attr-defined]  # ...the router lost it
        one_event(store, positions, 1)  # opened again: its own old session ended, lock taken
        assert stale is not None and stale.closed is False
        with pytest.raises(psycopg.OperationalError):
            stale.execute("SELECT 1")
        a.renew(lease.epoch)
    finally:
        store.close()
        a.close()
