"""Settlement on one subscriber: per-offset acks, nacks, parking, ack_wait, sharing, re-drive.

A QueueActor with a fake state actor; the clock is Trio's MockClock (autojump), so delays and
ack_wait pass at once while their order is kept.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

from actors.messages import Attach, ChangeParked, ChangeSettings, Committed, Rejected
from actors.queue import QueueActor, SubscriberView
from actors.runtime import ask
from actors.subscriber import Subscription
from router.core.delivery import DeliverySettings
from router.core.errors import FailedPrecondition, InvalidArgument, ResourceExhausted
from router.core.model import (
    Delivery,
    QueueConfig,
    QueueRecord,
    StartKind,
    StartPoint,
    StoredEvent,
    SubscriberRecord,
)
from router.core.settings import Settings
from router.core.wire import counts_of
from tests.helpers.fakes import FakeState, deliveries

EARLIEST = StartPoint(StartKind.EARLIEST)
STORED = StartPoint(StartKind.STORED)
RECORD = QueueRecord("q1", 1, QueueConfig("orders", 100))


@asynccontextmanager
async def running_queue(
    state: FakeState, sleeping: Sequence[SubscriberRecord] = ()
) -> AsyncIterator[QueueActor]:
    queue = QueueActor(
        RECORD,
        state,  # type: ignore[arg-type]
        Settings(db_url="sqlite:///unused.db", consumer_timeout_s=3600.0),
        head=len(state.log),
        sleeping={s.name: s for s in sleeping},
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(queue.run)
        yield queue
        nursery.cancel_scope.cancel()


async def attach(
    queue: QueueActor,
    start: StartPoint = EARLIEST,
    settings: dict[str, Any] | None = None,
    prefetch: int = 0,
    name: str = "billing",
) -> Subscription:
    subscription: Subscription = await ask(
        queue.mailbox, lambda r: Attach(name, start, r, "test", settings, prefetch)
    )
    return subscription


async def take(subscription: Subscription) -> list[tuple[int, int]]:
    """The next batch as (offset, delivery count) pairs."""
    with trio.fail_after(3600):
        batch = await subscription.next_batch()
    assert batch is not None, subscription.end_reason()
    return list(zip([d.offset for d in batch], counts_of(batch), strict=True))


async def rejected(subscription: Subscription) -> Rejected:
    with trio.fail_after(3600):
        item = await subscription.next_item()
    assert isinstance(item, Rejected), item
    return item


async def view_once(queue: QueueActor, check: Callable[[SubscriberView], bool]) -> SubscriberView:
    """The subscriber's view once ``check`` holds: the actors take the messages sent to them."""
    with trio.fail_after(60):
        while not check(view := queue.subscriber_views()[0]):
            await trio.testing.wait_all_tasks_blocked()  # the actors have taken what they could
    return view


def saved_floor(state: FakeState) -> int:
    return state.cursors[("q1", "billing")]


async def test_per_offset_acks_raise_the_floor_only_over_settled_offsets(
    autojump_clock: trio.testing.MockClock,
) -> None:
    state = FakeState(log=list(deliveries(1, 4)))
    async with running_queue(state) as queue:
        subscription = await attach(queue)
        assert await take(subscription) == [(1, 1), (2, 1), (3, 1), (4, 1)]
        await subscription.settle([(2, 3)])
        view = await view_once(queue, lambda v: v.unsettled == 2)
        assert view.acked == 0  # 1 and 4 are still out
        await subscription.settle([(1, 1)])
        await view_once(queue, lambda v: v.acked == 3)
        await subscription.close()
    assert saved_floor(state) == 3
    assert state.ledgers[("q1", "billing")] == '{"high":4}'


async def test_a_nack_redelivers_after_its_delay_with_the_count_and_a_bad_settle_is_told(
    autojump_clock: trio.testing.MockClock,
) -> None:
    state = FakeState(log=list(deliveries(1, 3)))
    async with running_queue(state) as queue:
        subscription = await attach(queue)
        await take(subscription)
        nacked_at = trio.current_time()
        await subscription.nack(2, delay_s=5.0)
        await subscription.settle([(1, 1), (3, 3)])
        assert await take(subscription) == [(2, 2)]
        assert trio.current_time() - nacked_at == pytest.approx(5.0, abs=0.01)
        await subscription.settle([(9, 9)])
        assert (await rejected(subscription)).code == "never_delivered"
        await subscription.settle([(1, 1)])
        notice = await rejected(subscription)
        assert (notice.code, notice.message) == ("already_settled", "ack.offset: 1 is settled")
        await subscription.park(2, "bad payload")
        await view_once(queue, lambda v: v.acked == 3)
        await subscription.close()
    (parked,) = state.parked_events("q1", "billing")
    assert (parked.offset, parked.reason, parked.deliveries) == (2, "bad payload", 2)


