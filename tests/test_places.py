"""Count quotas' places (router.control.quotas.Places): checked and taken in one step, given back."""

from __future__ import annotations

from router.control.quotas import Places


def test_places_are_taken_up_to_the_quota_and_given_back() -> None:
    places = Places()
    first, second, third = object(), object(), object()
    assert places.take("ann", 2, first) and places.take("ann", 2, second)
    assert not places.take("ann", 2, third)
    assert places.held("ann") == 2
    assert places.take("bob", 2, third)  # each user its own
    places.give_back("ann", first)
    assert places.take("ann", 2, third)
    places.give_back("ann", second)
    places.give_back("ann", third)
    assert places.held("ann") == 0


def test_what_is_held_elsewhere_counts_and_a_held_key_costs_nothing() -> None:
    places = Places()
    held = frozenset({("orders", "a"), ("orders", "b")})
    assert places.take("ann", 3, ("orders", "a"), held)  # one it holds: no new place
    assert places.take("ann", 3, ("orders", "c"), held)
    assert not places.take("ann", 3, ("orders", "d"), held)
    assert places.take("ann", 0, ("orders", "d"), held)  # 0: no limit
