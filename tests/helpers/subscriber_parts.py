"""A subscriber's parts wired as the SubscriberActor wires them, without the actor: its
consumers, ledger, handing out, settlement, fresh-event path and sending again, around a fake
state and a queue that answers from it (an empty ring: everything is read from storage)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import attrs
import trio

from actors.dealing import Dealer
from actors.fresh import Fresh
from actors.holding import Holders
from actors.ledger import Ledger
from actors.messages import GetHead, QueueMessage, RingSlice, SubscriberMessage
from actors.redelivery import Redelivery
from actors.replay import Replay
from actors.resending import Resender
from actors.runtime import Mailbox
from actors.settler import Settler
from actors.subscription import OUTBOX_ITEMS, Consumer, ConsumerMessage, Outgoing, Subscription
from router.core.delivery import DeliverySettings
from router.core.model import QueueConfig, QueueRecord
from router.core.settings import Settings
from tests.helpers.fakes import FakeState

QUEUE = QueueRecord("q1", 1, QueueConfig("orders", 100))


def consumer(address: str = "a", prefetch: int = 10, outbox_items: int = OUTBOX_ITEMS) -> Consumer:
    outbox, batches = trio.open_memory_channel[Outgoing](outbox_items)
    control_in, control = trio.open_memory_channel[ConsumerMessage](8)
    return Consumer(
        address, prefetch, Subscription("q1", "s", 1, 0, batches, control_in), outbox, control
    )


def drain(taker: Consumer) -> list[Outgoing]:
    """What ``taker``'s edge has been given and not taken yet."""
    found: list[Outgoing] = []
    while True:
        try:
            found.append(taker.subscription.batches.receive_nowait())
        except trio.WouldBlock:
            return found


@attrs.define(eq=False)
class Parts:
    state: FakeState
    consumers: list[Consumer]
    ledger: Ledger
    redelivery: Redelivery
    holders: Holders
    settler: Settler
    fresh: Fresh
    resender: Resender
    mailbox: Mailbox[SubscriberMessage]
    detached: list[Consumer] = attrs.Factory(list)
    changes: list[None] = attrs.Factory(list)
    parked_told: list[None] = attrs.Factory(list)


async def answer_as_queue(mailbox: Mailbox[QueueMessage], state: FakeState) -> None:
    async for message in mailbox:
        if isinstance(message, GetHead):
            message.reply.set(len(state.log))
        elif isinstance(message, RingSlice):
            message.reply.set(())


@asynccontextmanager
async def wired(
    state: FakeState,
    consumers: list[Consumer],
    options: DeliverySettings | None = None,
    ledger: Ledger | None = None,
    head: int = 0,
) -> AsyncIterator[Parts]:
    """The parts of a subscriber named ``s`` on queue ``q1``, for ``consumers``."""
    ledger = ledger if ledger is not None else Ledger()
    options = options if options is not None else DeliverySettings()
    queue_mailbox: Mailbox[QueueMessage] = Mailbox()
    mailbox: Mailbox[SubscriberMessage] = Mailbox(16)
    settings = Settings(db_url="sqlite:///unused.db")
    pull = None
    replay = Replay(QUEUE, queue_mailbox, state, settings, lambda: pull)  # type: ignore[arg-type]
    redelivery = Redelivery()
    dealer = Dealer(consumers, redelivery.behind)
    detached: list[Consumer] = []
    changes: list[None] = []
    told: list[None] = []

    def detach(gone: Consumer) -> None:
        detached.append(gone)
        consumers.remove(gone)

    holders = Holders(
        consumers, dealer, redelivery, ledger, options, detach, lambda: changes.append(None)
    )
    settler = Settler(
        "q1",
        "s",
        state,  # type: ignore[arg-type]
        ledger,
        options,
        holders,
        redelivery,
        lambda: fresh.delivered,
        lambda: changes.append(None),
        lambda: told.append(None),
    )
    fresh = Fresh(
        "s", replay, mailbox, queue_mailbox, ledger, holders, settler, redelivery, 1 << 20, head
    )
    resender = Resender(ledger, options, redelivery, holders, settler, dealer, replay)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(answer_as_queue, queue_mailbox, state)
        yield Parts(
            state,
            consumers,
            ledger,
            redelivery,
            holders,
            settler,
            fresh,
            resender,
            mailbox,
            detached,
            changes,
            told,
        )
        nursery.cancel_scope.cancel()
