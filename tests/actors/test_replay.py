"""Replay on its own: start points become offsets, gap notices are owed once, and a catch-up
reads in chunks bounded by events, bytes and a pull's budgets, sending only what follows on."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import attrs
import trio

from actors.messages import Gap, QueueMessage, RingSlice
from actors.replay import Replay
from actors.runtime import Mailbox
from actors.subscription import Consumer, Subscription
from router.core.model import (
    Delivery,
    QueueConfig,
    QueueRecord,
    StartKind,
    StartPoint,
    SubscriberRecord,
)
from router.core.settings import Settings
from storage.retention import Horizon
from tests.helpers.fakes import FakeState, deliveries

QUEUE = QueueRecord("q1", 1, QueueConfig("orders", 100))


async def empty_ring(mailbox: Mailbox[QueueMessage]) -> None:
    async for message in mailbox:
        if isinstance(message, RingSlice):
            message.reply.set(())


@asynccontextmanager
async def replaying(
    state: FakeState, pull: Consumer | None = None, **changes: object
) -> AsyncIterator[Replay]:
    mailbox: Mailbox[QueueMessage] = Mailbox()
    settings = Settings(db_url="sqlite:///unused.db", **changes)  # type: ignore[arg-type]
    replay = Replay(QUEUE, mailbox, state, settings, lambda: pull)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(empty_ring, mailbox)
        yield replay
        nursery.cancel_scope.cancel()


def a_pull(budget: int, bytes_budget: int = -1) -> Consumer:
    outbox, batches = trio.open_memory_channel[object](1)
    control_in, control = trio.open_memory_channel[object](1)
    subscription = Subscription("q1", "s", 1, 0, batches, control_in)  # type: ignore[arg-type]
    return Consumer("a", 10, subscription, outbox, control, budget, bytes_budget)  # type: ignore[arg-type]


async def test_a_stored_start_resumes_after_the_cursor_and_a_new_one_after_the_head() -> None:
    async with replaying(FakeState(log=list(deliveries(1, 5)))) as replay:
        stored = StartPoint(StartKind.STORED)
        assert await replay.start_at(stored, SubscriberRecord("q1", "s", 3), 5) == 4
        assert await replay.start_at(stored, None, 5) == 6
        assert await replay.start_at(StartPoint(StartKind.OFFSET, 2), None, 5) == 2
        assert replay.gap is None


async def test_a_time_start_before_the_horizon_owes_one_gap_notice_and_removal_owes_its_own() -> (
    None
):
    state = FakeState(log=list(deliveries(1, 9)))
    state.remove_before(1, 4)
    state.horizon = Horizon(tails=state.horizon.tails, removed_until=3_000)
    async with replaying(state) as replay:
        assert await replay.start_at(StartPoint(StartKind.TIME, 1_000), None, 9) == 4
        assert replay.gap_before(4, "s") == Gap(0, 3)
        assert replay.gap_before(4, "s") is None  # told once
        state.remove_before(1, 7)
        assert replay.gap_before(4, "s") == Gap(4, 6)
        assert (state.gap_notices, state.gap_events) == (2, 3)


async def test_a_catch_up_sends_contiguous_chunks_up_to_the_head_reading_ahead() -> None:
    state = FakeState(log=list(deliveries(1, 10)))
    sent: list[int] = []

    async def send(batch: Sequence[Delivery]) -> None:
        sent.extend(d.offset for d in batch)

    async with replaying(state, replay_chunk=4) as replay:
        assert await replay.catch_up(1, 10, send)
    assert sent == list(range(1, 11))
    assert sorted(state.reads) == [(1, 4), (5, 8), (9, 10)]


async def test_a_pulls_budget_bounds_each_read_and_reads_one_at_a_time() -> None:
    state = FakeState(log=list(deliveries(1, 10)))
    pull = a_pull(budget=3)
    async with replaying(state, pull) as replay:
        assert replay.reading() == (3, 1)
        pull.bytes_budget = 5
        assert replay.pull_bytes() == 5
        assert [d.offset for d in await replay.fetch(1, 3)] == [1]  # one at least


async def test_chunks_cut_short_by_their_bytes_make_the_next_reads_ask_for_what_fitted() -> None:
    large = [
        Delivery(d.offset, attrs.evolve(d.event, payload=b"x" * 300)) for d in deliveries(1, 8)
    ]
    state = FakeState(log=large)
    sent: list[int] = []

    async def send(batch: Sequence[Delivery]) -> None:
        sent.extend(d.offset for d in batch)

    async with replaying(state, replay_chunk_bytes=1000) as replay:
        assert await replay.catch_up(1, 8, send)
        assert replay.fit == len(sent) < 8
        assert replay.reading()[0] == replay.fit


async def test_nothing_to_read_is_false_unless_retention_removed_it() -> None:
    state = FakeState(log=[])

    async def send(batch: Sequence[Delivery]) -> None:
        raise AssertionError("nothing to send")

    async with replaying(state) as replay:
        assert not await replay.catch_up(1, 5, send)  # deleted: the caller waits
        state.remove_before(1, 6)
        assert await replay.catch_up(1, 5, send)  # removed: the caller sends a gap notice
