"""The pattern algebra behind the routing rule (router.reach), against a reference that tries
every type of a few words: ``within`` and ``overlaps`` say what enumeration finds, and a pattern
a user may route carries only types it may publish."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router import permissions
from router.errors import PermissionDenied
from router.model import Access, Delivery, Grant, Role, StoredEvent, UserRecord
from router.reach import (
    MAX_WORK,
    Budget,
    overlaps,
    permit_patterns,
    routable,
    withheld,
    within,
)
from router.wire import encode_event

WORDS = ["a", "b"]
PARTS = ["a", "b", "*", "#"]
# Every type of up to 6 words over a, b and a word no pattern names: a counterexample to
# "within" or a witness of "overlaps" between patterns of up to 4 parts is never longer.
TYPES = [
    ".".join(words)
    for length in range(1, 7)
    for words in itertools.product([*WORDS, "c"], repeat=length)
]
patterns = st.lists(st.sampled_from(PARTS), min_size=1, max_size=4).map(".".join)


def matches(pattern: str, event_type: str) -> bool:
    """AMQP topic matching by a table, independent of the router's matcher."""
    p, t = pattern.split("."), event_type.split(".")
    can = [[False] * (len(t) + 1) for _ in range(len(p) + 1)]
    can[0][0] = True
    for i in range(1, len(p) + 1):
        for j in range(len(t) + 1):
            if p[i - 1] == "#":
                can[i][j] = can[i - 1][j] or (j > 0 and can[i][j - 1])
            elif j > 0:
                can[i][j] = can[i - 1][j - 1] and p[i - 1] in ("*", t[j - 1])
    return can[len(p)][len(t)]


@settings(max_examples=400, deadline=None)
@given(patterns, patterns)
def test_within_and_overlaps_say_what_every_type_says(inner: str, outer: str) -> None:
    matched = [t for t in TYPES if matches(inner, t)]
    assert within(inner, outer) == all(matches(outer, t) for t in matched), (inner, outer)
    assert overlaps(inner, outer) == any(matches(outer, t) for t in matched), (inner, outer)


def test_some_cases_read_as_they_should() -> None:
    assert within("order.created", "order.#")
    assert within("order.*.paid", "order.#")
    assert within("#.x", "#")
    assert within("*.#", "#.*")  # both: one word or more
    assert not within("#", "order.#")
    assert not within("order.#", "order.*")
    assert overlaps("order.#", "#.paid")
    assert not overlaps("order.#", "payment.#")


def test_patterns_of_many_hashes_are_answered_within_a_bounded_work() -> None:
    long = ".".join(["#"] * 120 + ["x"])
    budget = Budget()
    assert within(long, "#", budget)
    assert not within("#", long, budget)
    assert overlaps(long, ".".join(["#", "y", "#", "x"]), budget)
    assert budget.left > MAX_WORK // 2  # answered, not cut short


def test_a_question_past_the_budget_is_refused_saying_so() -> None:
    """Patterns made to blow up the automata stop at MAX_WORK and are refused, never let
    through (a grant of publish '#.a.b.#.a.b...' against an exchange pattern '*.*.*...')."""
    grant = Grant(Access.PUBLISH, ".".join(["#", "a", "b"] * 40))
    user = UserRecord("team", Role.CONSUMER, 0, (grant,))
    budget = Budget()
    assert not routable(user, ".".join(["*"] * 120), budget)
    assert budget.left < 0
    with pytest.raises(PermissionDenied, match="takes too long"):
        permit_patterns(user, [".".join(["*"] * 120)])
    permit_patterns(user, [".".join(["a", "b"] * 40)])  # a plain type of it still passes


grants = st.lists(
    st.builds(Grant, st.just(Access.PUBLISH), patterns, st.booleans()), min_size=0, max_size=4
)


@settings(max_examples=300, deadline=None)
@given(grants, patterns)
def test_a_routable_pattern_carries_only_types_its_user_may_publish(
    held: list[Grant], pattern: str
) -> None:
    user = UserRecord("team", Role.CONSUMER, 0, tuple(held))
    if routable(user, pattern):
        for event_type in TYPES:
            if matches(pattern, event_type):
                assert permissions.permitted(user, user.grants, Access.PUBLISH, event_type)


def test_withheld_keeps_the_metadata_and_drops_the_payload_and_headers() -> None:
    event = StoredEvent(7, "id-1", "payment.captured", b'{"card": 1}', (("k", "v"),), 5)
    encode_event(event)  # the wire form, with the payload, is kept on the event
    hidden = withheld(Delivery(3, event))
    assert (hidden.offset, hidden.event.id, hidden.event.type, hidden.event.seq) == (
        3,
        "id-1",
        "payment.captured",
        7,
    )
    assert hidden.event.payload == b"" and hidden.event.headers == ()
    assert b"card" not in encode_event(hidden.event)
    assert event.payload == b'{"card": 1}'  # the original is untouched
