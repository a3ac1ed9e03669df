"""Dealing on its own: round-robin among consumers with credit, key pins, the wait for credit,
fresh events behind redeliveries, and a pull's budgets."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from actors.dealing import Dealer, Finished, keys_of, slot, within_budget, within_bytes
from actors.subscription import OUTBOX_ITEMS, Consumer, ConsumerMessage, Outgoing, Subscription
from router.core.model import Delivery
from router.core.wire import sizes_of
from tests.helpers.fakes import deliveries


def consumer(address: str, prefetch: int = 10) -> Consumer:
    outbox, batches = trio.open_memory_channel[Outgoing](OUTBOX_ITEMS)
    control_in, control = trio.open_memory_channel[ConsumerMessage](1)
    return Consumer(
        address, prefetch, Subscription("q1", "s", 1, 0, batches, control_in), outbox, control
    )


async def test_round_robin_gives_each_consumer_its_share_in_turn() -> None:
    a, b, c = consumer("a"), consumer("b"), consumer("c")
    dealer = Dealer([a, b, c])
    assert await dealer.next_piece(None, 0, 9, fresh=True) == (a, 3)
    assert await dealer.next_piece(None, 3, 9, fresh=True) == (b, 5)
    assert await dealer.next_piece(None, 5, 9, fresh=True) == (c, 7)
    assert await dealer.next_piece(None, 7, 9, fresh=True) == (a, 8)


async def test_a_pinned_key_follows_its_holder_until_its_last_event_is_released() -> None:
    a, b = consumer("a"), consumer("b")
    dealer = Dealer([a, b])
    other = b if slot("k", [a, b]) is a else a
    dealer.pin(other, [1, 2], ["k", None])
    assert dealer.pins == {"k": (other, 1)} and dealer.key_of == {1: "k"}
    assert (await dealer.next_piece(["k", "k"], 0, 2, fresh=True))[0] is other
    dealer.unpin(1)
    assert dealer.pins == {}
    chosen, stop = await dealer.next_piece(["k", "k"], 0, 2, fresh=True)
    assert chosen is slot("k", [a, b]) and stop == 2  # same key, same holder: one piece
    assert (await dealer.next_piece(["k", None], 1, 2, fresh=True))[1] == 2  # keyless: alone


async def test_a_consumer_without_credit_is_passed_over_and_a_wait_ends_when_credit_frees() -> None:
    a, b = consumer("a", prefetch=1), consumer("b", prefetch=1)
    dealer = Dealer([a, b])
    a.holding.add(1)
    assert await dealer.next_piece(None, 0, 4, fresh=True) == (b, 1)
    b.holding.add(2)
    got: list[Consumer] = []

    async def deal() -> None:
        got.append((await dealer.next_piece(None, 0, 1, fresh=True))[0])

    async with trio.open_nursery() as nursery:
        nursery.start_soon(deal)
        await trio.testing.wait_all_tasks_blocked()
        assert got == []
        a.holding.clear()
        dealer.credit_freed()
    assert got == [a]


async def test_fresh_events_wait_behind_due_redeliveries_and_redeliveries_do_not() -> None:
    a = consumer("a")
    behind = [True]
    dealer = Dealer([a], lambda fresh: fresh and behind[0])
    assert await dealer.next_piece(None, 0, 1, fresh=False) == (a, 1)
    with trio.move_on_after(1) as waited:
        await dealer.next_piece(None, 0, 1, fresh=True)
    assert waited.cancelled_caught
    behind[0] = False
    dealer.credit_freed()
    assert await dealer.next_piece(None, 0, 1, fresh=True) == (a, 1)
    with pytest.raises(Finished):
        await Dealer([]).next_piece(None, 0, 1, fresh=True)


async def test_a_pull_takes_what_its_count_and_bytes_still_allow() -> None:
    a = consumer("a")
    batch: tuple[Delivery, ...] = deliveries(1, 6)
    a.budget = 4
    assert [d.offset for d in await within_budget(a, batch)] == [1, 2, 3, 4] and a.budget == 0
    b = consumer("b")
    b.bytes_budget = sum(sizes_of(batch[:2])) + 1
    assert [d.offset for d in within_bytes(b, batch)] == [1, 2] and b.bytes_budget == 1
    b.events_out = 2  # past its first delivery, an event that does not fit is not taken
    assert within_bytes(b, batch[2:]) == () and b.bytes_budget == 0
    assert keys_of(batch, "k") == [None] * 6
