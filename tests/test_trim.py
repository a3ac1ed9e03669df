"""Freed memory given back after a call: asks within a period share one trim."""

from __future__ import annotations

import time

from router.grpc.trim import Trimmer


def test_asks_within_a_period_share_one_trim_and_a_later_ask_trims_again() -> None:
    trimmer = Trimmer(every_s=0.2)
    if trimmer._trim is None:  # not glibc: nothing to give back, and nothing is done
        trimmer.soon()
        assert trimmer.trims == 0
        return
    for _ in range(50):
        trimmer.soon()
    deadline = time.monotonic() + 10
    while trimmer.trims < 1 and time.monotonic() < deadline:
        time.sleep(0.01)  # polling the trim thread's count under a deadline
    assert trimmer.trims in (1, 2)  # the first ask's trim, and one for the asks during it
    seen = trimmer.trims
    trimmer.soon()
    while trimmer.trims == seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert trimmer.trims == seen + 1
