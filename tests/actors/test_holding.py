"""Handing out on its own: an exclusive subscriber's one consumer takes a batch whole, a shared
one's consumers are dealt pieces they then hold; who holds what, released and expired."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from actors.dealing import Finished
from actors.redelivery import Flight
from router.core.delivery import DeliverySettings
from router.core.wire import Counted, offsets_of
from tests.helpers.fakes import FakeState, deliveries
from tests.helpers.subscriber_parts import consumer, drain, wired

SHARED = DeliverySettings.make(mode="shared")


async def test_an_exclusive_consumer_takes_a_fresh_batch_whole_and_owns_only_its_redeliveries() -> (
    None
):
    only = consumer()
    async with wired(FakeState(), [only]) as parts:
        await parts.holders.give(deliveries(1, 3), fresh=True)
        assert [list(offsets_of(b)) for b in drain(only)] == [[1, 2, 3]]  # type: ignore[arg-type]
        assert parts.ledger.high == 3 and parts.holders.owner == {} and only.events_out == 3
        assert parts.holders.holds(only, 2)
        await parts.holders.give(Counted.of(list(deliveries(2, 2)), [2]), fresh=False)
        assert set(parts.holders.owner) == {2} and parts.ledger.deliveries(2) == 2
        assert parts.changes  # the counts changed: the cursor is saved next time
        parts.redelivery.schedule(3, trio.current_time() + 60)
        assert not parts.holders.holds(only, 3)  # waiting to be delivered again


async def test_a_shared_subscriber_deals_within_prefetch_and_a_release_frees_the_credit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    a, b = consumer("a", prefetch=2), consumer("b", prefetch=2)
    async with wired(FakeState(), [a, b], SHARED) as parts:
        with trio.move_on_after(1):  # five events, four of credit: the fifth waits for credit
            await parts.holders.give(deliveries(1, 5), fresh=True)
        assert a.holding | b.holding == {1, 2, 3, 4} and not a.holding & b.holding
        assert parts.holders.owner[1][0] is a and parts.holders.holds(a, 1)
        assert not parts.holders.holds(b, 1)
        assert parts.holders.release(1) is a and 1 not in a.holding
        assert parts.holders.release(1) is None  # released once
        assert a.credit == 1


async def test_an_exclusive_consumer_gone_is_detached_and_ends_the_handing_out() -> None:
    only = consumer()
    async with wired(FakeState(), [only]) as parts:
        only.outbox.close()
        with pytest.raises(Finished):
            await parts.holders.give(deliveries(1, 2), fresh=True)
        assert parts.detached == [only] and parts.ledger.high == 0


async def test_a_flight_is_still_out_only_with_the_consumer_it_went_to() -> None:
    only = consumer()
    async with wired(FakeState(), [only]) as parts:
        await parts.holders.give(deliveries(1, 2), fresh=True)
        flight = parts.redelivery.flights[-1]
        assert parts.holders.still_out(flight, 1)
        parts.ledger.settle(1)
        assert not parts.holders.still_out(flight, 1)  # settled
        await parts.holders.give(Counted.of(list(deliveries(2, 2)), [2]), fresh=False)
        again = parts.redelivery.flights[-1]
        assert parts.holders.still_out(again, 2)
        older = Flight([2], only, again.sent_at - 1, False)
        assert not parts.holders.still_out(older, 2)  # it went again since that flight
