"""The storage contract, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
import sqlite3
import uuid

import attrs
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import storage.sqlite.ids
import storage.sqlite.store
import storage.sqlite.upgrade
from router.core.consumers import ConsumerSettings, ParkedEvent
from router.core.errors import AlreadyExists, NotFound
from router.core.ids import uuid7
from router.core.model import (
    Access,
    Grant,
    NewEvent,
    QueueConfig,
    QueueRecord,
    Quotas,
    Role,
    StoredEvent,
    SubscriberRecord,
    TokenRecord,
    TypeSchema,
    UserRecord,
)
from router.core.patterns import matches
from router.core.wire import encode_event
from storage import Storage, StorageUnavailable, _migrations, open_storage
from storage._migrations import WIRE_MIGRATION
from storage.base import Append, Positions
from storage.postgres import DAY_US
from storage.sqlite import path_from_url
from tests.helpers.databases import postgres_schema


def event(type_: str = "order.created", payload: bytes = b"{}") -> NewEvent:
    return NewEvent(str(uuid.uuid4()), type_, payload, (("k", "v"),))


def commit(store: Storage, events: list[NewEvent], routes: list[tuple[int, ...]], now: int = 1_000):
    positions = store.positions()
    return store.commit([Append(events, routes)], {}, positions, now)


def test_migrations_apply_once(store: Storage) -> None:
    assert store.migrate() == []


def test_an_empty_store_restores_to_nothing(store: Storage) -> None:
    restored = store.restore()
    assert restored.positions == Positions(0, 0, {})
    assert restored.exchanges == restored.queues == restored.subscribers == ()


def test_events_are_numbered_and_routed_densely(store: Storage) -> None:
    orders = store.create_exchange("orders", ("order.*",), 1, lambda t: matches("order.*", t))
    events = [event(), event("user.created"), event("order.paid")]
    result = commit(store, events, [(orders.id,), (), (orders.id,)])
    assert [o.seq for o in result.outcomes] == [1, 2, 3]
    assert [o.offsets for o in result.outcomes] == [((orders.id, 1),), (), ((orders.id, 2),)]
    assert [d.offset for d in result.deliveries[orders.id]] == [1, 2]
    assert result.positions.heads == {orders.id: 2}
    reader = store.reader()
    read = reader.read(orders.id, 1, 10, 100)
    assert [(d.offset, d.event.id, d.event.headers) for d in read] == [
        (1, events[0].id, (("k", "v"),)),
        (2, events[2].id, (("k", "v"),)),
    ]
    reader.close()


def test_a_republished_id_is_acked_with_its_original_place_and_not_stored_again(
    store: Storage,
) -> None:
    orders = store.create_exchange("orders", ("#",), 1, lambda t: True)
    first = event()
    commit(store, [first, event()], [(orders.id,), (orders.id,)])
    again = commit(store, [first, first], [(orders.id,), (orders.id,)], now=2_000)
    assert [(o.seq, o.duplicate, o.offsets) for o in again.outcomes] == [
        (1, True, ((orders.id, 1),)),
        (1, True, ((orders.id, 1),)),
    ]
    assert again.deliveries == {}
    assert store.positions().last_seq == 2


def test_a_large_commit_reads_back_as_written(store: Storage) -> None:
    """Past the small-commit path (PostgreSQL writes these with binary COPY): ids, types,
    payloads, headers and timestamps survive; a commit with no stored id takes the optimistic
    path, one with stored ids among new ones falls back and still finds them; each exchange gets
    its own dense offsets."""
    orders = store.create_exchange("orders", ("order.#",), 1, lambda t: matches("order.#", t))
    every = store.create_exchange("every", ("#",), 1, lambda t: True)
    first = 100  # past storage.postgres.FEW_EVENTS
    stored = [event("order.früh", b"\x00" * 300) for _ in range(first)]
    commit(store, stored, [(orders.id, every.id)] * first, now=1_000)
    fresh = [
        NewEvent(
            str(uuid.uuid4()), f"order.n{n % 7}" if n % 3 else "user.x", bytes([n % 256]) * n, ()
        )
        for n in range(300)  # past pgcopy.CHUNK_ROWS too
    ]
    batch = fresh[:100] + stored[:10] + fresh[100:]
    routes = [(orders.id, every.id) if e.type.startswith("order.") else (every.id,) for e in batch]
    result = commit(store, batch, routes, now=2_000)
    assert [o.duplicate for o in result.outcomes] == [False] * 100 + [True] * 10 + [False] * 200
    assert [o.seq for o in result.outcomes[100:110]] == list(range(1, 11))
    assert [sorted(o.offsets) for o in result.outcomes[100:110]] == [
        sorted([(orders.id, n), (every.id, n)]) for n in range(1, 11)
    ]
    new_seqs = list(range(first + 1, first + 301))
    assert [o.seq for o in result.outcomes if not o.duplicate] == new_seqs
    in_orders = [e for e in fresh if e.type.startswith("order.")]
    reader = store.reader()
    try:
        read = reader.read(orders.id, first + 1, 1_000, 1_000)
        assert [d.offset for d in read] == list(range(first + 1, first + 1 + len(in_orders)))
        assert [(d.event.id, d.event.type, d.event.payload, d.event.headers) for d in read] == [
            (e.id, e.type, e.payload, e.headers) for e in in_orders
        ]
        assert {d.event.published_at for d in read} == {2_000}
        assert reader.published_at(orders.id, first + 10) == 2_000  # the column, not the wire
        assert [d.event.seq for d in reader.read(every.id, first + 1, 1_000, 1_000)] == new_seqs
        logged = reader.read_log(first, 1_000)
        assert [(e.seq, e.id, e.payload) for e in logged] == [
            (first + 1 + n, e.id, e.payload) for n, e in enumerate(fresh)
        ]
        assert [e.headers for e in reader.read_log(0, 1)] == [(("k", "v"),)]
    finally:
        reader.close()
    again = commit(store, fresh[200:], [(every.id,)] * 100, now=3_000)
    assert all(o.duplicate for o in again.outcomes)
    assert store.positions().last_seq == first + 300


def test_a_chunk_ends_at_a_gap_in_the_log_and_reads_the_same_row_by_row(db_url: str) -> None:
    """A chunk is one run of consecutive offsets: a missing log row ends it, and its reader asks
    again from there. SQLite answers a chunk as one joined row; a chunk longer than SQLite lets
    a value be, or one with a gap, is read row by row, with the same result."""
    store = open_storage(db_url)
    store.migrate()
    every = store.create_exchange("every", ("#",), 1, lambda t: True)
    events = [event(payload=bytes([n]) * 60) for n in range(20)]
    commit(store, events, [(every.id,)] * 20)
    reader = store.reader()
    try:
        whole = [(d.offset, d.event.id, d.event.payload) for d in reader.read(every.id, 1, 20, 50)]
        assert whole == [(n + 1, e.id, e.payload) for n, e in enumerate(events)]
        if db_url.startswith("sqlite"):
            connection = reader._connection  # type: ignore[attr-defined]
            longest = connection.getlimit(sqlite3.SQLITE_LIMIT_LENGTH)
            connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 1_000)  # each wire form is shorter
            again = reader.read(every.id, 1, 20, 50)
            assert [(d.offset, d.event.id, d.event.payload) for d in again] == whole
            connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, longest)
            direct: object = sqlite3.connect(path_from_url(db_url), isolation_level=None)
        else:
            direct = psycopg.connect(db_url, autocommit=True)
        direct.execute("DELETE FROM exchange_log WHERE exchange_offset = 8")  # type: ignore[attr-defined]
        direct.close()  # type: ignore[attr-defined]
        short = reader.read(every.id, 3, 20, 50)
        assert [d.offset for d in short] == [3, 4, 5, 6, 7]
        assert [d.event.id for d in short] == [e.id for e in events[2:7]]
        after = reader.read(every.id, 8, 20, 50)
        assert [d.offset for d in after] == list(range(9, 21))
    finally:
        reader.close()
        store.close()


def test_a_chunk_reads_the_events_its_exchange_took_whatever_their_seqs(db_url: str) -> None:
    """An exchange that took every event in a stretch is read as one range of seqs
    (PostgreSQL); one that took some of them, or a stretch with a gap, reads through its log."""
    store = open_storage(db_url)
    store.migrate()
    every = store.create_exchange("every", ("#",), 1, lambda t: True)
    some = store.create_exchange("some", ("#",), 1, lambda t: True)
    events = [event(payload=bytes([n]) * 30) for n in range(30)]
    commit(store, events, [(every.id, some.id) if n % 3 else (every.id,) for n in range(30)])
    reader = store.reader()
    try:
        taken = [e.id for n, e in enumerate(events) if n % 3]
        got = reader.read(some.id, 1, 20, 50)
        assert [(d.offset, d.event.id) for d in got] == list(enumerate(taken, start=1))
        middle = reader.read(every.id, 11, 30, 7)
        assert [(d.offset, d.event.id) for d in middle] == [
            (n + 1, events[n].id) for n in range(10, 17)
        ]
        assert list(reader.read(every.id, 31, 40, 10)) == []
    finally:
        reader.close()
        store.close()


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


def test_sqlite_ids_moved_to_the_older_index_still_find_their_duplicates(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite indexes new ids apart and moves them to event_ids every MERGE_IDS: an id is
    found as stored wherever it is, and the window's purge empties both."""
    monkeypatch.setattr(storage.sqlite.ids, "MERGE_IDS", 5)
    store = open_storage(sqlite_url)
    store.migrate()
    every = store.create_exchange("every", ("#",), 1, lambda t: True)
    older, moved, recent = [event() for _ in range(4)], [event() for _ in range(3)], [event()]
    for events in (older, moved, recent):  # 4 wait, 7 are moved, 1 waits
        commit(store, events, [(every.id,)] * len(events))
    tables = sqlite3.connect(path_from_url(sqlite_url))
    count = "SELECT (SELECT count(*) FROM event_ids), (SELECT count(*) FROM event_ids_recent)"
    assert tables.execute(count).fetchone() == (7, 1)
    fresh = event()
    again = commit(store, [older[1], recent[0], fresh, moved[2]], [(every.id,)] * 4, now=2_000)
    assert [(o.seq, o.duplicate, o.offsets) for o in again.outcomes] == [
        (2, True, ((every.id, 2),)),
        (8, True, ((every.id, 8),)),
        (9, False, ((every.id, 9),)),
        (7, True, ((every.id, 7),)),
    ]
    assert tables.execute(count).fetchone() == (7, 2)
    only_moved = commit(store, [event(), moved[0]], [(every.id,)] * 2, now=2_000)
    assert [(o.seq, o.duplicate) for o in only_moved.outcomes] == [(10, False), (5, True)]
    assert tables.execute(count).fetchone() == (7, 3)
    assert store.purge_ids(1_500) == 8  # all but the two published at 2,000
    assert tables.execute(count).fetchone() == (0, 2)
    tables.close()
    store.close()
    reopened = open_storage(sqlite_url)  # counts what waits again: 2, then 5 with these
    result = commit(reopened, [older[0]] + [event() for _ in range(2)], [(every.id,)] * 3, 3_000)
    assert [o.duplicate for o in result.outcomes] == [False] * 3  # its key had expired
    tables = sqlite3.connect(path_from_url(sqlite_url))
    assert tables.execute(count).fetchone() == (5, 0)
    tables.close()
    reopened.close()


