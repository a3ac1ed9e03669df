"""The pattern algebra behind the routing rule (router.control.reach), against a reference that tries
every type of a few words: ``within`` says what enumeration finds, and a pattern a user may
route carries only types it could read already through the other exchanges it may consume."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.control.reach import (
    MAX_WORK,
    Budget,
    permit_patterns,
    reach,
    routable,
    withheld,
    within,
)
from router.core.errors import AlreadyExists, PermissionDenied
from router.core.model import Access, Delivery, Grant, Role, StoredEvent, UserRecord
from router.core.patterns import closure
from router.core.wire import encode_event
from tests.helpers.topics import type_matches as matches

WORDS = ["a", "b"]
PARTS = ["a", "b", "*", "#"]
# Every type of up to 6 words over a, b and a word no pattern names: a counterexample to
# "within" between patterns of up to 4 parts is never longer.
TYPES = [
    ".".join(words)
    for length in range(1, 7)
    for words in itertools.product([*WORDS, "c"], repeat=length)
]
patterns = st.lists(st.sampled_from(PARTS), min_size=1, max_size=4).map(".".join)


@settings(max_examples=400, deadline=None)
@given(patterns, patterns)
def test_within_says_what_every_type_says(inner: str, outer: str) -> None:
    matched = [t for t in TYPES if matches(inner, t)]
    assert within(inner, outer) == all(matches(outer, t) for t in matched), (inner, outer)


def test_some_cases_read_as_they_should() -> None:
    assert within("order.created", "order.#")
    assert within("order.*.paid", "order.#")
    assert within("#.x", "#")
    assert within("*.#", "#.*")  # both: one word or more
    assert not within("#", "order.#")
    assert not within("order.#", "order.*")


def test_patterns_of_many_hashes_are_answered_within_a_bounded_work() -> None:
    long = ".".join(["#"] * 120 + ["x"])
    budget = Budget()
    assert within(long, "#", budget)
    assert not within("#", long, budget)
    assert not within(long, ".".join(["#", "y", "#", "x"]), budget)
    assert budget.left > MAX_WORK // 2  # answered, not cut short


def test_a_question_past_the_budget_is_refused_saying_so() -> None:
    """Patterns made to cost the walk most stop at MAX_WORK and are refused, never let through:
    64 patterns '#.w0...w29.*' (32 words, each within the exchange's '#.w0...w29.#', each
    some 8,000 steps)."""
    words = [f"w{i}" for i in range(30)]
    outer, costly = ".".join(["#", *words, "#"]), ".".join(["#", *words, "*"])
    user = UserRecord("team", Role.CONSUMER, 0, (Grant(Access.CONSUME, "team.*"),))
    exchanges = [("team.0", (outer,))]
    permit_patterns(user, [costly] * 20, "team.new", exchanges)  # within the budget
    with pytest.raises(PermissionDenied, match="takes too long"):
        permit_patterns(user, [costly] * 64, "team.new", exchanges)
    plain = ".".join(["x"] + [f"w{i}" for i in range(30)] + ["y"])
    permit_patterns(user, [plain] * 64, "team.new", exchanges)  # plain types are cheap


def test_a_user_routes_only_within_the_other_exchanges_it_may_consume() -> None:
    user = UserRecord(
        "team-a",
        Role.PUBLISHER,
        0,
        (
            Grant(Access.PUBLISH, "#"),
            Grant(Access.CONSUME, "team-a.*"),
            Grant(Access.CONSUME, "team-a.secret", deny=True),
        ),
    )
    exchanges = [
        ("payx", ("payment.#",)),
        ("team-a.orders", ("order.#", "order.*")),
        ("team-a.secret", ("secret.#",)),
    ]
    assert reach(user, exchanges) == ["order.#", "order.*"]
    assert reach(user, exchanges, besides="team-a.orders") == []
    permit_patterns(user, ["order.created", "order.*.paid"], "team-a.new", exchanges)
    for wide in ("#", "payment.#", "secret.x", "*.created"):
        with pytest.raises(PermissionDenied, match="patterns\\[0\\].*order\\.#, order\\.\\*"):
            permit_patterns(user, [wide], "team-a.new", exchanges)
    with pytest.raises(AlreadyExists):  # whatever the patterns
        permit_patterns(user, ["order.#"], "team-a.orders", exchanges)
    with pytest.raises(PermissionDenied, match="consume \\(none\\)"):
        permit_patterns(user, ["order.#"], "team-a.new", exchanges[:1])  # payx: not its own
    admin = UserRecord("root", Role.ADMIN, 0, ())
    permit_patterns(admin, ["#"], "anything", [])
    permit_patterns(None, ["#"], "anything", [])  # auth off


held_patterns = st.lists(patterns, min_size=0, max_size=4)


@settings(max_examples=300, deadline=None)
@given(held_patterns, patterns)
def test_a_routable_pattern_carries_only_types_already_reached(
    reached: list[str], pattern: str
) -> None:
    if routable(pattern, reached):
        for event_type in TYPES:
            if matches(pattern, event_type):
                assert any(matches(r, event_type) for r in reached), (pattern, reached)


def test_one_closure_serves_matching_and_inclusion() -> None:
    assert closure(("#", "#", "a", "#"), {0}) == {0, 1, 2}
    assert closure(("a", "#"), {1}) == {1, 2}


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