async def test_an_event_delivered_max_deliveries_times_is_parked_and_the_cursor_moves_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    state = FakeState(log=list(deliveries(1, 2)))
    settings = {"max_deliveries": 3, "backoff_initial_s": 1.0, "backoff_multiplier": 2.0}
    async with running_queue(state) as queue:
        subscription = await attach(queue, settings=settings)
        assert await take(subscription) == [(1, 1), (2, 1)]
        await subscription.settle([(2, 2)])
        began = trio.current_time()
        await subscription.nack(1)
        assert await take(subscription) == [(1, 2)]
        assert trio.current_time() - began == pytest.approx(1.0, abs=0.01)  # back-off 1 s
        await subscription.nack(1)
        assert await take(subscription) == [(1, 3)]
        assert trio.current_time() - began == pytest.approx(3.0, abs=0.01)  # then 2 s more
        await subscription.nack(1)  # the third delivery failed too: parked
        view = await view_once(queue, lambda v: v.parked == 1)
        assert (view.acked, view.unsettled) == (2, 0)
        await subscription.close()
    (parked,) = state.parked_events("q1", "billing")
    assert parked.reason == "delivered 3 times (max_deliveries 3)"


async def test_a_delivery_unsettled_after_ack_wait_is_sent_again(
    autojump_clock: trio.testing.MockClock,
) -> None:
    state = FakeState(log=list(deliveries(1, 3)))
    async with running_queue(state) as queue:
        subscription = await attach(queue, settings={"ack_wait_s": 10.0})
        sent_at = trio.current_time()
        await take(subscription)
        await trio.sleep(3)  # virtual time: the deliveries are three seconds old
        assert queue.subscriber_views()[0].oldest_unsettled_s == pytest.approx(3.0, abs=0.01)
        await subscription.settle([(1, 1), (3, 3)])
        assert await take(subscription) == [(2, 2)]
        assert trio.current_time() - sent_at == pytest.approx(10.0, abs=0.01)
        (view,) = queue.subscriber_views()
        assert view.redelivered == 1
        await subscription.close()


async def test_the_ledger_survives_a_restart_settled_offsets_stay_settled_and_counts_go_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    state = FakeState(log=list(deliveries(1, 5)))
    settings = {"max_deliveries": 2}
    async with running_queue(state) as queue:
        subscription = await attach(queue, settings=settings)
        assert await take(subscription) == [(o, 1) for o in range(1, 6)]
        await subscription.settle([(2, 2), (4, 4)])
        await subscription.close()  # 1, 3 and 5 were delivered once and not settled
    record = queue.sleeping["billing"]
    assert (record.acked, record.settings.max_deliveries) == (0, 2)
    # A new router: the queue restored from what was saved.
    restored = SubscriberRecord(
        "q1", "billing", saved_floor(state), record.settings, state.ledgers[("q1", "billing")]
    )
    async with running_queue(state, [restored]) as queue:
        subscription = await attach(queue, STORED)
        assert await take(subscription) == [(1, 2), (3, 2), (5, 2)]
        await subscription.nack(3)  # spent: two deliveries of 2 allowed
        await subscription.settle([(1, 1), (5, 5)])
        await view_once(queue, lambda v: v.acked == 5)
        await subscription.close()
    assert [p.offset for p in state.parked_events("q1", "billing")] == [3]


async def test_a_parked_event_is_re_driven_through_the_same_subscriber_then_leaves_the_list(
    autojump_clock: trio.testing.MockClock,
) -> None:
    state = FakeState(log=list(deliveries(1, 3)))
    async with running_queue(state) as queue:
        subscription = await attach(queue)
        await take(subscription)
        await subscription.park(2, "downstream down")
        await subscription.settle([(1, 1), (3, 3)])
        await view_once(queue, lambda v: v.acked == 3 and v.parked == 1)
        with pytest.raises(Exception, match="offset: 1 is not in the parked list"):
            await ask(queue.mailbox, lambda r: ChangeParked("billing", (1,), True, r))
        redriven = await ask(queue.mailbox, lambda r: ChangeParked("billing", (2,), True, r))
        assert redriven == [2]
        assert await take(subscription) == [(2, 1)]
        assert queue.subscriber_views()[0].parked == 1  # listed until settled
        await subscription.settle([(2, 2)])
        await view_once(queue, lambda v: v.parked == 0)
        await subscription.close()
    assert state.parked_events("q1", "billing") == []
    assert saved_floor(state) == 3


