"""Removing the oldest events, on SQLite and PostgreSQL alike (storage.retention)."""

from __future__ import annotations

import uuid

import pytest

from router.core.delivery import ParkedEvent
from router.core.model import NewEvent, QueueConfig, QueueRecord, SubscriberRecord
from router.core.patterns import matches
from storage import Storage, open_storage
from storage.base import Append
from storage.postgres import DAY_US
from storage.retention import Horizon
from tests.helpers.databases import database_url


def event(type_: str = "order.created") -> NewEvent:
    return NewEvent(str(uuid.uuid4()), type_, b"{}", ())


def publish(store: Storage, routes: list[tuple[int, ...]], now: int) -> list[NewEvent]:
    events = [event() for _ in routes]
    store.commit([Append(events, routes)], {}, store.positions(), now)
    return events


def exchange(store: Storage, name: str, pattern: str = "order.*") -> int:
    return store.create_exchange(name, (pattern,), 1, lambda t: matches(pattern, t)).id


def test_a_step_removes_the_oldest_events_with_their_exchange_rows(store: Storage) -> None:
    orders, odd = exchange(store, "orders"), exchange(store, "odd")
    # seq 1..10; orders takes every one, odd takes the even seqs (its offsets 1..5)
    for seq in range(1, 11):
        publish(store, [(orders, odd) if seq % 2 == 0 else (orders,)], now=seq * 100)
    trimmed = store.trim(before_seq=5, most=1_000)
    assert trimmed.events == 4
    assert trimmed.horizon == Horizon(5, 400, {orders: 5, odd: 3})
    assert store.horizon() == trimmed.horizon
    reader = store.reader()
    assert [d.offset for d in reader.read(orders, 1, 20, 100)] == [5, 6, 7, 8, 9, 10]
    assert [d.event.seq for d in reader.read(odd, 1, 20, 100)] == [6, 8, 10]
    assert [e.seq for e in reader.read_log(0, 100)] == [5, 6, 7, 8, 9, 10]
    reader.close()
    restored = store.restore()
    assert restored.horizon == trimmed.horizon
    assert restored.positions.heads == {orders: 10, odd: 5}


def test_a_step_removes_at_most_its_share_and_never_moves_back(store: Storage) -> None:
    orders = exchange(store, "orders")
    publish(store, [(orders,)] * 10, now=100)
    assert store.trim(before_seq=100, most=3).horizon.first_seq == 4
    assert store.trim(before_seq=2, most=3).events == 0  # behind the horizon: nothing
    assert store.horizon().first_seq == 4
    assert store.trim(before_seq=100, most=100).events == 7  # never past the last event
    assert store.horizon().first_seq == 11


def test_positions_go_on_after_every_event_is_removed(store: Storage) -> None:
    orders = exchange(store, "orders")
    publish(store, [(orders,)] * 5, now=100)
    store.trim(before_seq=6, most=100)
    positions = store.positions()
    assert (positions.last_seq, positions.heads) == (5, {orders: 5})
    result = store.commit([Append([event()], [(orders,)])], {}, positions, 200)
    assert result.outcomes[0].seq == 6
    assert result.outcomes[0].offsets == ((orders, 6),)
    assert store.restore().positions.heads == {orders: 6}


def test_a_republished_id_of_a_removed_event_is_a_duplicate_without_offsets(
    store: Storage,
) -> None:
    orders = exchange(store, "orders")
    first = publish(store, [(orders,)] * 4, now=100)
    store.trim(before_seq=3, most=100)
    store.restore()
    kept = store.commit(
        [Append([first[0], first[3]], [(orders,), (orders,)])], {}, store.positions(), 200
    )
    assert [(o.seq, o.duplicate, o.offsets) for o in kept.outcomes] == [
        (1, True, ()),
        (4, True, ((orders, 4),)),
    ]


def test_parked_references_to_removed_events_are_dropped(store: Storage) -> None:
    orders = exchange(store, "orders")
    publish(store, [(orders,)] * 6, now=100)
    queue = QueueRecord("q1", orders, QueueConfig("orders", 100))
    store.save_queue(queue, 1)
    store.save_subscriber(SubscriberRecord("q1", "billing", 0), 1)
    for offset in (2, 5):
        store.park("q1", "billing", ParkedEvent(offset, "bad", 3, 10))
    trimmed = store.trim(before_seq=4, most=100)
    assert trimmed.parked == 1
    assert [p.offset for p in store.parked_events("q1", "billing", 0, 100)] == [5]


def test_time_finds_the_first_kept_seq(store: Storage) -> None:
    orders = exchange(store, "orders")
    for at in (100, 200, 300, 400):
        publish(store, [(orders,)], now=at)
    assert store.first_seq_at(250) == 3
    store.trim(before_seq=3, most=100)
    assert store.first_seq_at(0) == 3
    assert store.first_seq_at(401) == 5
    reader = store.reader()
    assert reader.first_offset_at(orders, 4, 0, low=3) == 3
    reader.close()


def test_subscribers_holding_the_log_are_listed_with_their_first_unacked_seq(
    store: Storage,
) -> None:
    orders, users = exchange(store, "orders"), exchange(store, "users", "user.*")
    publish(store, [(orders,)] * 5, now=100)
    store.save_queue(QueueRecord("q1", orders, QueueConfig("orders", 100)), 1)
    store.save_queue(QueueRecord("q2", users, QueueConfig("users", 100)), 1)
    store.save_subscriber(SubscriberRecord("q1", "slow", 2), 1)
    store.save_subscriber(SubscriberRecord("q1", "done", 5), 1)
    store.save_subscriber(SubscriberRecord("q2", "idle", 0), 1)
    assert [(h.name, h.seq) for h in store.held_by_subscribers()] == [("slow", 3)]


def test_the_log_takes_fewer_bytes_after_a_removal(store: Storage) -> None:
    orders = exchange(store, "orders")
    for _ in range(20):
        big = [NewEvent(str(uuid.uuid4()), "order.created", b"x" * 2_000, ()) for _ in range(50)]
        store.commit([Append(big, [(orders,)] * 50)], {}, store.positions(), 100)
    before = store.log_bytes()
    store.trim(before_seq=1_000, most=10_000)
    if store.url.startswith("sqlite"):
        assert store.log_bytes() < before / 2
    else:  # a DELETE leaves PostgreSQL's pages for reuse: measured, never negative
        assert 0 < store.log_bytes() <= before


@pytest.mark.postgres
def test_postgresql_drops_a_day_that_holds_no_kept_event(tmp_path: object) -> None:
    with database_url("postgres", str(tmp_path)) as url:
        store = open_storage(url)
        store.migrate()
        _drop_a_day(store)
        store.close()


def _drop_a_day(store: Storage) -> None:
    orders = exchange(store, "orders")
    publish(store, [(orders,)] * 3, now=DAY_US + 5)  # day 1
    publish(store, [(orders,)] * 3, now=3 * DAY_US + 5)  # day 3
    days = _days(store)
    assert {"events_d1", "events_d3"} <= days
    store.trim(before_seq=4, most=100)
    assert "events_d1" not in _days(store)
    assert "events_d3" in _days(store)
    assert [e.seq for e in store.reader().read_log(0, 10)] == [4, 5, 6]


def _days(store: Storage) -> set[str]:
    with store._control() as run:  # type: ignore[attr-defined]
        return {
            str(name)
            for (name,) in run(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = 'events'::regclass",
                (),
            )
        }
