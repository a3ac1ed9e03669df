"""Random lives of one shared, pinned subscriber: consumers that ack, nack and park at random,
leave and join, and a router that restarts or is killed (its unsaved state lost) in between.

The actors run for real (a QueueActor and its SubscriberActor) on a fake state actor and Trio's
MockClock. Checked: a key's events are never out with two consumers at once; nothing whose
settlement was saved is delivered again after a restart or a kill; at the end every offset is
settled, and the parked list holds exactly the events parked (by a consumer, or by the router
past max_deliveries), each once.
"""

from __future__ import annotations

import copy
from typing import Any

import attrs
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.ledger import Ledger
from actors.messages import Attach, Rejected
from actors.queue import QueueActor
from actors.runtime import ask
from actors.subscriber import Subscription
from router.core.delivery import DeliverySettings
from router.core.model import (
    Delivery,
    QueueConfig,
    QueueRecord,
    StartKind,
    StartPoint,
    StoredEvent,
    SubscriberRecord,
)
from router.core.settings import Settings
from tests.helpers.fakes import FakeState

EVENTS = 24
KEYS = 4
RECORD = QueueRecord("q1", 1, QueueConfig("orders", 8))
SETTINGS = {
    "mode": "shared",
    "max_consumers": 3,
    "prefetch": 3,
    "dispatch": "pinned",
    "key_header": "account",
    "max_deliveries": 3,
    "backoff_initial_s": 1.0,
    "ack_wait_s": 100_000.0,  # no expiry here: a consumer's own view of what it holds is exact
}


def log() -> list[Delivery]:
    return [
        Delivery(
            o, StoredEvent(o, f"id-{o}", "order.created", b"", (("account", f"k{o % KEYS}"),), 0)
        )
        for o in range(1, EVENTS + 1)
    ]


@attrs.define(eq=False)
class Model:
    held: dict[int, set[int]] = attrs.Factory(dict)  # consumer -> offsets it holds
    parked_by_consumer: set[int] = attrs.Factory(set)
    durable: set[int] = attrs.Factory(set)  # offsets whose settlement was saved
    problems: list[str] = attrs.Factory(list)

    def key_holders(self, offset: int) -> set[int]:
        key = offset % KEYS
        return {c for c, held in self.held.items() if any(o % KEYS == key for o in held)}


