"""Offsets kept as runs: the same answers as a plain set, at the cost of the runs."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from actors.runs import Runs

offsets = st.integers(min_value=1, max_value=60)


@given(st.lists(st.tuples(st.sampled_from(["add", "run", "discard", "upto"]), offsets, offsets)))
def test_runs_answer_as_a_set_of_the_same_offsets_does(steps: list[tuple[str, int, int]]) -> None:
    runs, model = Runs(), set[int]()
    for step, a, b in steps:
        if step == "add":
            runs.add(a)
            model.add(a)
        elif step == "run":
            runs.add_run(a, b)
            model.update(range(a, b + 1))
        elif step == "discard":
            runs.discard(a)
            model.discard(a)
        else:
            runs.discard_upto(a)
            model = {o for o in model if o > a}
        assert len(runs) == len(model) and set(runs) == model and runs == model
        pairs = runs.runs()
        assert all(b1 + 1 < a2 for (_, b1), (a2, _) in itertools.pairwise(pairs))
    for first in range(1, 62, 7):
        for last in range(first, 62, 11):
            inside = {o for o in range(first, last + 1) if o in model}
            assert runs.count(first, last) == len(inside)
            gaps = {o for a, b in runs.gaps(first, last) for o in range(a, b + 1)}
            assert gaps == set(range(first, last + 1)) - inside


def test_a_range_of_a_million_offsets_is_counted_without_a_step_per_offset() -> None:
    runs = Runs.of_runs([(1, 1_000_000), (2_000_000, 3_000_000)])
    assert len(runs) == 2_000_001 and runs.runs() == [(1, 1_000_000), (2_000_000, 3_000_000)]
    assert list(runs.gaps(500_000, 2_500_000)) == [(1_000_001, 1_999_999)]
    runs.discard_upto(2_500_000)
    assert runs.runs() == [(2_500_001, 3_000_000)]
