"""The SubscriberActor on its own: a fake queue and a fake state actor around it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import attrs
import pytest
import trio
import trio.testing

from actors.messages import Attach, Committed, GetHead, QueueMessage, RingSlice
from actors.queue import QueueActor
from actors.runtime import Mailbox, Reply
from actors.subscriber import SubscriberActor, Subscription
from actors.subscription import Rejected
from router.core.errors import DeadlineExceeded, Unavailable
from router.core.model import Delivery, QueueConfig, QueueRecord, StartKind, StartPoint
from router.core.settings import Settings
from router.core.wire import sizes_of
from tests.helpers.fakes import FakeState, deliveries

QUEUE = QueueRecord("q1", 1, QueueConfig("orders", 100))
EARLIEST = StartPoint(StartKind.EARLIEST)
LATEST = StartPoint(StartKind.LATEST)


def settings(**changes: object) -> Settings:
    return Settings(db_url="sqlite:///unused.db", **changes)  # type: ignore[arg-type]


async def answer_as_queue(mailbox: Mailbox[QueueMessage], head: Callable[[], int]) -> None:
    """The queue's side of a subscriber: its head, and an empty ring (everything from storage)."""
    async for message in mailbox:
        if isinstance(message, GetHead):
            message.reply.set(head())
        elif isinstance(message, RingSlice):
            message.reply.set(())


