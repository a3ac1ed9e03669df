"""Sending again on its own: what is due goes out with its delivery count (read back, or from
the frames a shared subscriber kept), a spent one is parked instead, and ack_wait expires
what stayed out."""

from __future__ import annotations

import trio
import trio.testing

from router.core.delivery import DeliverySettings
from router.core.wire import Counted
from tests.helpers.fakes import FakeState, deliveries
from tests.helpers.subscriber_parts import consumer, drain, wired


async def test_a_due_delivery_is_read_back_and_sent_again_with_its_count() -> None:
    state = FakeState(log=list(deliveries(1, 3)))
    only = consumer()
    async with wired(state, [only]) as parts, trio.open_nursery() as nursery:
        await parts.holders.give(deliveries(1, 3), fresh=True)
        drain(only)
        nursery.start_soon(parts.resender.redeliver)
        parts.redelivery.schedule(2, trio.current_time())
        with trio.fail_after(5):
            again = await only.subscription.batches.receive()
        await trio.testing.wait_all_tasks_blocked()  # it notes who holds what it sent
        assert isinstance(again, Counted) and (again.offsets, again.counts) == ([2], [2])
        assert parts.resender.redelivered == 1 and state.reads == [(2, 2)]
        assert parts.holders.owner[2][0] is only
        nursery.cancel_scope.cancel()


async def test_a_shared_subscriber_sends_again_from_the_frames_it_kept() -> None:
    state = FakeState(log=list(deliveries(1, 2)))
    a = consumer("a")
    async with wired(state, [a], DeliverySettings.make(mode="shared")) as parts:
        await parts.holders.give(deliveries(1, 2), fresh=True)
        drain(a)
        parts.holders.release(1)
        parts.redelivery.schedule(1, trio.current_time())
        async with trio.open_nursery() as nursery:
            nursery.start_soon(parts.resender.redeliver)
            with trio.fail_after(5):
                again = await a.subscription.batches.receive()
            nursery.cancel_scope.cancel()
        assert isinstance(again, Counted) and again.offsets == [1] and state.reads == []


async def test_a_delivery_due_past_max_deliveries_is_parked_not_sent() -> None:
    state = FakeState(log=list(deliveries(1, 1)))
    only = consumer()
    async with wired(state, [only], DeliverySettings(max_deliveries=1)) as parts:
        await parts.holders.give(deliveries(1, 1), fresh=True)
        drain(only)
        parts.redelivery.schedule(1, trio.current_time())
        async with trio.open_nursery() as nursery:
            nursery.start_soon(parts.resender.redeliver)
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
        assert drain(only) == [] and 1 in state.parked[("q1", "s")]
        assert parts.ledger.floor == 1 and parts.resender.redelivered == 0


async def test_what_stays_out_past_ack_wait_is_due_again_and_what_was_settled_is_not(
    autojump_clock: trio.testing.MockClock,
) -> None:
    only = consumer()
    async with wired(FakeState(), [only], DeliverySettings(ack_wait_s=10.0)) as parts:
        await parts.holders.give(deliveries(1, 2), fresh=True)
        parts.ledger.settle(1)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(parts.resender.expire)
            await trio.sleep(9)  # simulated seconds: not yet ack_wait
            assert parts.redelivery.scheduled == {}
            await trio.sleep(2)  # simulated seconds: past ack_wait
            assert set(parts.redelivery.scheduled) == {2}
            nursery.cancel_scope.cancel()