async def test_a_shared_subscriber_deals_within_prefetch_and_a_leaving_consumers_work_moves(
    autojump_clock: trio.testing.MockClock,
) -> None:
    state = FakeState(log=list(deliveries(1, 6)))
    shared = {"mode": "shared", "max_consumers": 2, "prefetch": 2}
    async with running_queue(state) as queue:
        first = await attach(queue, settings=shared)
        second = await attach(queue, settings={"mode": "shared"})
        with pytest.raises(ResourceExhausted, match=r"max_consumers 2"):
            await attach(queue, settings=shared)
        with pytest.raises(FailedPrecondition, match="settings.mode: subscriber 'billing' is"):
            await attach(queue, settings={"mode": "exclusive"})
        got_first = await take(first)
        got_second = await take(second)
        assert len(got_first) == len(got_second) == 2  # each holds its prefetch
        assert not {o for o, _ in got_first} & {o for o, _ in got_second}
        await first.settle([(got_first[0][0], got_first[0][0])])
        more = await take(first)  # a freed slot is filled
        assert len(more) == 1
        await second.close()  # its two go to the first consumer at once, once it has room
        await first.settle([(o, o) for o, _ in more] + [(got_first[1][0], got_first[1][0])])
        moved = await take(first)
        assert sorted(o for o, _ in moved) == sorted(o for o, _ in got_second)
        assert all(count == 2 for _, count in moved)
        (view,) = queue.subscriber_views()
        assert (view.consumers, view.settings.mode.value) == (1, "shared")
        await first.close()


async def test_a_pinned_subscriber_keeps_a_keys_events_on_one_consumer_at_a_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    def keyed(offset: int, key: str) -> Delivery:
        event = StoredEvent(offset, f"id-{offset}", "order.created", b"", (("account", key),), 0)
        return Delivery(offset, event)

    keys = ["a", "b", "a", "c", "a", "b", "c", "a"]
    state = FakeState(log=[keyed(o + 1, k) for o, k in enumerate(keys)])
    pinned = {
        "mode": "shared",
        "dispatch": "pinned",
        "key_header": "account",
        "prefetch": 100,
    }
    async with running_queue(state) as queue:
        consumers = [await attach(queue, settings=pinned) for _ in range(3)]
        holder: dict[str, int] = {}
        got = 0
        with trio.fail_after(60):
            while got < len(keys):
                for index, consumer in enumerate(consumers):
                    with trio.move_on_after(1):
                        batch = await consumer.next_batch()
                        assert batch is not None
                        for delivery in batch:
                            key = dict(delivery.event.headers)["account"]
                            assert holder.setdefault(key, index) == index
                            got += 1
        for consumer in consumers:
            await consumer.close()


async def test_settings_change_while_attached_but_not_the_mode(
    autojump_clock: trio.testing.MockClock,
) -> None:
    state = FakeState(log=list(deliveries(1, 2)))
    async with running_queue(state) as queue:
        subscription = await attach(queue)
        changed = await ask(
            queue.mailbox, lambda r: ChangeSettings("billing", {"ack_wait_s": 5.0}, r)
        )
        assert changed.settings.ack_wait_s == 5.0
        with pytest.raises(FailedPrecondition, match="its mode changes while it sleeps"):
            await ask(queue.mailbox, lambda r: ChangeSettings("billing", {"mode": "shared"}, r))
        with pytest.raises(InvalidArgument, match=r"settings.ack_wait_s: -1"):
            await ask(queue.mailbox, lambda r: ChangeSettings("billing", {"ack_wait_s": -1}, r))
        await subscription.close()
        shared = await ask(
            queue.mailbox, lambda r: ChangeSettings("billing", {"mode": "shared"}, r)
        )
    assert shared.settings == DeliverySettings.make(mode="shared", ack_wait_s=5.0)