_ID_TABLES = ("event_ids_old", "event_ids", "event_ids_recent")
# Selects how many ids each of _ID_TABLES holds, in that order.
_ID_COUNTS = ", ".join(f"(SELECT count(*) FROM {t})" for t in _ID_TABLES)


def _store_and_its_tables(sqlite_url: str) -> tuple[Storage, sqlite3.Connection]:
    """A migrated SQLite store, and a connection of its own to read its tables."""
    store = open_storage(sqlite_url)
    store.migrate()
    return store, sqlite3.connect(path_from_url(sqlite_url))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batches=st.lists(st.lists(st.integers(0, 40), min_size=1, max_size=9), max_size=25),
    level=st.integers(1, 12),
    slices=st.integers(1, 5),
)
def test_sqlite_ids_in_three_indexes_are_stored_once_wherever_they_are(
    tmp_path_factory: pytest.TempPathFactory, batches: list[list[int]], level: int, slices: int
) -> None:
    """New ids gather in event_ids_recent, move to event_ids, and from there, one range at a
    time, to event_ids_old (tiny sizes here, so that every path runs): whatever table holds an
    id, publishing it again is a duplicate acked with its first seq, and it is in one table."""
    pool = [event() for _ in range(41)]
    url = f"sqlite:///{tmp_path_factory.mktemp('ids')}/ids.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(storage.sqlite.ids, "MERGE_IDS", 3)
        patch.setattr(storage.sqlite.ids, "LEVEL_IDS", level)
        patch.setattr(storage.sqlite.ids, "MOVE_SLICES", slices)
        store = open_storage(url)
        store.migrate()
        first_seq: dict[int, int] = {}
        for batch in batches:
            result = commit(store, [pool[n] for n in batch], [()] * len(batch))
            for n, outcome in zip(batch, result.outcomes, strict=True):
                if n in first_seq:
                    assert (outcome.seq, outcome.duplicate) == (first_seq[n], True)
                else:
                    assert not outcome.duplicate
                    first_seq[n] = outcome.seq
        store.close()
    tables = sqlite3.connect(path_from_url(url))
    held = [bytes(row[0]) for t in _ID_TABLES for row in tables.execute(f"SELECT id FROM {t}")]
    tables.close()
    assert sorted(held) == sorted(uuid.UUID(pool[n].id).bytes for n in first_seq)


