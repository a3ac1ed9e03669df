"""Settlement on its own: acks move the floor, nacks schedule again (or park what is spent),
parks are stored first, and what a consumer does not hold is refused with a notice."""

from __future__ import annotations

import trio
import trio.testing

from actors.subscription import Ack, Nack, Park, Rejected, Settle
from router.core.delivery import DeliverySettings
from tests.helpers.fakes import FakeState, deliveries
from tests.helpers.subscriber_parts import consumer, drain, wired

SHARED = DeliverySettings.make(mode="shared")


async def test_a_cumulative_ack_moves_the_floor_and_one_past_the_deliveries_is_refused(
    mock_clock: trio.testing.MockClock,
) -> None:
    only = consumer()
    async with wired(FakeState(), [only]) as parts:
        await parts.holders.give(deliveries(1, 4), fresh=True)
        parts.fresh.delivered = 4
        mock_clock.jump(7)
        await parts.settler.take(only, Ack(3))
        assert parts.ledger.floor == 3 and parts.settler.floor_moved_at == trio.current_time()
        drain(only)
        await parts.settler.take(only, Ack(9))
        (notice,) = drain(only)
        assert notice == Rejected(
            9, "never_delivered", "ack.offset: 9 was never delivered (last delivered 4)"
        )
        assert only.subscription.end_reason() is None  # the stream goes on
        assert parts.ledger.floor == 3
        await parts.settler.take(only, Ack(4))
        assert parts.ledger.floor == 4


async def test_a_nack_schedules_after_the_backoff_and_a_spent_delivery_is_parked_instead(
    mock_clock: trio.testing.MockClock,
) -> None:
    only = consumer()
    options = DeliverySettings(max_deliveries=2, backoff_initial_s=5.0)
    state = FakeState()
    async with wired(state, [only], options) as parts:
        await parts.holders.give(deliveries(1, 2), fresh=True)
        await parts.settler.take(only, Nack(1, None, "busy"))
        assert parts.redelivery.scheduled == {1: trio.current_time() + 5.0}
        assert 1 in parts.ledger.due  # the delay outlives a restart
        parts.ledger.deliver_again(2)  # delivered twice: max_deliveries
        await parts.settler.take(only, Nack(2, 0.0, "still busy"))
        parked = state.parked[("q1", "s")][2]
        assert parked.reason == "delivered 2 times (max_deliveries 2): still busy"
        assert parts.settler.parked == 1 and parts.settler.parked_since == parked.parked_at
        assert parts.parked_told and parts.ledger.is_settled(2)


async def test_a_shared_consumer_settles_only_what_it_holds_and_is_told_the_rest() -> None:
    a, b = consumer("a", prefetch=2), consumer("b", prefetch=2)
    async with wired(FakeState(), [a, b], SHARED) as parts:
        await parts.holders.give(deliveries(1, 4), fresh=True)
        mine, theirs = sorted(a.holding), sorted(b.holding)
        drain(a)
        await parts.settler.take(a, Settle(((1, 4),)))
        assert not a.holding and b.holding == set(theirs)
        assert all(parts.ledger.is_settled(o) for o in mine)
        told = [n for n in drain(a) if isinstance(n, Rejected)]
        assert [n.code for n in told] == ["not_held"] and told[0].offset == theirs[0]
        await parts.settler.take(a, Park(theirs[0], ""))
        notice = drain(a)[-1]
        assert isinstance(notice, Rejected) and notice.code == "not_held"
        await parts.settler.take(a, Nack(99, None, ""))
        notice = drain(a)[-1]
        assert isinstance(notice, Rejected) and notice.code == "never_delivered"


async def test_a_bad_nack_is_refused_and_a_redrive_then_discard_keeps_the_parked_count() -> None:
    only = consumer()
    async with wired(FakeState(), [only]) as parts:
        await parts.holders.give(deliveries(1, 2), fresh=True)
        drain(only)
        await parts.settler.take(only, Nack(1, -1.0, ""))
        notice = drain(only)[-1]
        assert isinstance(notice, Rejected) and notice.code == "invalid"
        assert only.subscription.end_reason() is None  # the stream goes on
        assert 1 not in parts.redelivery.scheduled
        parts.settler.parked = 2
        parts.settler.redrive([7])
        assert 7 in parts.ledger.redriving and 7 in parts.redelivery.scheduled
        parts.settler.discarded([7, 8])
        assert parts.settler.parked == 0 and 7 not in parts.redelivery.scheduled
        assert 7 not in parts.ledger.redriving
