"""Redelivery on its own: the schedule by time, what ack_wait expires, the frames kept to send
again, fresh events held behind due redeliveries, and the runs read together."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from actors.redelivery import REDELIVER_BATCH, Redelivery, runs
from actors.subscription import OUTBOX_ITEMS, Consumer, ConsumerMessage, Outgoing, Subscription
from router.core.wire import frame_at
from tests.helpers.fakes import deliveries


def consumer() -> Consumer:
    outbox, batches = trio.open_memory_channel[Outgoing](OUTBOX_ITEMS)
    control_in, control = trio.open_memory_channel[ConsumerMessage](1)
    return Consumer("a", 10, Subscription("q1", "s", 1, 0, batches, control_in), outbox, control)


async def test_what_is_due_comes_in_time_order_and_a_rescheduled_or_forgotten_one_waits() -> None:
    again = Redelivery()
    now = trio.current_time()
    again.schedule(3, now - 1)
    again.schedule(1, now - 2)
    again.schedule(2, now - 1)
    again.schedule(2, now + 60)  # rescheduled: its earlier time no longer counts
    again.schedule(4, now - 1)
    again.forget(4)
    again.schedule(5, now - 1)
    assert again.take_due(lambda offset: offset != 5) == [1, 3]
    assert again.scheduled == {2: now + 60}


async def test_fresh_events_wait_while_redeliveries_are_due_or_being_sent() -> None:
    again = Redelivery()
    assert not again.behind(fresh=True)
    again.schedule(1, trio.current_time())
    assert again.behind(fresh=True) and not again.behind(fresh=False)
    again.take_due(lambda offset: True)
    again.resending = 1
    assert again.behind(fresh=True)


async def test_a_flight_expires_once_ack_wait_has_passed_and_a_shorter_one_wakes_the_wait(
    autojump_clock: trio.testing.MockClock,
) -> None:
    again = Redelivery()
    wait = [30.0]
    started = trio.current_time()
    async with trio.open_nursery() as nursery:

        async def change_it() -> None:
            await trio.sleep(1)  # MockClock: one simulated second into the 30 s wait
            wait[0] = 5.0
            again.ack_wait_changed()

        nursery.start_soon(change_it)
        again.flew([1, 2], consumer(), started, fresh=True)
        flight = await again.next_expired(lambda: wait[0])
    assert flight.offsets == [1, 2]
    assert trio.current_time() - started == pytest.approx(5.0)
    assert not again.flights


async def test_fresh_flights_below_the_floor_land_and_others_stay() -> None:
    again = Redelivery()
    holder = consumer()
    again.flew([1, 2], holder, 0.0, fresh=True)
    again.flew([3], holder, 0.0, fresh=False)
    again.flew([4], holder, 0.0, fresh=True)
    again.landed(4)
    assert [f.offsets for f in again.flights] == [[3], [4]]


async def test_a_scheduled_delivery_keeps_its_own_frame_not_the_batch_it_came_in() -> None:
    again = Redelivery()
    batch = deliveries(1, 3)
    again.keep([1, 2, 3], batch)
    again.schedule(2, trio.current_time())
    assert again.kept[2] == frame_at(batch, 2) and again.kept[1] is batch
    again.forget(2)
    assert 2 not in again.kept


def test_runs_group_close_offsets_up_to_a_batch() -> None:
    assert runs([1, 2, 60, 200, 201]) == [[1, 2, 60], [200, 201]]
    long = list(range(1, REDELIVER_BATCH + 2))
    assert [len(run) for run in runs(long)] == [REDELIVER_BATCH, 1]