def test_sqlite_event_ids_moves_into_the_old_index_one_range_per_commit(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage.sqlite.ids, "MERGE_IDS", 4)
    monkeypatch.setattr(storage.sqlite.ids, "LEVEL_IDS", 8)
    monkeypatch.setattr(storage.sqlite.ids, "MOVE_SLICES", 4)
    store, tables = _store_and_its_tables(sqlite_url)
    published = [event() for _ in range(8)]
    commit(store, published[:4], [()] * 4)  # 4 gathered: moved to event_ids
    assert tables.execute(f"SELECT {_ID_COUNTS}").fetchone() == (0, 4, 0)
    commit(store, published[4:], [()] * 4)  # 8 in event_ids: the first range moves on
    old, level, recent = tables.execute(f"SELECT {_ID_COUNTS}").fetchone()
    assert (old + level, recent) == (8, 0)
    in_first_range = tables.execute(
        "SELECT count(*) FROM event_ids_old WHERE id < x'4000'"
    ).fetchone()
    assert in_first_range == (old,)
    for _ in range(3):  # the three other ranges, one a commit
        commit(store, [event()], [()])
    assert tables.execute(f"SELECT {_ID_COUNTS}").fetchone() == (8, 0, 3)
    again = commit(store, published, [()] * 8)
    assert [(o.seq, o.duplicate) for o in again.outcomes] == [(n, True) for n in range(1, 9)]
    # The purge forgets event_ids_recent's 3 now; event_ids_old's 8 go FORGET_IDS at a time in
    # the commits that follow (in id order, touching neighbouring pages), and until then still
    # count as stored.
    assert store.purge_ids(2_000) == 3
    assert tables.execute(f"SELECT {_ID_COUNTS}").fetchone() == (8, 0, 0)
    assert commit(store, published[:1], [()], now=3_000).outcomes[0].duplicate
    assert tables.execute(f"SELECT {_ID_COUNTS}").fetchone() == (0, 0, 0)
    for _ in range(2):  # 8 new ids in event_ids: a round of moves begins
        commit(store, [event() for _ in range(4)], [()] * 4, now=3_000)
    for _ in range(3):
        commit(store, [event()], [()], now=3_000)
    assert tables.execute(f"SELECT {_ID_COUNTS}").fetchone() == (8, 0, 3)
    # seqs 1-11 were published at 1,000 and forgotten; 12 is the first published at 3,000
    assert tables.execute("SELECT min(seq) FROM event_ids_old").fetchone() == (12,)
    assert not commit(store, published[:1], [()], now=3_000).outcomes[0].duplicate
    tables.close()
    store.close()


