"""The values the client hands in and gets back: events to publish, receipts, received events and
batches, and start points on the wire.

    event = OutgoingEvent("order.created", b'{"id": 1}')       # id: a new UUIDv7 unless given
    (receipt,) = await client.publish([event])                 # PublishReceipt: where it is stored
    batch: ReceivedBatch                                       # a Sequence[ReceivedEvent]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, overload

import attrs
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from router._proto.router.v1 import router_pb2 as pb
from router.core import validation
from router.core.ids import uuid7
from router.core.model import StartKind

_KINDS = {
    StartKind.STORED: pb.StartPoint.STORED,
    StartKind.EARLIEST: pb.StartPoint.EARLIEST,
    StartKind.LATEST: pb.StartPoint.LATEST,
    StartKind.OFFSET: pb.StartPoint.OFFSET,
    StartKind.TIME: pb.StartPoint.TIME,
}


@attrs.frozen
class OutgoingEvent:
    """An event to publish; ``id`` is the idempotency key (a new UUIDv7 unless given)."""

    type: str
    payload: bytes = b""
    headers: dict[str, str] = attrs.Factory(dict)
    id: str = attrs.Factory(uuid7)

    def to_pb(self) -> pb.Event:
        return pb.Event(id=self.id, type=self.type, payload=self.payload, headers=self.headers)


@attrs.frozen
class PublishReceipt:
    """Where a published event is stored: its ``seq`` and its offset in each matching exchange;
    ``duplicate`` when its id was stored already (the first storing's place is given)."""

    id: str
    seq: int
    duplicate: bool
    offsets: dict[str, int]


@attrs.define(slots=True)  # not frozen: one per event received, and frozen attrs build slowly
class ReceivedEvent:
    """A delivered event at its ``offset`` in the exchange."""

    offset: int
    id: str
    type: str
    payload: bytes
    headers: dict[str, str]
    seq: int
    published_at_us: int
    delivery_count: int = 1  # 2 and up: delivered again (nacked, unsettled in time, re-driven)
    # Set by DurableConsumer: the consumer that settles this event.
    settler: Settler | None = attrs.field(default=None, eq=False, repr=False)

    async def ack(self) -> None:
        """This event is handled (only for events from a DurableConsumer)."""
        await self._settler("ack").ack(self)

    async def nack(self, delay: float | None = None, reason: str = "") -> None:
        """Deliver this event again: after ``delay`` seconds, or the subscriber's back-off.
        ``reason`` (why it failed) becomes the parked reason if this was its last delivery."""
        await self._settler("nack").nack(self, delay, reason)

    async def park(self, reason: str = "") -> None:
        """Give up on this event: the router keeps it in the subscriber's parked list."""
        await self._settler("park").park(self, reason)

    def _settler(self, what: str) -> Settler:
        if self.settler is None:
            raise RuntimeError(f"{what}(): this event did not come from a DurableConsumer")
        return self.settler


class Settler(Protocol):
    async def ack(self, event: ReceivedEvent) -> None: ...
    async def nack(
        self, event: ReceivedEvent, delay: float | None = None, reason: str = ""
    ) -> None: ...
    async def park(self, event: ReceivedEvent, reason: str = "") -> None: ...


def start_point(text: str) -> pb.StartPoint:
    """``stored | earliest | latest | offset:N | time:ISO8601`` as the wire's StartPoint."""
    point = validation.start_point(text)
    message = pb.StartPoint(kind=_KINDS[point.kind])
    if point.kind is StartKind.OFFSET:
        message.offset = point.value
    elif point.kind is StartKind.TIME:
        message.time_us = point.value
    return message


class ReceivedBatch(Sequence[ReceivedEvent]):
    """The events of one delivered batch, in offset order.

    The batch arrives as one protobuf message, parsed in C; each event becomes a Python
    ``ReceivedEvent`` only when it is looked at (and then stays the same object), so a consumer
    that counts, forwards or acks a batch by its last offset pays per batch, not per event.
    """

    __slots__ = ("_deliveries", "_events")

    def __init__(self, batch: pb.EventBatch) -> None:
        self._deliveries = batch.deliveries
        self._events: list[ReceivedEvent | None] = [None] * len(self._deliveries)

    def __len__(self) -> int:
        return len(self._events)

    @overload
    def __getitem__(self, index: int) -> ReceivedEvent: ...

    @overload
    def __getitem__(self, index: slice) -> list[ReceivedEvent]: ...

    def __getitem__(self, index: int | slice) -> ReceivedEvent | list[ReceivedEvent]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self._events)))]
        event = self._events[index]
        if event is None:
            delivery = self._deliveries[index]
            wire = delivery.event
            headers = wire.headers
            event = self._events[index] = ReceivedEvent(
                delivery.offset,
                wire.id,
                wire.type,
                wire.payload,
                dict(headers) if headers else {},
                wire.seq,
                wire.published_at_us,
                delivery.delivery_count or 1,
            )
        return event

    def __iter__(self) -> Iterator[ReceivedEvent]:
        for index in range(len(self._events)):
            yield self[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (list, tuple, ReceivedBatch)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable events inside, like a list

    def __repr__(self) -> str:
        return f"ReceivedBatch({list(self)!r})"


def received(batch: pb.EventBatch) -> ReceivedBatch:
    return ReceivedBatch(batch)


def receipts(response: pb.PublishResponse) -> list[PublishReceipt]:
    """The receipts of one published batch; a batch a PublishStream refused (``refused``) raises
    the GRPCError a Publish of it would have raised."""
    if response.HasField("refused"):
        refused = response.refused
        raise GRPCError(Status(refused.code), refused.message)
    return [
        PublishReceipt(a.id, a.seq, a.duplicate, {o.exchange: o.offset for o in a.offsets})
        for a in response.acks
    ]
