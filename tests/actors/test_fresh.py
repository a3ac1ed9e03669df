"""The fresh-event path on its own: catch-up from storage, then live batches trimmed at the
next offset (an overlap is not repeated, a gap is read back), a resumed ledger's settled events
left out, and retention's gap told before what follows it."""

from __future__ import annotations

import trio
import trio.testing

from actors.ledger import Ledger
from actors.messages import Committed
from actors.subscription import Gap, Outgoing, Rejected
from router.core.wire import Counted, offsets_of
from tests.helpers.fakes import FakeState, deliveries
from tests.helpers.subscriber_parts import consumer, wired


async def offsets_until(batches: trio.MemoryReceiveChannel[Outgoing], last: int) -> list[int]:
    got: list[int] = []
    with trio.fail_after(5):
        while not got or got[-1] < last:
            batch = await batches.receive()
            assert not isinstance(batch, Gap | Rejected), batch
            got.extend(offsets_of(batch))
    return got


async def test_catch_up_then_live_batches_come_in_offset_order_without_repeat_or_gap() -> None:
    state = FakeState(log=list(deliveries(1, 5)))
    only = consumer()
    async with wired(state, [only], head=5) as parts, trio.open_nursery() as nursery:
        nursery.start_soon(parts.fresh.deliver)
        batches = only.subscription.batches
        assert await offsets_until(batches, 5) == [1, 2, 3, 4, 5]
        state.log.extend(deliveries(6, 9))
        await parts.mailbox.send(Committed(deliveries(4, 7)))  # overlaps what was sent
        await parts.mailbox.send(Committed(deliveries(9, 9)))  # past a batch never offered
        assert await offsets_until(batches, 9) == [6, 7, 8, 9]
        await trio.testing.wait_all_tasks_blocked()  # it counts what it handed out
        assert (parts.fresh.next_offset, parts.fresh.delivered, parts.fresh.head) == (10, 9, 9)
        assert parts.fresh.events_out == 9 and parts.ledger.high == 9
        nursery.cancel_scope.cancel()


async def test_a_resumed_subscriber_leaves_out_what_it_settled_and_counts_the_rest() -> None:
    only = consumer()
    ledger = Ledger.restore(2, '{"high":5,"runs":[[4,4]]}')
    async with wired(FakeState(), [only], ledger=ledger, head=6) as parts:
        await parts.fresh.send(deliveries(3, 6))
        batch = only.subscription.batches.receive_nowait()
        assert isinstance(batch, Counted)
        assert (batch.offsets, batch.counts) == ([3, 5, 6], [2, 2, 1])
        assert parts.fresh.next_offset == 7 and ledger.deliveries(3) == 2


async def test_ready_says_whether_something_goes_out_without_waiting() -> None:
    async with wired(FakeState(), [consumer()], ledger=Ledger(3, 3), head=3) as parts:
        parts.fresh.next_offset = 4
        assert not parts.fresh.ready()  # all settled, nothing past the head
        parts.fresh.head = 4
        assert parts.fresh.ready()  # a new event
        parts.fresh.head = 3
        parts.ledger.redriving.add(2)
        assert parts.fresh.ready()  # a re-driven one


async def test_past_what_retention_removed_each_consumer_is_told_before_the_next_batch() -> None:
    state = FakeState(log=list(deliveries(1, 6)))
    state.remove_before(1, 4)
    only = consumer()
    async with wired(state, [only], head=6) as parts, trio.open_nursery() as nursery:
        nursery.start_soon(parts.fresh.deliver)
        with trio.fail_after(5):
            gap = await only.subscription.batches.receive()
        assert gap == Gap(1, 3)
        assert await offsets_until(only.subscription.batches, 6) == [4, 5, 6]
        assert parts.ledger.floor == 3 and parts.settler.floor_moved_at > 0
        nursery.cancel_scope.cancel()