def test_sqlite_time_ordered_ids_move_a_bounded_number_a_commit(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """UUIDv7 ids share their first bytes, so all fall into one range of the moves: it moves
    MOVE_IDS a commit over several commits, and forgetting goes FORGET_IDS a commit."""
    monkeypatch.setattr(storage.sqlite.ids, "MERGE_IDS", 6)
    monkeypatch.setattr(storage.sqlite.ids, "LEVEL_IDS", 6)
    monkeypatch.setattr(storage.sqlite.ids, "MOVE_IDS", 2)
    monkeypatch.setattr(storage.sqlite.ids, "FORGET_IDS", 4)
    store, tables = _store_and_its_tables(sqlite_url)
    published = [NewEvent(uuid7(), "order.created", b"", ()) for _ in range(6)]
    commit(store, published, [()] * 6)  # merged, and the first 2 of the range moved
    assert tables.execute(f"SELECT {_ID_COUNTS}").fetchone() == (2, 4, 0)
    commit(store, [event()], [()])
    assert tables.execute(f"SELECT {_ID_COUNTS}").fetchone() == (4, 2, 1)
    commit(store, [event()], [()])
    assert tables.execute(f"SELECT {_ID_COUNTS}").fetchone() == (6, 0, 2)
    assert all(o.duplicate for o in commit(store, published, [()] * 6).outcomes)
    assert store.purge_ids(2_000) == 2  # event_ids_recent's two
    commit(store, [event()], [()], now=3_000)  # the first four of event_ids_old forgotten
    assert tables.execute(f"SELECT {_ID_COUNTS}").fetchone() == (2, 0, 1)
    commit(store, [event()], [()], now=3_000)
    assert tables.execute(f"SELECT {_ID_COUNTS}").fetchone() == (0, 0, 2)
    assert not any(o.duplicate for o in commit(store, published, [()] * 6, now=3_000).outcomes)
    tables.close()
    store.close()


def test_twice_in_one_batch_is_stored_once(store: Storage) -> None:
    one = event()
    result = commit(store, [one, one], [(), ()])
    assert [(o.seq, o.duplicate) for o in result.outcomes] == [(1, False), (1, True)]
    assert store.positions().last_seq == 1


def test_published_at_never_goes_back(store: Storage) -> None:
    commit(store, [event()], [()], now=5_000)
    commit(store, [event()], [()], now=4_000)  # the clock stepped back
    assert store.positions().last_published_at == 5_000


def test_a_new_exchange_indexes_history(store: Storage) -> None:
    commit(store, [event("order.created"), event("user.x"), event("order.paid")], [(), (), ()])
    orders = store.create_exchange("orders", ("order.#",), 9, lambda t: matches("order.#", t))
    assert orders.head == 2
    reader = store.reader()
    assert [d.event.seq for d in reader.read(orders.id, 1, 2, 10)] == [1, 3]
    assert reader.first_offset_at(orders.id, orders.head, 0) == 1
    assert reader.first_offset_at(orders.id, orders.head, 10**12) == 3
    reader.close()


def test_time_lookup_finds_the_first_event_at_or_after(store: Storage) -> None:
    orders = store.create_exchange("orders", ("#",), 1, lambda t: True)
    for now in (100, 200, 300):
        commit(store, [event()], [(orders.id,)], now=now)
    reader = store.reader()
    assert [reader.first_offset_at(orders.id, 3, t) for t in (50, 100, 150, 300, 301)] == [
        1,
        1,
        2,
        3,
        4,
    ]
    reader.close()


def test_duplicate_exchange_names_are_refused(store: Storage) -> None:
    store.create_exchange("orders", ("#",), 1, lambda t: True)
    with pytest.raises(AlreadyExists, match="orders"):
        store.create_exchange("orders", ("x",), 1, lambda t: True)


def test_queues_subscribers_and_cursors_are_restored(store: Storage) -> None:
    orders = store.create_exchange("orders", ("#",), 1, lambda t: True)
    queue = QueueRecord("q1", orders.id, QueueConfig("orders", 100))
    store.save_queue(queue, 1)
    store.save_subscriber(SubscriberRecord("q1", "billing", 0), 1)
    commit(store, [event()], [(orders.id,)])
    store.commit([], {("q1", "billing"): (1, ""), ("q1", "ghost"): (7, "")}, store.positions(), 2)
    restored = store.restore()
    assert restored.queues == (queue,)
    assert restored.subscribers == (SubscriberRecord("q1", "billing", 1),)
    assert restored.exchanges[0].head == 1


def test_a_subscribers_settings_ledger_and_parked_list_are_kept(store: Storage) -> None:
    orders = store.create_exchange("orders", ("#",), 1, lambda t: True)
    store.save_queue(QueueRecord("q1", orders.id, QueueConfig("orders", 100)), 1)
    shared = ConsumerSettings.make(mode="shared", prefetch=7, max_deliveries=3)
    store.save_subscriber(SubscriberRecord("q1", "billing", 0, shared), 1)
    ledger = '{"high":9,"settled":[4]}'
    store.commit([], {("q1", "billing"): (2, ledger)}, store.positions(), 2)
    store.park("q1", "billing", ParkedEvent(5, "bad payload", 3, 1_000))
    store.park("q1", "billing", ParkedEvent(7, "crashed", 3, 2_000))
    (restored,) = store.restore().subscribers
    assert restored == SubscriberRecord("q1", "billing", 2, shared, ledger, 2, 1_000)
    assert store.parked_state("q1", "billing", 5) == ({7}, set())
    assert store.redrive("q1", "billing", [5]) == [5]
    assert [p.redriving for p in store.parked_events("q1", "billing")] == [True, False]
    assert store.parked_state("q1", "billing", 9) == (set(), {5})
    with pytest.raises(NotFound, match="offset: 6 is not in the parked list"):
        store.discard_parked("q1", "billing", [6, 7])
    assert store.discard_parked("q1", "billing", None) == [5, 7]
    assert store.parked_events("q1", "billing") == []


def test_deleting_an_exchange_keeps_the_events(store: Storage) -> None:
    orders = store.create_exchange("orders", ("#",), 1, lambda t: True)
    store.save_queue(QueueRecord("q1", orders.id, QueueConfig("orders", 100)), 1)
    commit(store, [event()], [(orders.id,)])
    store.delete_exchange(orders.id)
    restored = store.restore()
    assert restored.exchanges == restored.queues == ()
    assert restored.positions.last_seq == 1
    again = store.create_exchange("orders", ("#",), 1, lambda t: True)
    assert again.id != orders.id and again.head == 1


def test_idempotency_keys_expire_after_the_window(store: Storage) -> None:
    old = event()
    commit(store, [old], [()], now=1_000)
    assert store.purge_ids(older_than=2_000) == 1
    result = commit(store, [old], [()], now=3_000)
    assert not result.outcomes[0].duplicate


def test_a_failed_commit_writes_nothing(store: Storage) -> None:
    orders = store.create_exchange("orders", ("#",), 1, lambda t: True)
    stale = Positions(0, 0, {orders.id: 0})
    commit(store, [event()], [(orders.id,)])
    with pytest.raises(Exception):  # noqa: B017 - the backends raise their own integrity errors
        store.commit([Append([event()], [(orders.id,)])], {}, stale, 5)
    assert store.positions().last_seq == 1


def test_users_and_tokens_are_kept_with_hashes_only(store: Storage) -> None:
    admin = UserRecord("admin", Role.ADMIN, 1)
    store.add_user(admin, TokenRecord("a1", "admin", "hash-a1", 1))
    store.add_user(UserRecord("shop", Role.PUBLISHER, 2), TokenRecord("s1", "shop", "hash-s1", 2))
    store.add_token(TokenRecord("s2", "shop", "hash-s2", 3, expires_at=90))
    with pytest.raises(AlreadyExists):
        store.add_user(UserRecord("shop", Role.CONSUMER, 4), TokenRecord("x", "shop", "h", 4))
    with pytest.raises(NotFound):
        store.add_token(TokenRecord("n1", "nobody", "hash-n1", 5))
    store.revoke_token("s1")
    with pytest.raises(NotFound):
        store.revoke_token("s1")
    restored = store.restore()
    assert [u.name for u in restored.users] == ["admin", "shop"]
    assert [(t.id, t.user, t.hash) for t in restored.tokens] == [
        ("a1", "admin", "hash-a1"),
        ("s2", "shop", "hash-s2"),
    ]
    store.touch_tokens({"s2": 70, "gone": 71})  # a token revoked meanwhile is left out
    assert [(t.id, t.expires_at, t.last_used_at) for t in store.tokens()] == [
        ("a1", 0, 0),
        ("s2", 90, 70),
    ]
    store.remove_user("shop")
    with pytest.raises(NotFound):
        store.remove_user("shop")
    assert [t.id for t in store.tokens()] == ["a1"]


def test_a_subscriber_can_be_deleted(store: Storage) -> None:
    orders = store.create_exchange("orders", ("order.*",), 1, lambda t: True)
    queue = QueueRecord("q1", orders.id, QueueConfig("orders", 10))
    store.save_queue(queue, 1)
    store.save_subscriber(SubscriberRecord("q1", "billing", 3), 1)
    store.delete_subscriber("q1", "billing")
    with pytest.raises(NotFound):
        store.delete_subscriber("q1", "billing")
    assert store.restore().subscribers == ()


def test_the_log_is_read_after_a_seq_in_order_with_a_limit(store: Storage) -> None:
    events = [event(f"t.e{i}") for i in range(5)]
    commit(store, events, [()] * 5)
    reader = store.reader()
    try:
        assert [e.seq for e in reader.read_log(0, 10)] == [1, 2, 3, 4, 5]
        page = reader.read_log(2, 2)
        assert [(e.seq, e.id, e.type, e.headers) for e in page] == [
            (3, events[2].id, "t.e2", (("k", "v"),)),
            (4, events[3].id, "t.e3", (("k", "v"),)),
        ]
        assert reader.read_log(5, 10) == []
    finally:
        reader.close()


@pytest.mark.postgres
def test_a_route_node_routes_the_shared_log_once_and_resumes_from_its_position(
    tmp_path: object,
) -> None:
    from tests.helpers.databases import PG_BASE, postgres_schema

    node = f"n{uuid.uuid4().hex[:10]}"
    with postgres_schema() as url:
        ingest = open_storage(url)
        ingest.migrate()
        commit(ingest, [event("order.a"), event("user.b")], [(), ()])
        route = open_storage(url, route_node=node)
        try:
            assert route.migrate() == [1, 2, 3, 4, 5, 6]
            assert route.restore().positions == Positions(0, 0, {})
            # History: a new exchange indexes only what this node has followed (nothing yet).
            orders = route.create_exchange("orders", ("order.*",), 1, lambda t: t.startswith("o"))
            assert orders.head == 0
            log = ingest.reader().read_log(0, 10)
            first = route.commit([Append(log, [(orders.id,), ()])], {}, route.positions(), 5)
            assert [o.offsets for o in first.outcomes] == [((orders.id, 1),), ()]
            assert route.positions().last_seq == 2
            # Asked again (a follower after a crash): skipped, not routed twice.
            again = route.commit([Append(log, [(orders.id,), ()])], {}, route.positions(), 6)
            assert [o.duplicate for o in again.outcomes] == [True, True]
            assert route.positions() == Positions(2, log[-1].published_at, {orders.id: 1})
            reader = route.reader()
            assert [d.event.id for d in reader.read(orders.id, 1, 10, 10)] == [log[0].id]
            reader.close()
            # The ingest node's store is untouched by the route node's tables.
            assert ingest.restore().exchanges == ()
        finally:
            route.close()
            ingest.close()
            import psycopg

            with psycopg.connect(PG_BASE, autocommit=True) as connection:
                connection.execute(f"DROP SCHEMA IF EXISTS route_{node} CASCADE")


def _schema_of_version_2(url: str) -> tuple[object, str]:
    """A connection to a store that has migrations 1 and 2 only (events with payload and
    headers columns, no wire form), and the placeholder its driver uses."""
    connection, mark = _schema_before(url, WIRE_MIGRATION)
    if mark == "%s":
        connection.execute(  # type: ignore[attr-defined]
            f"CREATE TABLE events_d0 PARTITION OF events FOR VALUES FROM (0) TO ({DAY_US})"
        )
    return connection, mark


def _schema_before(url: str, version: int) -> tuple[object, str]:
    """A connection (autocommit) to a store migrated up to, not including, ``version``, and the
    placeholder its driver uses."""
    dialect = "sqlite" if url.startswith("sqlite") else "postgres"
    early = [(v, sql) for v, sql in _migrations.load(dialect) if v < version]
    if dialect == "sqlite":
        connection = sqlite3.connect(path_from_url(url), isolation_level=None)
        connection.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY)")
        for number, sql in early:
            connection.executescript(sql)
            connection.execute("INSERT INTO schema_migrations VALUES (?)", (number,))
        return connection, "?"
    pg = psycopg.connect(url, autocommit=True)
    pg.execute("CREATE TABLE schema_migrations (version int PRIMARY KEY)")
    for number, sql in early:
        pg.execute(sql.encode())
        pg.execute("INSERT INTO schema_migrations VALUES (%s)", (number,))
    return pg, "%s"