operations = st.lists(
    st.one_of(
        st.tuples(st.just("ack"), st.integers(0, 2), st.integers(0, 10)),
        st.tuples(st.just("nack"), st.integers(0, 2), st.integers(0, 10)),
        st.tuples(st.just("park"), st.integers(0, 2), st.integers(0, 10)),
        st.tuples(st.just("leave"), st.integers(0, 2), st.just(0)),
        st.tuples(st.just("join"), st.just(0), st.just(0)),
        st.tuples(st.just("restart"), st.just(0), st.just(0)),
        st.tuples(st.just("kill"), st.just(0), st.just(0)),
        st.tuples(st.just("wait"), st.just(0), st.integers(1, 4)),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_a_shared_pinned_subscriber_settles_everything_once(
    ops: list[tuple[str, int, int]],
) -> None:
    trio.run(_life, ops, clock=trio.testing.MockClock(autojump_threshold=0))


async def _life(ops: list[tuple[str, int, int]]) -> None:
    state = FakeState(log=log())
    model = Model()
    record: SubscriberRecord | None = None
    for round_ops in _rounds(ops):
        record = await _run_router(state, model, record, round_ops)
    # Drain: one consumer settles whatever is left.
    await _run_router(state, model, record, [], drain=True)
    assert not model.problems, model.problems
    floor = state.cursors[("q1", "billing")]
    assert floor == EVENTS
    parked = {p.offset: p for p in state.parked_events("q1", "billing")}
    assert model.parked_by_consumer <= set(parked)
    for offset, event in parked.items():
        if offset not in model.parked_by_consumer:
            assert event.reason.startswith("delivered "), event
            assert event.deliveries >= SETTINGS["max_deliveries"] - 1  # a kill can lose one
    assert not (set(parked) & (model.durable - model.parked_by_consumer - set(parked)))


def _rounds(ops: list[tuple[str, int, int]]) -> list[list[tuple[str, int, int]]]:
    """The operations split at each restart or kill (kept at the end of its round)."""
    rounds: list[list[tuple[str, int, int]]] = [[]]
    for op in ops:
        rounds[-1].append(op)
        if op[0] in ("restart", "kill"):
            rounds.append([])
    return rounds


async def _run_router(
    state: FakeState,
    model: Model,
    record: SubscriberRecord | None,
    ops: list[tuple[str, int, int]],
    drain: bool = False,
) -> SubscriberRecord:
    queue = QueueActor(
        RECORD,
        state,  # type: ignore[arg-type]
        Settings(db_url="sqlite:///unused.db", consumer_timeout_s=float("inf")),
        head=EVENTS,
        sleeping={record.name: record} if record is not None else {},
    )
    consumers: dict[int, Subscription] = {}
    model.held = {}
    killed = False
    saved: Any = None
    async with trio.open_nursery() as nursery:
        await nursery.start(queue.run)

        async def collect(index: int, subscription: Subscription) -> None:
            while (item := await subscription.next_item()) is not None:
                if isinstance(item, Rejected):
                    model.problems.append(f"rejected {item}")
                    continue
                for delivery in item:
                    offset = delivery.offset
                    if offset in model.durable:
                        model.problems.append(f"{offset} delivered again after it was settled")
                    others = model.key_holders(offset) - {index}
                    if others:
                        model.problems.append(f"key of {offset} also held by {others}")
                    model.held.setdefault(index, set()).add(offset)

        async def join() -> None:
            index = max([*consumers, -1]) + 1
            if len(consumers) >= 3:
                return
            known = "billing" in queue.sleeping or "billing" in queue.active
            start = StartPoint(StartKind.STORED if known else StartKind.EARLIEST)
            subscription: Subscription = await ask(
                queue.mailbox, lambda r: Attach("billing", start, r, f"c{index}", SETTINGS)
            )
            consumers[index] = subscription
            model.held[index] = set()
            nursery.start_soon(collect, index, subscription)

        async def leave(index: int) -> None:
            subscription = consumers.pop(index)
            model.held.pop(index, None)  # what it held goes to the others
            await subscription.close()
            model.held.pop(index, None)

        await join()
        for name, who, pick in ops:
            live = sorted(consumers)
            index = live[who % len(live)] if live else None
            held = sorted(model.held.get(index, ())) if index is not None else []
            if name in ("ack", "nack", "park") and held:
                offset = held[pick % len(held)]
                model.held[index].discard(offset)  # type: ignore[index]
                subscription = consumers[index]  # type: ignore[index]
                if name == "ack":
                    await subscription.settle([(offset, offset)])
                elif name == "nack":
                    await subscription.nack(offset, None)
                else:
                    await subscription.park(offset, "model")
                    model.parked_by_consumer.add(offset)
            elif name == "leave" and index is not None:
                await leave(index)
            elif name == "join":
                await join()
            elif name == "wait":
                await trio.sleep(pick)  # the "wait" step: virtual time passes (back-offs fall due)
            elif name == "kill":
                saved = _snapshot(state)  # what was saved when the process died
                killed = True
            await trio.testing.wait_all_tasks_blocked()  # the actors take the message
            if not consumers and not killed:
                await join()
        if drain:
            if not consumers:
                await join()
            with trio.fail_after(10_000):
                while state.cursors.get(("q1", "billing"), 0) < EVENTS:
                    for index, subscription in list(consumers.items()):
                        for offset in sorted(model.held.get(index, ())):
                            model.held[index].discard(offset)
                            await subscription.settle([(offset, offset)])
                    await trio.sleep(1)  # the mock clock: lets redeliveries and saves happen
            for index in list(consumers):
                await leave(index)
        elif not killed:
            for index in list(consumers):
                await leave(index)
        nursery.cancel_scope.cancel()
    if killed:
        _restore(state, saved)
    floor = state.cursors[("q1", "billing")]
    ledger = Ledger.restore(floor, state.ledgers.get(("q1", "billing"), ""))
    model.durable |= {o for o in range(1, EVENTS + 1) if ledger.is_settled(o)}
    parked = state.parked_events("q1", "billing")
    return SubscriberRecord(
        "q1",
        "billing",
        floor,
        DeliverySettings.make(**SETTINGS),
        state.ledgers.get(("q1", "billing"), ""),
        len(parked),
        min((p.parked_at for p in parked), default=0),
    )


def _snapshot(state: FakeState) -> Any:
    return copy.deepcopy((state.cursors, state.ledgers, state.parked))


def _restore(state: FakeState, saved: Any) -> None:
    state.cursors, state.ledgers, state.parked = copy.deepcopy(saved)
