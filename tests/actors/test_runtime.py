"""The actor runtime's small pieces, on their own."""

from __future__ import annotations

import random
import threading

import pytest
import trio
import trio.lowlevel
import trio.testing

from actors.runtime import OwnThread, Turnstile


async def test_a_turnstile_lets_turns_through_in_order_whatever_order_they_start_in() -> None:
    turnstile = Turnstile()
    passed: list[int] = []
    turns = list(range(300))
    random.Random(7).shuffle(turns)

    async def one(turn: int) -> None:
        await turnstile.wait_for(turn)
        passed.append(turn)
        await trio.lowlevel.checkpoint()  # let others run between a turn and its advance
        turnstile.advance_past(turn)

    async with trio.open_nursery() as nursery:
        for turn in turns:
            nursery.start_soon(one, turn)
    assert passed == list(range(300))


async def test_a_turn_that_gives_up_early_does_not_block_the_ones_after_it() -> None:
    turnstile = Turnstile()
    passed: list[int] = []

    async def one(turn: int) -> None:
        await turnstile.wait_for(turn)
        passed.append(turn)
        turnstile.advance_past(turn)

    async with trio.open_nursery() as nursery:
        for turn in (2, 3, 4):
            nursery.start_soon(one, turn)
        await trio.testing.wait_all_tasks_blocked()
        turnstile.advance_past(1)  # turn 1 was cancelled before turn 0 went: 0 and 1 are skipped
    assert passed == [2, 3, 4]


async def test_the_own_thread_runs_calls_in_order_and_a_cancelled_caller_waits_for_its_call() -> (
    None
):
    worker = OwnThread("test writer")
    began, release = threading.Event(), threading.Event()
    seen: list[str] = []

    def slow() -> str:
        began.set()
        release.wait(30)
        seen.append("slow ended")
        return "slow"

    def failing() -> None:
        raise ValueError("store: disk full")

    try:
        assert [await worker.run(lambda n=n: n * n) for n in range(5)] == [0, 1, 4, 9, 16]
        with pytest.raises(ValueError, match="disk full"):
            await worker.run(failing)
        scope = trio.CancelScope()

        async def cancel_once_running() -> None:
            await trio.to_thread.run_sync(began.wait)
            scope.cancel()  # the caller is cancelled while its call runs...
            await trio.testing.wait_all_tasks_blocked()
            seen.append("cancelled")
            release.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(cancel_once_running)
            with scope:
                seen.append(await worker.run(slow))
        # ...and waits for it to end, then has its value (the cancellation comes at its next
        # checkpoint, past the scope here)
        assert seen == ["cancelled", "slow ended", "slow"]
    finally:
        worker.close()