def test_events_stored_before_the_wire_form_are_carried_over_by_the_migration(
    db_url: str,
) -> None:
    connection, mark = _schema_of_version_2(db_url)
    old = [
        (seq, str(uuid.uuid4()), f"order.e{seq}", bytes([seq]) * seq, headers, 1_000 + seq)
        for seq, headers in ((1, ""), (2, '{"b":"2","a":"1"}'), (3, '{"k":"v"}'))
    ]
    sql = (
        "INSERT INTO events (seq, id, type, payload, headers, published_at)"
        f" VALUES ({', '.join([mark] * 6)})"
    )
    for seq, id_, type_, payload, headers, at in old:
        raw: object = uuid.UUID(id_).bytes if mark == "?" else id_
        connection.execute(sql, (seq, raw, type_, payload, headers, at))  # type: ignore[attr-defined]
    connection.close()  # type: ignore[attr-defined]

    store = open_storage(db_url)
    try:
        # SQLite's 5 and 6 are its id indexes; then each store's settlement tables; SQLite's 8
        # keeps events in parts (id bytes, type number, the rest of the wire form); then each
        # store's token expiry, audit trail, grants and quotas, and the retention horizon; then
        # PostgreSQL's leadership tables; then each store's event-type schemas and who
        # published the events
        expected_versions = list(range(3, 15)) if mark == "?" else list(range(3, 13))
        assert store.migrate() == expected_versions
        orders = store.create_exchange("orders", ("order.*",), 1, lambda t: matches("order.*", t))
        reader = store.reader()
        try:
            expected = [
                (seq, id_, type_, payload, tuple(sorted(json.loads(h).items())) if h else (), at)
                for seq, id_, type_, payload, h, at in old
            ]
            log = reader.read_log(0, 10)
            assert [(e.seq, e.id, e.type, e.payload, e.headers, e.published_at) for e in log] == (
                expected
            )
            read = reader.read(orders.id, 1, 3, 10)
            assert [(d.offset, d.event.seq, d.event.payload) for d in read] == [
                (seq, seq, payload) for seq, _, _, payload, _, _ in old
            ]
        finally:
            reader.close()
        # New events go on after the carried-over ones, stored the new way.
        result = commit(store, [event("order.new")], [(orders.id,)], now=2_000)
        assert [o.seq for o in result.outcomes] == [4]
    finally:
        store.close()