@asynccontextmanager
async def attached(
    state: FakeState, start: StartPoint, **changes: object
) -> AsyncIterator[tuple[SubscriberActor, Subscription]]:
    """A subscriber named billing, attached at ``start``, its queue answering from ``state``."""
    queue_mailbox: Mailbox[QueueMessage] = Mailbox()
    subscriber = SubscriberActor(
        queue=QUEUE,
        name="billing",
        start=start,
        stored=None,
        head=len(state.log),
        queue_mailbox=queue_mailbox,
        state=state,  # type: ignore[arg-type]
        settings=settings(**changes),
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(answer_as_queue, queue_mailbox, lambda: len(state.log))
        reply: Reply[Subscription] = Reply()
        nursery.start_soon(subscriber.run, reply)
        subscription = await reply.get()
        yield subscriber, subscription
        nursery.cancel_scope.cancel()


async def offsets_until(subscription: Subscription, last: int) -> list[int]:
    got: list[int] = []
    with trio.fail_after(5):
        while not got or got[-1] < last:
            batch = await subscription.next_batch()
            assert batch is not None, subscription.end_reason()
            got.extend(d.offset for d in batch)
    return got


async def test_a_subscriber_catches_up_in_chunks_then_takes_live_batches_without_gap_or_repeat() -> (
    None
):
    state = FakeState(log=list(deliveries(1, 10)))
    async with attached(state, EARLIEST, replay_chunk=3) as (subscriber, subscription):
        assert await offsets_until(subscription, 10) == list(range(1, 11))
        assert sorted(state.reads) == [(1, 3), (4, 6), (7, 9), (10, 10)]  # read ahead, at once
        # Live batches as the queue offers them: one overlapping what was replayed, then new ones.
        state.log.extend(deliveries(11, 14))
        subscriber.offer(Committed(tuple(state.log[7:12])))  # offsets 8..12
        subscriber.offer(Committed(tuple(state.log[12:14])))  # offsets 13..14
        assert await offsets_until(subscription, 14) == list(range(11, 15))


async def test_a_batch_past_a_gap_is_filled_from_storage_first() -> None:
    state = FakeState(log=list(deliveries(1, 3)))
    async with attached(state, EARLIEST) as (subscriber, subscription):
        assert await offsets_until(subscription, 3) == [1, 2, 3]
        state.log.extend(deliveries(4, 9))
        subscriber.offer(Committed(tuple(state.log[6:9])))  # 7..9: the queue dropped 4..6 for it
        assert await offsets_until(subscription, 9) == [4, 5, 6, 7, 8, 9]


async def test_a_subscriber_whose_store_read_fails_ends_with_the_stores_message_and_no_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    state = FakeState(log=list(deliveries(1, 10)), read_error=Unavailable("store: disk I/O error"))
    queue = QueueActor(QUEUE, state, settings(), head=10)  # type: ignore[arg-type]
    caplog.set_level(logging.INFO, logger="router.actors")
    async with trio.open_nursery() as nursery:
        await nursery.start(queue.run)
        reply: Reply[Subscription] = Reply()
        await queue.mailbox.send(Attach("billing", EARLIEST, reply))
        subscription = await reply.get()
        with trio.fail_after(5):
            assert await subscription.next_batch() is None
            await subscription.slept.wait()
        nursery.cancel_scope.cancel()
    reason = subscription.end_reason()
    assert isinstance(reason, Unavailable)
    assert str(reason) == "store: disk I/O error"
    assert {n: r.acked for n, r in queue.sleeping.items()} == {"billing": 0}
    endings = [r for r in caplog.records if r.name == "router.actors"]
    assert endings and all(r.exc_info is None for r in endings)
    assert all(r.levelno == logging.INFO for r in endings)


async def test_a_silent_consumer_is_put_to_sleep_after_the_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    state = FakeState()
    async with attached(state, LATEST, consumer_timeout_s=30.0) as (_, subscription):
        started = trio.current_time()
        await trio.sleep(20)  # virtual time (MockClock): the consumer is silent for 20 s, then
        await subscription.heartbeat()  # the timeout counts from what was heard last
        assert await subscription.next_batch() is None
    assert trio.current_time() - started == pytest.approx(50, abs=0.5)
    reason = subscription.end_reason()
    assert isinstance(reason, DeadlineExceeded)
    assert "no ack or heartbeat for 30s" in str(reason)


async def test_an_ack_of_an_offset_never_delivered_is_refused_and_the_subscription_goes_on() -> (
    None
):
    state = FakeState(log=list(deliveries(1, 3)))
    async with attached(state, EARLIEST) as (_, subscription):
        await offsets_until(subscription, 3)
        await subscription.ack(5)
        with trio.fail_after(5):
            notice = await subscription.next_item()
        assert notice == Rejected(
            5, "never_delivered", "ack.offset: 5 was never delivered (last delivered 3)"
        )
        assert subscription.end_reason() is None


async def test_acks_are_saved_coalesced_at_most_once_per_interval(
    autojump_clock: trio.testing.MockClock,
) -> None:
    state = FakeState(log=list(deliveries(1, 3)))
    async with attached(state, EARLIEST, cursor_flush_interval_s=0.2) as (subscriber, subscription):
        await offsets_until(subscription, 3)
        acked_at = trio.current_time()
        for offset in (1, 2, 3):
            await subscription.ack(offset)
        with trio.fail_after(5):
            await state.cursor_saved.wait()
        assert trio.current_time() - acked_at == pytest.approx(0.2, abs=0.01)  # one interval
        assert state.cursor_saves == [("q1", "billing", 3)]
        assert subscriber.saved == (3, "")


async def test_a_catch_up_over_large_events_reads_what_fits_its_bytes_and_asks_for_no_more() -> (
    None
):
    large = [
        Delivery(d.offset, attrs.evolve(d.event, payload=b"x" * 300)) for d in deliveries(1, 20)
    ]
    state = FakeState(log=large)
    async with attached(state, EARLIEST, replay_chunk_bytes=1000) as (_, subscription):
        got: list[int] = []
        with trio.fail_after(5):
            while len(got) < 20:
                batch = await subscription.next_batch()
                assert batch is not None
                assert len(batch) == 1 or sum(sizes_of(batch)) <= 1000
                got.extend(d.offset for d in batch)
        assert got == list(range(1, 21))
        spans = [last - first + 1 for first, last in state.reads]
        assert spans[0] == 20 and max(spans[1:]) == 2  # once two fitted, two are asked for
