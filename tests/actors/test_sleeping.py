"""A queue's sleeping subscribers on their own: forgotten, reset, advanced and settled while no
consumer is attached, each change stored before it is kept, and refused while one runs."""

from __future__ import annotations

import pytest

from actors.messages import AdvanceCursor, ForgetSubscriber, MoveCursor, Settled, SettleSleeping
from actors.runtime import Reply
from actors.sleeping import Sleepers
from router.core.errors import FailedPrecondition, InvalidArgument, NotFound, OutOfRange
from router.core.model import QueueConfig, QueueRecord, StartKind, StartPoint, SubscriberRecord
from tests.helpers.fakes import FakeState, deliveries

QUEUE = QueueRecord("q1", 1, QueueConfig("orders", 100))


def sleepers(
    state: FakeState, *records: SubscriberRecord, active: tuple[str, ...] = ()
) -> Sleepers:
    records_by_name = {r.name: r for r in records}
    return Sleepers(QUEUE, state, records_by_name, {}, set(active))  # type: ignore[arg-type]


async def test_a_running_subscriber_is_refused_and_an_unknown_one_is_not_found() -> None:
    found = sleepers(FakeState(), active=("billing",))
    reply: Reply[None] = Reply()
    await found.change(ForgetSubscriber("billing", reply), head=5)
    with pytest.raises(FailedPrecondition, match="has a consumer attached; stop it first"):
        await reply.get()
    reply = Reply()
    await found.change(ForgetSubscriber("nobody", reply), head=5)
    with pytest.raises(NotFound):
        await reply.get()


async def test_a_forgotten_subscriber_is_deleted_and_a_reset_one_drops_its_ledger() -> None:
    state = FakeState(log=list(deliveries(1, 9)))
    state.cursors[("q1", "old")] = 3
    found = sleepers(
        state, SubscriberRecord("q1", "old", 3), SubscriberRecord("q1", "s", 4, ledger='{"high":6}')
    )
    found.since.update({"old": 1, "s": 1})
    forgotten: Reply[None] = Reply()
    await found.change(ForgetSubscriber("old", forgotten), head=9)
    await forgotten.get()
    assert "old" not in found.records and "old" not in found.since
    assert ("q1", "old") not in state.cursors
    moved: Reply[int] = Reply()
    await found.change(MoveCursor("s", StartPoint(StartKind.EARLIEST), moved), head=9)
    assert await moved.get() == 0
    assert (found.records["s"].acked, found.records["s"].ledger) == (0, "")
    assert state.cursors[("q1", "s")] == 0 and found.since["s"] > 1


async def test_an_advance_moves_the_cursor_only_over_what_was_delivered() -> None:
    state = FakeState()
    found = sleepers(state, SubscriberRecord("q1", "s", 2, ledger='{"high":6}'))
    for offset, error in ((9, OutOfRange), (7, FailedPrecondition)):
        refused: Reply[int] = Reply()
        await found.change(AdvanceCursor("s", offset, refused), head=8)
        with pytest.raises(error):
            await refused.get()
    unchanged: Reply[int] = Reply()
    await found.change(AdvanceCursor("s", 1, unchanged), head=8)
    assert await unchanged.get() == 2 and state.cursors == {}  # nothing to store
    advanced: Reply[int] = Reply()
    await found.change(AdvanceCursor("s", 5, advanced), head=8)
    assert await advanced.get() == 5 and state.cursors[("q1", "s")] == 5
    assert found.records["s"].ledger == '{"high":6}'


async def test_a_settlement_stores_its_parks_then_the_record_and_says_what_it_did() -> None:
    state = FakeState()
    found = sleepers(state, SubscriberRecord("q1", "s", 0, ledger='{"high":4}'))
    told: list[str] = []
    found.parked = told.append
    reply: Reply[Settled] = Reply()
    await found.settle(SettleSleeping("s", ((1, 2),), ((4, 30.0),), ((3, "bad"),), reply), head=4)
    done = await reply.get()
    assert (done.acked_offset, done.acked, done.parked) == (3, (1, 2), (3,))
    assert [offset for offset, _due in done.nacked] == [4]
    record = found.records["s"]
    assert (record.acked, record.parked) == (3, 1) and record.parked_since > 0
    assert state.parked[("q1", "s")][3].reason == "bad" and told == ["s"]
    assert state.cursors[("q1", "s")] == 3
    found.discarded("s", [3])
    assert (found.records["s"].parked, found.records["s"].parked_since) == (0, 0)


async def test_a_settlement_with_a_bad_part_changes_nothing() -> None:
    state = FakeState()
    before = SubscriberRecord("q1", "s", 0, ledger='{"high":4}')
    found = sleepers(state, before)
    reply: Reply[Settled] = Reply()
    await found.settle(SettleSleeping("s", ((1, 2), (2, 3)), (), (), reply), head=4)
    with pytest.raises(InvalidArgument, match="named twice"):
        await reply.get()
    assert found.records["s"] is before and state.cursors == {}