def test_sqlite_events_and_ids_of_version_7_are_carried_into_parts(sqlite_url: str) -> None:
    """Migration 8: the events of a store of version 7 (whole wire forms, type and publish time
    columns) and its ids (with publish times, in the three tables) keep working."""
    connection = sqlite3.connect(path_from_url(sqlite_url), isolation_level=None)
    connection.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY)")
    for version, sql in _migrations.load("sqlite"):
        if version < storage.sqlite.upgrade.PARTS_MIGRATION:
            connection.executescript(sql)
            connection.execute("INSERT INTO schema_migrations VALUES (?)", (version,))
    old = [
        StoredEvent(seq, str(uuid.uuid4()), type_, bytes([seq]) * seq, (("k", "v"),), 1_000)
        for seq, type_ in ((1, "order.created"), (2, "order.paid"), (3, "order.created"))
    ]
    tables = ["event_ids_old", "event_ids", "event_ids_recent"]
    for e, table in zip(old, tables, strict=True):
        connection.execute(
            "INSERT INTO events (seq, id, type, published_at, wire) VALUES (?, ?, ?, ?, ?)",
            (e.seq, uuid.UUID(e.id).bytes, e.type, e.published_at, encode_event(e)),
        )
        connection.execute(
            f"INSERT INTO {table} (id, seq, published_at) VALUES (?, ?, ?)",
            (uuid.UUID(e.id).bytes, e.seq, e.published_at),
        )
    connection.close()

    store = open_storage(sqlite_url)
    try:
        assert store.migrate() == [
            storage.sqlite.upgrade.PARTS_MIGRATION,
            9,
            10,
            11,
            12,
            13,
            14,
        ]  # tokens, audit, grants, retention, event-type schemas, event publishers
        assert store.positions() == Positions(3, 1_000, {})
        orders = store.create_exchange("paid", ("order.paid",), 1, lambda t: t == "order.paid")
        reader = store.reader()
        try:
            assert [e.wire for e in reader.read_log(0, 10)] == [encode_event(e) for e in old]
            assert [d.event.id for d in reader.read(orders.id, 1, 1, 10)] == [old[1].id]
            assert reader.published_at(orders.id, 1) == 1_000
        finally:
            reader.close()
        again = [NewEvent(e.id, e.type, e.payload, e.headers) for e in old]
        result = commit(store, [*again, event("order.paid")], [()] * 3 + [(orders.id,)])
        assert [(o.seq, o.duplicate) for o in result.outcomes] == [
            (1, True),
            (2, True),
            (3, True),
            (4, False),
        ]
        # seqs 2 (event_ids), 3 and 4 (event_ids_recent) now; seq 1 (event_ids_old) later
        assert store.purge_ids(2_000) == 3
    finally:
        store.close()


