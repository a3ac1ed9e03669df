"""The actor runtime's small pieces, on their own."""

from __future__ import annotations

import random

import trio
import trio.lowlevel
import trio.testing

from actors.runtime import Turnstile


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
