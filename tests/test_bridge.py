"""The asyncio thread's crossings: calls keep their order, a feed loses and repeats nothing."""

from __future__ import annotations

import asyncio

import trio

from router.bridge import Feed, open_bridge


async def test_calls_into_trio_run_in_the_order_they_were_posted() -> None:
    seen: list[int] = []
    done = trio.Event()
    async with open_bridge() as bridge:

        async def post_all() -> None:
            for n in range(5_000):
                bridge.in_trio(seen.append, n)
                if n % 97 == 0:
                    await asyncio.sleep(0)  # let some cross alone, others in bursts
            bridge.in_trio(done.set)  # runs after all the calls posted before it

        await bridge.call(post_all)
        with trio.fail_after(10):
            await done.wait()
    assert seen == list(range(5_000))


async def test_a_feed_carries_every_item_once_in_order_then_ends() -> None:
    taken: list[int] = []
    most_waiting = 0
    async with open_bridge() as bridge:
        feed: Feed[int] = Feed(bridge, depth=2)

        async def take() -> None:
            while (item := await feed.get()) is not None:
                taken.append(item)
                if item % 7 == 0:
                    await asyncio.sleep(0.0005)  # a slow taker: the putter waits for room

        with trio.fail_after(30):  # a lost wake-up would hang here
            async with trio.open_nursery() as nursery:
                nursery.start_soon(bridge.call, take)
                for n in range(3_000):
                    await feed.put(n)
                    most_waiting = max(most_waiting, len(feed))
                    if n % 11 == 0:
                        await trio.sleep(0.0005)  # a slow putter: the taker waits for items
                feed.close()
    assert taken == list(range(3_000))
    assert most_waiting <= 2