def test_sqlite_a_type_added_by_a_commit_that_rolled_back_is_forgotten(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit rolled back after numbering a new type leaves no trace: the number is handed
    out again, here to another type, and both read back right."""
    store = open_storage(sqlite_url)
    store.migrate()
    orders = store.create_exchange("orders", ("order.*",), 1, lambda t: matches("order.*", t))

    def broken(*args: object) -> object:
        raise sqlite3.OperationalError("disk I/O error")

    with monkeypatch.context() as patched:
        patched.setattr(storage.sqlite.store, "resolve_duplicates", broken)
        with pytest.raises(StorageUnavailable):
            commit(store, [event("order.created")], [(orders.id,)])
    result = commit(store, [event("order.paid"), event("order.created")], [(orders.id,)] * 2)
    assert [o.seq for o in result.outcomes] == [1, 2]
    reader = store.reader()
    try:
        assert [e.type for e in reader.read_log(0, 10)] == ["order.paid", "order.created"]
        assert [d.event.type for d in reader.read(orders.id, 1, 2, 10)] == [
            "order.paid",
            "order.created",
        ]
    finally:
        reader.close()
        store.close()


def test_users_stored_before_grants_keep_what_their_role_let_them_do(db_url: str) -> None:
    """The grants migration gives publishers ``publish #`` and consumers ``consume *``, so an
    upgrade locks nobody out; admins need none. Quotas start unlimited."""
    before = 11 if db_url.startswith("sqlite") else 8
    users = [("shop", "publisher"), ("billing", "consumer"), ("ops", "admin")]
    connection, mark = _schema_before(db_url, before)
    for name, role in users:
        connection.execute(  # type: ignore[attr-defined]
            f"INSERT INTO users VALUES ({mark}, {mark}, 1)", (name, role)
        )
    connection.close()  # type: ignore[attr-defined]
    store = open_storage(db_url)
    try:
        assert before in store.migrate()
        found = {u.name: u for u in store.users()}
        assert found["shop"].grants == (Grant(Access.PUBLISH, "#"),)
        assert found["billing"].grants == (Grant(Access.CONSUME, "*"),)
        assert found["ops"].grants == ()
        assert all(u.quotas == Quotas() for u in found.values())
        changed = attrs.evolve(
            found["shop"],
            grants=(Grant(Access.PUBLISH, "order.#"), Grant(Access.PUBLISH, "order.x", True)),
            quotas=Quotas(events_per_s=5),
        )
        store.save_user(changed)
        assert {u.name: u for u in store.users()}["shop"] == changed
        store.remove_user("shop")  # its grants go with it
        assert "shop" not in {u.name for u in store.users()}
    finally:
        store.close()


def test_type_schemas_keep_every_version_until_deleted(db_url: str) -> None:
    store = open_storage(db_url)
    try:
        store.migrate()
        first = TypeSchema("order.*", 1, '{"type":"object"}', "enforce", "orders", "shop", 5, "ops")
        second = attrs.evolve(first, version=2, mode="warn", created_at=6)
        other = TypeSchema("refund.#", 1, "true", "warn", "", "", 7, "")
        for record in (first, second, other):
            store.add_type_schema(record)
        with pytest.raises(AlreadyExists, match="version"):
            store.add_type_schema(second)
        assert store.type_schemas() == [first, second, other]
        store.delete_type_schemas("order.*")
        assert store.type_schemas() == [other]
        with pytest.raises(NotFound, match="pattern"):
            store.delete_type_schemas("order.*")
    finally:
        store.close()
