"""The QueueActor on its own: a fake state actor, batches pushed as its exchange would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

from actors.messages import (
    Attach,
    Committed,
    GetHead,
    MoveCursor,
    RingSlice,
)
from actors.queue import QueueActor
from actors.runtime import ask
from actors.subscriber import MAILBOX_BATCHES, Subscription
from router.core.errors import FailedPrecondition
from router.core.model import QueueConfig, QueueRecord, StartKind, StartPoint, SubscriberRecord
from router.core.settings import Settings
from tests.helpers.fakes import FakeState, deliveries

EARLIEST = StartPoint(StartKind.EARLIEST)
LATEST = StartPoint(StartKind.LATEST)


@asynccontextmanager
async def running_queue(
    state: FakeState, limit_size: int = 5, sleeping: dict[str, int] | None = None
) -> AsyncIterator[QueueActor]:
    record = QueueRecord("q1", 1, QueueConfig("orders", limit_size))
    queue = QueueActor(
        record,
        state,  # type: ignore[arg-type]
        Settings(db_url="sqlite:///unused.db"),
        head=len(state.log),
        sleeping={n: SubscriberRecord("q1", n, acked) for n, acked in (sleeping or {}).items()},
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(queue.run)
        yield queue
        nursery.cancel_scope.cancel()


async def attach(queue: QueueActor, name: str, start: StartPoint) -> Subscription:
    subscription: Subscription = await ask(queue.mailbox, lambda r: Attach(name, start, r))
    return subscription


async def test_the_ring_keeps_the_newest_limit_size_deliveries_and_answers_slices() -> None:
    state = FakeState()
    async with running_queue(state, limit_size=5) as queue:
        await queue.mailbox.send(Committed(deliveries(1, 4)))
        await queue.mailbox.send(Committed(deliveries(5, 8)))
        held = await ask(queue.mailbox, lambda r: RingSlice(5, 6, r))
        assert [d.offset for d in held] == [5, 6]
        assert await ask(queue.mailbox, lambda r: RingSlice(2, 6, r)) == ()  # 2 is gone
        assert await ask(queue.mailbox, GetHead) == 8
        assert queue.view().buffered == 5
        assert queue.view().fill == 1.0
        # A batch that does not follow the ring (a gap) starts it again: it stays contiguous.
        await queue.mailbox.send(Committed(deliveries(11, 12)))
        assert await ask(queue.mailbox, lambda r: RingSlice(8, 8, r)) == ()
        assert queue.view().buffered == 2


async def test_a_second_consumer_of_an_exclusive_subscriber_is_refused() -> None:
    async with running_queue(FakeState()) as queue:
        await attach(queue, "billing", LATEST)
        with pytest.raises(FailedPrecondition, match="already has a consumer attached"):
            await attach(queue, "billing", LATEST)


async def test_a_consumer_that_does_not_read_slows_only_itself() -> None:
    state = FakeState()
    async with running_queue(state, limit_size=5) as queue:
        slow = await attach(queue, "slow", LATEST)
        batches = 3 * MAILBOX_BATCHES
        for number in range(batches):  # the queue never waits for the slow subscriber
            batch = deliveries(2 * number + 1, 2 * number + 2)
            state.log.extend(batch)
            with trio.fail_after(1):
                await queue.mailbox.send(Committed(batch))
                assert await ask(queue.mailbox, GetHead) == 2 * number + 2
        # What it missed comes from storage, in order, once it reads.
        got: list[int] = []
        with trio.fail_after(5):
            while len(got) < 2 * batches:
                batch = await slow.next_batch()
                assert batch is not None
                got.extend(d.offset for d in batch)
        assert got == list(range(1, 2 * batches + 1))
        assert state.reads  # the gap was read from storage


async def test_a_sleeping_cursor_moves_and_an_active_one_is_refused() -> None:
    state = FakeState(log=list(deliveries(1, 10)))
    async with running_queue(state, sleeping={"audit": 2}) as queue:
        moved = await ask(queue.mailbox, lambda r: MoveCursor("audit", EARLIEST, r))
        assert moved == 0
        assert queue.sleeping["audit"].acked == 0
        assert state.cursors[("q1", "audit")] == 0
        await attach(queue, "billing", LATEST)
        with pytest.raises(FailedPrecondition, match="has a consumer attached"):
            await ask(queue.mailbox, lambda r: MoveCursor("billing", EARLIEST, r))
