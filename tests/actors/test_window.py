"""An exclusive subscriber's window: at most ``prefetch`` deliveries out unsettled with its
consumer, and ack_wait running only for what the window let out.

A QueueActor with a fake state actor (tests.actors.test_settlement); the clock is Trio's
MockClock (autojump), so ack_wait passes at once while the order of things is kept.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio
import trio.testing

from actors.queue import QueueActor
from actors.subscriber import Subscription
from router.core.delivery import PREFETCH, DeliverySettings
from tests.actors.test_settlement import attach, running_queue, take
from tests.helpers.fakes import FakeState, deliveries


@asynccontextmanager
async def exclusive(
    events: int, prefetch: int = 0, **settings: Any
) -> AsyncIterator[tuple[QueueActor, Subscription]]:
    """An exclusive subscriber of ``events`` stored events, its consumer attached from the
    first with its own ``prefetch`` (0: the subscriber's) and the subscriber's ``settings``."""
    async with running_queue(FakeState(log=list(deliveries(1, events)))) as queue:
        subscription = await attach(queue, settings=settings or None, prefetch=prefetch)
        yield queue, subscription


async def nothing_more(subscription: Subscription) -> bool:
    """Whether the subscriber sends nothing more for a (virtual) second."""
    with trio.move_on_after(1):
        await subscription.next_item()
        return False
    return True


async def sent(subscription: Subscription) -> list[tuple[int, int]]:
    """What the subscriber sends until it sends nothing more for a (virtual) second, as
    (offset, delivery count) pairs."""
    got: list[tuple[int, int]] = []
    while True:
        with trio.move_on_after(1):
            got.extend(await take(subscription))
            continue
        return got


async def test_an_exclusive_consumer_never_has_more_than_its_window_out(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with exclusive(40, prefetch=6) as (queue, subscription):
        assert await sent(subscription) == [(o, 1) for o in range(1, 7)]  # in two halves
        assert queue.subscriber_views()[0].unsettled == 6
        await subscription.ack(3)  # a cumulative ack frees half the window
        assert [o for o, _ in await sent(subscription)] == [7, 8, 9]
        await subscription.settle([(4, 5)])  # per offset: what fits goes at once
        assert [o for o, _ in await sent(subscription)] == [10, 11]
        await subscription.settle([(6, 6)])
        assert [o for o, _ in await sent(subscription)] == [12]
        await subscription.nack(7, delay_s=30.0)  # waiting out its delay, it is not out
        await subscription.park(8, "bad")
        await subscription.settle([(9, 9)])
        assert [o for o, _ in await sent(subscription)] == [13, 14, 15]
        assert queue.subscriber_views()[0].unsettled == 7  # 7 waits for its delay; 6 are out


async def test_a_consumer_holding_less_than_its_window_is_sent_more_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """One that settles one of four and waits for more before settling the rest gets the
    next event now, not after ack_wait has sent its three again (the window went out only in
    halves, and one free place was less than half)."""
    async with exclusive(10, prefetch=4, ack_wait_s=30.0) as (queue, subscription):
        assert await sent(subscription) == [(o, 1) for o in range(1, 5)]
        await subscription.settle([(1, 1)])
        with trio.fail_after(5):  # virtual seconds, well inside ack_wait
            assert await take(subscription) == [(5, 1)]
        assert queue.subscriber_views()[0].redelivered == 0


async def test_what_the_window_holds_back_is_not_redelivered_by_ack_wait(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with exclusive(20, prefetch=5, ack_wait_s=10.0) as (queue, subscription):
        got: list[tuple[int, int]] = []
        waiting: list[tuple[int, int]] = []
        most_out = 0
        while len(got) < 20:
            if not waiting:
                waiting = await take(subscription)
            offset, count = waiting.pop(0)
            got.append((offset, count))
            await trio.sleep(1.5)  # virtual time: a slow consumer, 30 s for all, 7.5 s a window
            await subscription.ack(offset)
            most_out = max(most_out, queue.subscriber_views()[0].unsettled)
        assert got == [(o, 1) for o in range(1, 21)]
        assert queue.subscriber_views()[0].redelivered == 0  # none of them went twice
        assert await nothing_more(subscription)
        assert most_out <= 5


async def test_an_expired_window_is_sent_again_before_fresh_events_and_stays_bounded(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with exclusive(20, prefetch=4, ack_wait_s=10.0) as (queue, subscription):
        assert await sent(subscription) == [(o, 1) for o in range(1, 5)]
        await subscription.settle([(2, 2)])
        assert await take(subscription) == [(5, 1)]  # one place free: what fits goes at once
        # Not settled within ack_wait: 1, 3, 4 go again, and nothing fresh beside them.
        sent_at = trio.current_time()
        again: list[tuple[int, int]] = []
        while len(again) < 3:
            again += await take(subscription)
        assert trio.current_time() - sent_at < 10.5
        assert again == [(1, 2), (3, 2), (4, 2)]
        await subscription.ack(5)
        assert await sent(subscription) == [(o, 1) for o in range(6, 10)]
        assert queue.subscriber_views()[0].redelivered == 3


async def test_an_exclusive_subscriber_has_a_default_window(
    autojump_clock: trio.testing.MockClock,
) -> None:
    window = PREFETCH["exclusive"]
    async with exclusive(window + 500) as (queue, subscription):
        assert [o for o, _ in await sent(subscription)] == list(range(1, window + 1))
        assert queue.subscriber_views()[0].unsettled == window


def test_the_default_window_follows_the_mode_and_stored_settings_keep_theirs() -> None:
    assert DeliverySettings().prefetch == PREFETCH["exclusive"]
    shared = DeliverySettings.make(mode="shared")
    assert shared.prefetch == PREFETCH["shared"] == 100
    # A shared subscriber stored before exclusive ones had a window kept 100 by leaving it out.
    assert DeliverySettings.from_json('{"max_consumers": 16, "mode": "shared"}').prefetch == 100
    assert DeliverySettings.from_json(shared.to_json()) == shared
    # A mode change moves a default window to the new mode's, and keeps one set on purpose.
    assert shared.replace(mode="exclusive").prefetch == PREFETCH["exclusive"]
    assert DeliverySettings().replace(mode="shared").prefetch == 100
    assert DeliverySettings(prefetch=50).replace(mode="shared").prefetch == 50
    assert shared.replace(mode="shared").prefetch == 100
    assert shared.replace(prefetch=7).prefetch == 7
