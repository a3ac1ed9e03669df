"""Judging a settle's ranges by range arithmetic: the same outcome, offset for offset, as the
one-offset-at-a-time check, told once per range and reason."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from actors import settling
from actors.ledger import Ledger


def reference(offset: int, ledger: Ledger, held: set[int]) -> str:
    """The per-offset check the subscriber made before."""
    if offset in held:
        return "settle"
    if offset > ledger.high and offset not in ledger.redriving:
        return settling.NEVER
    if ledger.is_settled(offset):
        return settling.SETTLED
    return settling.NOT_HELD


@st.composite
def ledgers(draw: st.DrawFn) -> tuple[Ledger, set[int]]:
    floor = draw(st.integers(0, 20))
    ledger = Ledger(floor, floor)
    ledger.deliver_fresh(floor + draw(st.integers(0, 40)))
    for offset in draw(st.sets(st.integers(floor + 1, ledger.high + 1))):
        if ledger.is_open(offset):
            ledger.settle(offset)
    ledger.redriving |= draw(st.sets(st.integers(1, 70), max_size=4))
    open_ = [o for o in range(1, 80) if ledger.is_open(o)]
    held = set(draw(st.lists(st.sampled_from(open_), unique=True))) if open_ else set()
    return ledger, held


@given(ledgers(), st.integers(1, 75), st.integers(0, 30))
def test_each_offset_gets_what_the_per_offset_check_gave_it(
    found: tuple[Ledger, set[int]], first: int, span: int
) -> None:
    ledger, held = found
    last = first + span
    verdict = settling.judge(first, last, 0, ledger, settling.held_of(held))
    assert verdict.settle == sorted(o for o in range(first, last + 1) if o in held)
    expected: dict[str, list[int]] = {}
    for offset in range(first, last + 1):
        code = reference(offset, ledger, held)
        if code != "settle":
            expected.setdefault(code, []).append(offset)
    told = {r.code: (r.first, r.last, r.count) for r in verdict.refusals}
    assert told == {code: (got[0], got[-1], len(got)) for code, got in expected.items()}
    assert len(verdict.refusals) <= 3


def test_an_exclusive_consumer_settles_its_open_offsets_but_those_waiting_to_go_again() -> None:
    ledger = Ledger(0, 0)
    ledger.deliver_fresh(10)
    ledger.settle(4)
    verdict = settling.judge(1, 10, 0, ledger, settling.held_but({7}))
    assert verdict.settle == [1, 2, 3, 5, 6, 8, 9, 10]
    assert [(r.code, r.first, r.text) for r in verdict.refusals] == [
        ("already_settled", 4, "ack.offset: 4 is settled"),
        (
            "not_held",
            7,
            "ack.offset: 7 is not held by this consumer"
            " (given to another, or waiting to be delivered again)",
        ),
    ]


def test_fifty_ranges_of_a_hundred_thousand_offsets_are_told_in_a_few_refusals() -> None:
    ledger = Ledger(0, 0)
    ledger.deliver_fresh(1_000)
    ledger.settle_run(1, 500)
    ranges = [(1 + 100_000 * i, 100_000 * (i + 1)) for i in range(50)] * 2
    joined, refused = settling.merged(ranges)
    assert refused == [] and joined == [(1, 5_000_000, 0)]
    verdict = settling.judge(1, 5_000_000, 0, ledger, settling.held_of({600, 601}))
    assert verdict.settle == [600, 601]
    assert [(r.code, r.first, r.last, r.count) for r in verdict.refusals] == [
        ("already_settled", 1, 500, 500),
        ("not_held", 501, 1_000, 498),
        ("never_delivered", 1_001, 5_000_000, 4_999_000),
    ]
    assert verdict.refusals[2].text == (
        "ack.offset: 4999000 offsets of 1001..5000000 were never delivered (last delivered 1000)"
    )


def test_invalid_ranges_are_refused_each_and_too_many_ranges_all_at_once() -> None:
    joined, refused = settling.merged([(3, 2), (0, 1), (1, 100_000), (5, 5)])
    assert joined == [(1, 100_000, 2)]
    assert [(r.index, r.code) for r in refused] == [(0, "invalid"), (1, "invalid")]
    assert refused[0].text.startswith("settle.acks[0]: 3..2 is not a range")
    joined, refused = settling.merged([(1, 1)] * (settling.MAX_RANGES + 1))
    assert joined == [] and len(refused) == 1
    assert refused[0].text == "settle.acks: 10001 ranges; at most 10000 in one message"


def test_a_pull_consumers_settle_is_judged_by_ranges_and_refused_whole_on_a_bad_part() -> None:
    from actors.messages import SettleSleeping
    from router.core.delivery import DeliverySettings
    from router.core.errors import FailedPrecondition, InvalidArgument, OutOfRange

    def plan(acks: list[tuple[int, int]]) -> settling.Settlement:
        ledger = Ledger(0, 0)
        ledger.deliver_fresh(150_000)
        ledger.settle_run(10, 19)
        found = settling.Settlement(ledger, 200_000, DeliverySettings())
        found.check(SettleSleeping("billing", tuple(acks), (), (), None))  # type: ignore[arg-type]
        return found

    assert plan([(1, 9), (20, 99_990)]).acks == [*range(1, 10), *range(20, 99_991)]
    cases: list[tuple[list[tuple[int, int]], type[Exception], str]] = [
        ([(1, 100_000), (100_000, 1)], InvalidArgument, "ack[1]: 100000..1 is not a range"),
        ([(20, 50_000), (49_000, 49_001)], InvalidArgument, "offset 49000 is named twice"),
        ([(5, 12)], FailedPrecondition, "ack[0]: 10 is settled"),
        ([(149_990, 150_010)], FailedPrecondition, "ack[0]: 150001 was never delivered"),
        ([(199_999, 200_001)], OutOfRange, "ack[0]: 200001 is outside 1..200000"),
        ([(1, 60_000), (60_001, 120_000)], InvalidArgument, "more than 100000 offsets"),
    ]
    for acks, error, words in cases:
        try:
            plan(acks)
        except error as refused:
            assert words in str(refused), (acks, str(refused))
        else:
            raise AssertionError(f"{acks} was taken")