async def test_a_live_batch_reaches_a_shared_subscriber() -> None:
    state = FakeState(log=list(deliveries(1, 1)))
    async with running_queue(state) as queue:
        subscription = await attach(queue, settings={"mode": "shared"})
        assert await take(subscription) == [(1, 1)]
        state.log.extend(deliveries(2, 3))
        await queue.mailbox.send(Committed(tuple(state.log[1:3])))
        assert await take(subscription) == [(2, 1), (3, 1)]
        await subscription.close()


async def test_a_shared_subscriber_sends_a_nacked_event_again_from_memory(
    autojump_clock: trio.testing.MockClock,
) -> None:
    state = FakeState(log=list(deliveries(1, 4)))
    async with running_queue(state) as queue:
        subscription = await attach(queue, settings={"mode": "shared"})
        with trio.fail_after(60):
            first = await subscription.next_batch()
        assert first is not None
        reads = list(state.reads)
        await subscription.nack(2, delay_s=1.0)
        await subscription.nack(3, delay_s=1.0)
        await subscription.settle([(1, 1), (4, 4)])
        with trio.fail_after(60):
            again = await subscription.next_batch()
        assert again is not None
        assert list(zip([d.offset for d in again], counts_of(again), strict=True)) == [
            (2, 2),
            (3, 2),
        ]
        assert [d.event for d in again] == [d.event for d in first][1:3]  # the same events
        assert state.reads == reads  # neither read back from storage
        await subscription.nack(3, delay_s=1.0)  # again: the kept frame serves it once more
        await subscription.settle([(2, 2)])
        assert await take(subscription) == [(3, 3)]
        assert state.reads == reads
        await subscription.settle([(3, 3)])
        await view_once(queue, lambda v: v.acked == 4)
        await subscription.close()


async def test_a_huge_settle_on_a_shared_subscriber_is_told_once_per_reason_and_its_outbox_stays_bounded(
    autojump_clock: trio.testing.MockClock,
) -> None:
    state = FakeState(log=list(deliveries(1, 40)))
    shared = {"mode": "shared", "prefetch": 4}
    async with running_queue(state) as queue:
        subscription = await attach(queue, settings=shared)
        assert [o for o, _ in await take(subscription)] == [1, 2, 3, 4]
        await subscription.settle([(1, 2)])
        await view_once(queue, lambda v: v.acked == 2)
        huge = [(1 + 100_000 * i, 100_000 * (i + 1)) for i in range(50)]
        await subscription.settle(huge)  # holds 3 and 4: settles them, refuses the rest
        await view_once(queue, lambda v: v.acked >= 4)
        told: list[Rejected] = []
        while len(told) < 2:  # its next deliveries come in between
            item = await subscription.next_item()
            if isinstance(item, Rejected):
                told.append(item)
        assert [r.code for r in told] == ["already_settled", "never_delivered"]
        assert told[1].offset in (5, 7)  # past what was dealt to it (4, or 6 once 1..2 settled)
        assert told[0].message == "ack.offset: 2 offsets of 1..2 are settled"
        # A consumer that never reads and keeps settling what it does not hold: the
        # refusals past its outbox's room are dropped, not queued without end.
        for _ in range(200):
            await subscription.settle([(1, 1)])
        await trio.testing.wait_all_tasks_blocked()
        waiting = subscription.batches.statistics().current_buffer_used
        assert waiting <= 8
        await subscription.close()


async def test_the_redelivered_figure_is_kept_while_the_subscriber_sleeps_and_reattaches(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Deliveries made again since the router started: those of ack_wait, and those a resumed
    subscriber makes of what it delivered before, whichever attachment made them."""
    state = FakeState(log=list(deliveries(1, 2)))
    async with running_queue(state) as queue:
        subscription = await attach(queue, settings={"ack_wait_s": 10.0})
        assert await take(subscription) == [(1, 1), (2, 1)]
        assert await take(subscription) == [(1, 2), (2, 2)]  # ack_wait passed
        await subscription.close()
        view = await view_once(queue, lambda v: v.state == "sleeping")
        assert view.redelivered == 2
        again = await attach(queue, STORED)
        assert await take(again) == [(1, 3), (2, 3)]  # resumed: delivered a third time
        assert queue.subscriber_views()[0].redelivered == 4
        await again.settle([(1, 2)])
        await again.close()
        view = await view_once(queue, lambda v: v.state == "sleeping")
        assert (view.acked, view.redelivered) == (2, 4)
