"""The storage contract, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
import sqlite3
import uuid

import attrs
import psycopg
import pytest

from router.core.delivery import DeliverySettings, ParkedEvent
from router.core.errors import AlreadyExists, NotFound
from router.core.model import (
    Access,
    Grant,
    NewEvent,
    QueueConfig,
    QueueRecord,
    Quotas,
    Role,
    SubscriberRecord,
    TokenRecord,
    TypeSchema,
    UserRecord,
)
from router.core.patterns import matches
from storage import Storage, _migrations, open_storage
from storage._migrations import WIRE_MIGRATION
from storage.base import Append, Positions
from storage.postgres import DAY_US
from storage.sqlite import path_from_url
from tests.storage.helpers import commit, event, every_and_some


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
    events = [event(payload=bytes([n]) * 30) for n in range(30)]
    every, some = every_and_some(store, events, lambda n: n % 3 != 0)
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
    shared = DeliverySettings.make(mode="shared", prefetch=7, max_deliveries=3)
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
