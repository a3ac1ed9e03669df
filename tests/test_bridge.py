"""The asyncio thread's crossings: calls keep their order, a feed loses and repeats nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import trio

from router.bridge import Feed, open_bridge
from router.core.errors import DeadlineExceeded, InvalidArgument, RouterError


async def test_calls_into_trio_run_in_the_order_they_were_posted() -> None:
    seen: list[int] = []
    done = trio.Event()
    async with open_bridge() as bridge:

        async def post_all() -> None:
            for n in range(5_000):
                bridge.in_trio(seen.append, n)
                if n % 97 == 0:
                    # A yield, not a wait: the loop runs its other work, so that some calls
                    # cross in bursts sharing a wake-up and others alone.
                    await asyncio.sleep(0)
            bridge.in_trio(done.set)  # runs after all the calls posted before it

        await bridge.call(post_all)
        with trio.fail_after(10):
            await done.wait()
    assert seen == list(range(5_000))


async def test_a_feed_carries_every_item_once_in_order_then_ends() -> None:
    """Both sides run on their own threads; each pauses now and then so that the other one
    meets a full feed (the putter waits for room) and an empty one (the taker waits for an
    item). The pauses shape the schedule, they wait for nothing; the test checks that both
    waits happened, then that every item came through once, in order."""
    taken: list[int] = []
    most_waiting = 0
    found_empty = 0
    async with open_bridge() as bridge:
        feed: Feed[int] = Feed(bridge, depth=2)

        async def take() -> None:
            nonlocal found_empty
            while True:
                empty = len(feed) == 0
                if (item := await feed.get()) is None:
                    return
                found_empty += empty and item > 0  # the first get may come before any put
                taken.append(item)
                if item % 7 == 0:
                    await asyncio.sleep(0.0005)  # a pause: the putter fills the feed meanwhile

        with trio.fail_after(30):  # a lost wake-up would hang here
            async with trio.open_nursery() as nursery:
                nursery.start_soon(bridge.call, take)
                for n in range(3_000):
                    await feed.put(n)
                    most_waiting = max(most_waiting, len(feed))
                    if n % 11 == 0:
                        await trio.sleep(0.0005)  # a pause: the taker empties the feed meanwhile
                feed.close()
    assert taken == list(range(3_000))
    assert most_waiting == 2  # full: the put after it waited for room, and never went past
    assert found_empty > 0  # the taker waited for items between them


async def test_a_call_answered_from_a_trio_callback_returns_fails_or_expires() -> None:
    """``to_trio_soon``: the work starts in a plain Trio callback and tells its answer later;
    no Trio task waits for it. An answer never told ends as DeadlineExceeded."""
    waiting: list[Callable[[Any, bool], None]] = []

    def start(told: Callable[[Any, bool], None], value: int) -> None:
        if value < 0:
            raise InvalidArgument(f"value: {value} is negative")
        if value == 0:
            waiting.append(told)  # told nothing: the call expires
        else:
            told(value * 2, False)

    async with open_bridge() as bridge:
        crossing = bridge.to_trio_soon(start, timeout=0.2)

        async def calls() -> list[object]:
            answers: list[object] = [await crossing(21)]
            for value in (-1, 0):
                try:
                    await crossing(value)
                except RouterError as error:
                    answers.append(error)
            return answers

        doubled, refused, expired = await bridge.call(calls)
    assert doubled == 42
    assert isinstance(refused, InvalidArgument) and "value: -1" in str(refused)
    assert isinstance(expired, DeadlineExceeded)
    assert len(waiting) == 1  # it did start; its late answer (if ever) goes nowhere
