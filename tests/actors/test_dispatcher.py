"""The Dispatcher on its own: a fake state actor whose commits the test completes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

from actors.dispatcher import Dispatcher
from actors.runtime import Callback, Mailbox
from router.core.errors import Unavailable
from router.core.model import Delivery, ExchangeRecord, NewEvent, PublishAck, StoredEvent
from router.core.settings import Settings
from storage.base import CommitResult, EventOutcome, Positions
from tests.helpers.fakes import FakeState

EXCHANGES = (
    ExchangeRecord(1, "orders", ("order.*",), 0),
    ExchangeRecord(2, "everything", ("#",), 0),
)


def event(type_: str) -> NewEvent:
    return NewEvent(str(uuid.uuid4()), type_, b"{}")


@asynccontextmanager
async def running_dispatcher(state: FakeState) -> AsyncIterator[Dispatcher]:
    dispatcher = Dispatcher(state, Settings(db_url="sqlite:///unused.db"))  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        await nursery.start(dispatcher.run, EXCHANGES)
        yield dispatcher
        nursery.cancel_scope.cancel()


async def test_waiting_publishes_share_one_append_routed_by_pattern_and_are_acked_after_it() -> (
    None
):
    state = FakeState()
    acks: dict[str, list[PublishAck]] = {}
    async with running_dispatcher(state) as dispatcher:
        first, second = event("order.created"), event("user.deleted")

        async def publish(name: str, new: NewEvent) -> None:
            acks[name] = list(await dispatcher.publish((new,)))

        async with trio.open_nursery() as publishers:
            publishers.start_soon(publish, "first", first)
            publishers.start_soon(publish, "second", second)
            with trio.fail_after(5):
                while not state.appends:
                    await state.appended.wait()
            await trio.testing.wait_all_tasks_blocked()
            ((appends, reply),) = state.appends  # one append for both publishes
            routes = {a.events[0].id: a.routes[0] for a in appends}
            assert routes == {first.id: (1, 2), second.id: (2,)}
            assert acks == {}  # nothing acked before the commit
            stored = [
                StoredEvent(n, e.id, e.type, b"{}", (), n) for n, e in ((1, first), (2, second))
            ]
            outcomes = {
                first.id: EventOutcome(1, False, ((1, 1), (2, 1))),
                second.id: EventOutcome(2, False, ((2, 2),)),
            }
            reply.set(
                CommitResult(
                    [outcomes[a.events[0].id] for a in appends],
                    {
                        1: [Delivery(1, stored[0])],
                        2: [Delivery(1, stored[0]), Delivery(2, stored[1])],
                    },
                    Positions(2, 2, {1: 1, 2: 2}),
                )
            )
        assert acks["first"][0].seq == 1
        assert dict(acks["first"][0].offsets) == {"orders": 1, "everything": 1}
        assert dict(acks["second"][0].offsets) == {"everything": 2}
        await trio.testing.wait_all_tasks_blocked()
        assert dispatcher.exchanges[1].head == 1  # the deliveries went on to the exchanges
        assert dispatcher.exchanges[2].head == 2
        assert dispatcher.published == 2


async def test_a_failed_commit_fails_every_publish_in_it_with_the_stores_error() -> None:
    state = FakeState()
    errors: list[BaseException] = []
    async with running_dispatcher(state) as dispatcher:

        async def publish() -> None:
            with pytest.raises(Unavailable) as raised:
                await dispatcher.publish((event("order.created"),))
            errors.append(raised.value)

        async with trio.open_nursery() as publishers:
            publishers.start_soon(publish)
            publishers.start_soon(publish)
            with trio.fail_after(5):
                while not state.appends:
                    await state.appended.wait()
            await trio.testing.wait_all_tasks_blocked()
            for _, reply in state.appends:
                reply.fail(Unavailable("store: disk full"))
        assert [str(e) for e in errors] == ["store: disk full", "store: disk full"]
        assert dispatcher.published == 0


async def test_publishes_from_callbacks_keep_their_order_while_the_mailbox_is_full() -> None:
    state = FakeState()
    dispatcher = Dispatcher(
        state,  # type: ignore[arg-type]
        Settings(db_url="sqlite:///unused.db"),
        mailbox=Mailbox(2),
    )
    told: list[tuple[int, bool]] = []
    sent = [event("order.created") for _ in range(12)]
    async with trio.open_nursery() as nursery:
        await nursery.start(dispatcher.run, EXCHANGES)
        for number, new in enumerate(sent):  # the first append waits: the mailbox fills up
            dispatcher.publish_soon(
                (new,), Callback(told=lambda value, failed, n=number: told.append((n, failed)))
            )
        committed: list[str] = []
        seq = 0
        with trio.fail_after(5):
            while len(committed) < len(sent):
                while not _open(state):
                    await state.appended.wait()
                await trio.testing.wait_all_tasks_blocked()
                appends, reply = next(a for a in state.appends if not a[1].done)
                ids = [e.id for append in appends for e in append.events]
                committed += ids
                outcomes = [EventOutcome(seq + i + 1, False, ()) for i in range(len(ids))]
                seq += len(ids)
                reply.set(CommitResult(outcomes, {}, Positions(seq, seq, {})))
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert committed == [e.id for e in sent]  # in the order of the calls
    assert sorted(told) == [(n, False) for n in range(len(sent))]


def _open(state: FakeState) -> bool:
    return any(not reply.done for _, reply in state.appends)
