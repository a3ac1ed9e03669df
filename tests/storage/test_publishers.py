"""Event ids are each publisher's own: a scoped append that re-uses an id another user published
is refused whole, with nothing stored, on both stores; the same user re-publishing is acked as
a duplicate as before, and so is anyone re-publishing an id whose publisher is not known."""

from __future__ import annotations

import uuid

from router.core.model import NewEvent
from router.core.patterns import matches
from storage import Storage
from storage.base import Append
from storage.postgres import FEW_EVENTS


def event(event_id: str | None = None) -> NewEvent:
    return NewEvent(event_id or str(uuid.uuid4()), "order.created", b"{}")


def commit(store: Storage, *appends: Append) -> list[tuple[int, bool, bool]]:
    result = store.commit(list(appends), {}, store.positions(), 1_000)
    return [(o.seq, o.duplicate, o.refused) for o in result.outcomes]


def by(user: str, events: list[NewEvent], route: tuple[int, ...], scoped: bool = True) -> Append:
    return Append(events, [route] * len(events), user, scoped)


def test_another_users_id_refuses_the_whole_append_and_stores_nothing(store: Storage) -> None:
    orders = store.create_exchange("orders", ("order.*",), 1, lambda t: matches("order.*", t))
    route = (orders.id,)
    taken = event()
    assert commit(store, by("orders-team", [taken], route)) == [(1, False, False)]
    fresh = event()
    assert commit(store, by("payments-team", [fresh, event(taken.id)], route)) == [
        (0, False, True),
        (0, True, True),  # the event whose id it was
    ]
    assert store.positions().last_seq == 1 and store.positions().heads == {orders.id: 1}
    # The same user again: a duplicate, acked with its seq, as before.
    again = store.commit([by("orders-team", [event(taken.id)], route)], {}, store.positions(), 1)
    assert [(o.seq, o.duplicate, o.offsets) for o in again.outcomes] == [
        (1, True, ((orders.id, 1),))
    ]
    # An admin's (unscoped) re-publish is a duplicate too; the refused user's own new id is
    # stored.
    assert commit(store, by("admin", [event(taken.id)], route, scoped=False)) == [(1, True, False)]
    assert commit(store, by("payments-team", [fresh], route)) == [(2, False, False)]


def test_a_clash_inside_one_commit_refuses_the_later_append_only(store: Storage) -> None:
    shared = event()
    outcomes = commit(
        store,
        by("a", [shared, event()], ()),
        by("b", [event(), event(shared.id)], ()),
        by("a", [event(shared.id)], ()),
    )
    assert outcomes == [
        (1, False, False),
        (2, False, False),
        (0, False, True),
        (0, True, True),
        (1, True, False),
    ]
    assert store.positions().last_seq == 2


def test_an_id_whose_publisher_is_unknown_is_a_duplicate_for_anyone(store: Storage) -> None:
    bridged = event()
    assert commit(store, by("", [bridged], (), scoped=False)) == [(1, False, False)]
    assert commit(store, by("b", [event(bridged.id)], ())) == [(1, True, False)]


def test_publishers_are_forgotten_with_the_ids(store: Storage) -> None:
    taken = event()
    commit(store, by("a", [taken], ()))
    store.purge_ids(10_000)  # every id published before: forgotten, and who published it
    assert commit(store, by("b", [event(taken.id)], ())) == [(2, False, False)]


def test_a_large_commit_refuses_a_clash_as_a_small_one_does(store: Storage) -> None:
    taken = event()
    commit(store, by("a", [taken], ()))
    many = [event() for _ in range(FEW_EVENTS)] + [event(taken.id)]
    outcomes = commit(store, by("b", many, ()), by("a", [event() for _ in range(3)], ()))
    assert [refused for _, _, refused in outcomes] == [True] * len(many) + [False] * 3
    assert store.positions().last_seq == 4
    assert commit(store, by("a", [event(taken.id)], ())) == [(1, True, False)]
