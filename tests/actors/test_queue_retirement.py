"""A queue left with no subscriber is retired: its stored row goes, its exchange stops feeding
it without ever waiting on it, and a new queue of the same options starts clean."""

from __future__ import annotations

import pytest
import trio

from actors.exchange import ExchangeActor
from actors.messages import BindQueue, Committed, QueueMessage
from actors.runtime import Mailbox, ask
from router.app import open_router
from router.core.errors import InvalidArgument
from router.core.model import ExchangeRecord, StartKind, StartPoint
from tests.actors.test_router_core import settings
from tests.helpers.fakes import deliveries
from tests.helpers.stories import events, eventually, publish, take

LATEST = StartPoint(StartKind.LATEST)


async def test_an_exchange_goes_on_past_a_retired_queue_whose_mailbox_is_full() -> None:
    exchange = ExchangeActor(ExchangeRecord(1, "orders", ("#",), 0, 0))
    async with trio.open_nursery() as nursery:
        await nursery.start(exchange.run)
        retired: Mailbox[QueueMessage] = Mailbox(1)  # never read again
        await ask(exchange.mailbox, lambda r: BindQueue("q1", retired, r))
        await exchange.mailbox.send(Committed(deliveries(1, 1)))  # fills it
        await exchange.mailbox.send(Committed(deliveries(2, 2)))  # the exchange waits on it
        retired.shut()
        live: Mailbox[QueueMessage] = Mailbox(8)
        with trio.fail_after(5):
            head = await ask(exchange.mailbox, lambda r: BindQueue("q2", live, r))
        assert head == 2 and list(exchange.queues) == ["q2"]
        nursery.cancel_scope.cancel()


async def test_a_queue_whose_last_subscriber_goes_is_removed_and_can_start_again(
    db_url: str,
) -> None:
    async with open_router(settings(db_url)) as router:
        await router.create_exchange("orders", ["order.#"])
        first = await router.subscribe("orders", "a", LATEST, 7)
        queue_id = first.queue_id
        await first.close()
        await eventually(lambda: router.list_subscribers("orders", "a")[0].state == "sleeping")
        await router.delete_subscriber("orders", "a", 7)
        await eventually(lambda: queue_id not in router.manager.queues)
        stored = await router.state.write(lambda storage: storage.restore().queues)
        assert queue_id not in [q.id for q in stored]

        again = await router.subscribe("orders", "b", LATEST, 7)  # the same options, a new queue
        assert again.queue_id == queue_id
        await publish(router, events(3))
        assert [d.offset for d in await take(again, 3)] == [1, 2, 3]
        await again.close()


async def test_a_queue_made_for_a_subscriber_that_never_attached_is_removed(db_url: str) -> None:
    async with open_router(settings(db_url)) as router:
        await router.create_exchange("orders", ["order.#"])
        with pytest.raises(InvalidArgument, match="prefetch"):
            await router.subscribe("orders", "x", LATEST, 9, prefetch=-1)
        await eventually(lambda: not router.list_queues("orders"))
        stored = await router.state.write(lambda storage: storage.restore().queues)
        assert stored == ()
