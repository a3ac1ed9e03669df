"""A queue's sleeping subscribers: their records (ack floor, ledger, settings, parked count),
and what is done to one while no consumer is attached.

A sleeping subscriber can be forgotten (its stored row deleted), have its cursor moved to a
start point (``ResetSubscriber``, the ledger dropped) or advanced like a cumulative ack (never
past what it delivered), and be settled by a pull consumer between its pulls (acks, nacks with
their due times, parks into the parked list). Each change is stored before the record is kept;
a subscriber with a consumer attached is refused (FAILED_PRECONDITION): its actor owns it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container, Sequence
from typing import Any

import attrs

from actors import settling
from actors.ledger import Ledger
from actors.messages import AdvanceCursor, ForgetSubscriber, MoveCursor, Settled, SettleSleeping
from actors.replay import first_offset
from actors.state import StateActor
from router.core.errors import FailedPrecondition, NotFound, OutOfRange, RouterError
from router.core.model import QueueRecord, SubscriberRecord, now_us

log = logging.getLogger("router.queue")


@attrs.define(eq=False)
class Sleepers:
    """The sleeping subscribers of ``queue`` (``records``, the queue's own map; ``since``, when
    each last changed state). ``active`` names the running ones; ``parked`` is told the name
    of one that parked events."""

    queue: QueueRecord
    state: StateActor
    records: dict[str, SubscriberRecord]
    since: dict[str, int]
    active: Container[str]
    parked: Callable[[str], None] = lambda name: None

    def record(self, name: str, otherwise: str) -> SubscriberRecord:
        """``name``'s record; refused when it is running (``otherwise`` says what to do)."""
        if name in self.active:
            raise FailedPrecondition(f"subscriber: {name!r} has a consumer attached; {otherwise}")
        record = self.records.get(name)
        if record is None:
            raise NotFound(f"subscriber: no subscriber {name!r} on this queue")
        return record

    async def change(
        self, message: ForgetSubscriber | MoveCursor | AdvanceCursor, head: int
    ) -> None:
        """Forget one, or set its cursor; answers ``message`` (the new floor)."""
        name = message.name
        reply: Any = message.reply
        try:
            was = self.record(name, "stop it first")
            if isinstance(message, ForgetSubscriber):
                await self._forget(name)
                reply.set(None)
                return
            if isinstance(message, AdvanceCursor):
                record = advanced(was, message.offset, head)
                if record is was:
                    reply.set(was.acked)
                    return
            else:
                exchange_id = self.queue.exchange_id
                found = await first_offset(message.start, head, exchange_id, self.state, "to")
                record = attrs.evolve(was, acked=found - 1, ledger="")
            await self.state.save_subscriber(record)
        except RouterError as error:
            reply.fail(error)
            return
        self.records[name] = record
        self.since[name] = now_us()
        log.info(
            "subscriber cursor set queue=%s subscriber=%s acked=%d",
            self.queue.id,
            name,
            record.acked,
        )
        reply.set(record.acked)

    async def _forget(self, name: str) -> None:
        queue_id = self.queue.id
        await self.state.write(lambda storage: storage.delete_subscriber(queue_id, name))
        del self.records[name]
        self.since.pop(name, None)

    async def settle(self, message: SettleSleeping, head: int) -> None:
        """A pull consumer's settlement of a sleeping subscriber: checked whole, then stored
        (the parked list first, then the record); answers ``message``."""
        name, queue_id = message.name, self.queue.id
        try:
            record = self.record(name, "settle over its stream")
            ledger = Ledger.restore(record.acked, record.ledger)
            if record.parked:
                above, redriving = await self.state.write(
                    lambda storage: storage.parked_state(queue_id, name, ledger.floor)
                )
                ledger.take_parked(above, redriving)
            plan = settling.Settlement(ledger, head, record.settings)
            plan.check(message)
        except RouterError as error:
            message.reply.fail(error)
            return
        redriven = [o for o in plan.acks if o in ledger.redriving]
        saved = settled(record, ledger, plan, redriven)

        def store(storage: Any) -> None:
            for park in plan.parks:
                storage.park(queue_id, name, park)
            if redriven:
                storage.unpark(queue_id, name, redriven)

        try:
            await self.state.write(store)
            await self.state.save_subscriber(saved)
        except RouterError as error:
            message.reply.fail(error)
            return
        self.records[name] = saved
        if plan.parks:
            self.parked(name)
        message.reply.set(
            Settled(
                ledger.floor,
                tuple(plan.acks),
                tuple(plan.nacks.items()),
                tuple(p.offset for p in plan.parks),
            )
        )

    def discarded(self, name: str, offsets: Sequence[int]) -> None:
        """Parked events of ``name`` removed from its parked list."""
        record = self.records[name]
        left = record.parked - len(offsets)
        self.records[name] = attrs.evolve(
            record, parked=left, parked_since=record.parked_since if left else 0
        )


def advanced(was: SubscriberRecord, offset: int, head: int) -> SubscriberRecord:
    """``was`` with its cursor advanced to ``offset`` like a cumulative ack (``was`` itself when
    it is there already); refused past the head or past what it delivered."""
    if offset > head or offset < 0:
        raise OutOfRange(f"offset: {offset} is outside 0..{head} (the head)")
    ledger = Ledger.restore(was.acked, was.ledger)
    if offset > ledger.high:  # moving past that is a reset's, not an ack's
        raise FailedPrecondition(
            f"offset: {offset} was never delivered (last delivered {ledger.high})"
        )
    if not ledger.settle_upto(offset):
        return was
    return attrs.evolve(was, acked=ledger.floor, ledger=ledger.to_json())


def settled(
    record: SubscriberRecord, ledger: Ledger, plan: settling.Settlement, redriven: list[int]
) -> SubscriberRecord:
    """``record`` once ``plan`` (checked against ``ledger``) is applied to ``ledger``."""
    parked, parked_since = record.parked, record.parked_since
    for park in plan.parks:
        if park.offset not in ledger.redriving:
            parked += 1
        parked_since = parked_since or park.parked_at
    parked -= len(redriven)
    for offset in plan.acks:
        ledger.settle(offset)
    for park in plan.parks:
        ledger.settle(park.offset)
    ledger.due.update(plan.nacks)
    return attrs.evolve(
        record,
        acked=ledger.floor,
        ledger=ledger.to_json(),
        parked=parked,
        parked_since=parked_since if parked else 0,
    )
