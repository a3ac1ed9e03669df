"""The subscription protocol: what a consumer's edge holds of its subscriber.

A :class:`Subscription` is the edge's handle: delivery batches and notices (:data:`Outgoing`)
come down its ``batches`` channel, and the consumer's settles, nacks, parks and heartbeats
(:data:`ConsumerMessage`) go up its ``control`` channel. A :class:`Consumer` is the subscriber's
side of the same attachment. The edges (gRPC, REST, AMQP) import this module and no other actor
module, and it imports no actor module itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import attrs
import trio

from router.core.errors import RouterError
from router.core.model import Delivery

OUTBOX_ITEMS = 8  # items (batches, notices) a shared subscriber's consumer's edge has not taken


# --- from a consumer (through its Subscription) to its SubscriberActor ---


@attrs.frozen
class Ack:
    """Every offset up to ``offset`` is handled. Sent by the consumer's edge
    (``Subscription.ack``/``post_ack``); handled by the SubscriberActor."""

    offset: int


@attrs.frozen
class Heartbeat:
    """The consumer is alive. Sent by the consumer's edge; handled by the SubscriberActor."""


@attrs.frozen
class Settle:
    """Each offset of each (first, last) range is handled. Sent by the consumer's edge
    (``Subscription.settle``); handled by the SubscriberActor."""

    ranges: tuple[tuple[int, int], ...]


@attrs.frozen
class Nack:
    """Deliver ``offset`` again after ``delay_s`` (None: the subscriber's back-off); ``reason``
    (checked like a park's) is kept as the parked reason when this nack reaches the subscriber's
    ``max_deliveries``. Sent by the consumer's edge; handled by the SubscriberActor."""

    offset: int
    delay_s: float | None = None
    reason: str = ""  # why the consumer failed: the parked reason if this nack spends the event


@attrs.frozen
class Park:
    """Give up on ``offset``: settle it into the parked list. Sent by the consumer's edge;
    handled by the SubscriberActor."""

    offset: int
    reason: str = ""


@attrs.frozen
class Rejected:
    """An ack, settle, nack or park that changed nothing. Sent by the SubscriberActor down the
    consumer's batches channel; the edge tells the consumer (gRPC ``SettleRejected``)."""

    offset: int
    code: str  # never_delivered | not_held | already_settled | invalid
    message: str


@attrs.frozen
class Gap:
    """Offsets ``first``..``last`` of the exchange that the consumer will never get: retention
    removed them before the subscriber reached them (``first`` 0: not known, a time start).
    Sent by the SubscriberActor down each consumer's batches channel before the batches after
    them; the edge tells the consumer (gRPC ``Gap``, a REST pull's ``gap``)."""

    first: int
    last: int
    reason: str = "retention"


ConsumerMessage = Ack | Heartbeat | Settle | Nack | Park
Outgoing = Sequence[Delivery] | Rejected | Gap


@attrs.define(eq=False)
class Subscription:
    """What a consumer's edge holds: batches to send, and a way to settle, beat and leave.

    ``batches`` carries delivery batches and :class:`Rejected` notices; it ends
    (``trio.EndOfChannel``) when the consumer is detached; ``ended`` then says why (None: the
    consumer left). Closing the handle detaches the consumer (the subscriber sleeps when it was
    the last one).
    """

    queue_id: str
    name: str
    start_offset: int
    head: int
    batches: trio.MemoryReceiveChannel[Outgoing]
    control: trio.MemorySendChannel[ConsumerMessage]
    ended: list[RouterError] = attrs.Factory(list)
    slept: trio.Event = attrs.Factory(trio.Event)
    late_ack: int = 0
    late: list[ConsumerMessage] = attrs.Factory(list)
    ready: bool = True  # when it attached, events could be handed out without a wait
    gaps: list[Gap] = attrs.Factory(list)  # the gap notices next_batch went past
    taken: Callable[[], None] = lambda: None  # told after each item the edge takes

    async def next_batch(self) -> Sequence[Delivery] | None:
        """The next batch, or None when the subscription is over (see :meth:`end_reason`).
        Rejection and gap notices are skipped (see :meth:`next_item`)."""
        while True:
            item = await self.next_item()
            if isinstance(item, Gap):
                self.gaps.append(item)
            elif not isinstance(item, Rejected):
                return item

    async def next_item(self) -> Outgoing | None:
        try:
            item = await self.batches.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            return None
        self.taken()
        return item

    def end_reason(self) -> RouterError | None:
        return self.ended[0] if self.ended else None

    async def ack(self, offset: int) -> None:
        await self.control.send(Ack(offset))

    async def settle(self, ranges: Sequence[tuple[int, int]]) -> None:
        await self.control.send(Settle(tuple(ranges)))

    async def nack(self, offset: int, delay_s: float | None = None, reason: str = "") -> None:
        await self.control.send(Nack(offset, delay_s, reason))

    async def park(self, offset: int, reason: str = "") -> None:
        await self.control.send(Park(offset, reason))

    async def heartbeat(self) -> None:
        await self.control.send(Heartbeat())

    def post_ack(self, offset: int) -> None:
        """:meth:`ack` without waiting (a gRPC stream's acks, posted in order from its thread).
        When the control channel is full the ack waits in ``late_ack``, taken once the
        subscriber has read what is ahead of it; acks are cumulative, so the highest is kept."""
        try:
            self.control.send_nowait(Ack(offset))
        except trio.WouldBlock:
            self.late_ack = max(self.late_ack, offset)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the subscriber ended; its end reason goes back on the stream

    def post(self, message: Settle | Nack | Park) -> None:
        """A settle, nack or park without waiting; with the channel full it waits in ``late``
        (in order), taken once the subscriber has read what is ahead of it."""
        try:
            if self.late:
                raise trio.WouldBlock
            self.control.send_nowait(message)
        except trio.WouldBlock:
            self.late.append(message)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the subscriber ended; its end reason goes back on the stream

    def post_heartbeat(self) -> None:
        """:meth:`heartbeat` without waiting; with the channel full, the subscriber will hear
        the messages ahead of it, which count as much."""
        with contextlib.suppress(
            trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError
        ):
            self.control.send_nowait(Heartbeat())

    async def close_control(self) -> None:
        """The consumer will send nothing more: it is detached."""
        await self.control.aclose()

    async def close(self) -> None:
        """Leave: this consumer is detached (and, when it was the last, the subscriber flushes
        its ledger and sleeps) before this returns."""
        await self.control.aclose()
        await self.batches.aclose()
        with trio.move_on_after(10):
            await self.slept.wait()


@attrs.define(eq=False)
class Consumer:
    """One consumer attached to the subscriber: its channels and what it holds."""

    address: str
    prefetch: int  # its window: deliveries sent to it and not settled, at most
    subscription: Subscription
    outbox: trio.MemorySendChannel[Outgoing]
    control: trio.MemoryReceiveChannel[ConsumerMessage]
    budget: int = -1  # deliveries it will still take (a pull asks for so many), -1: no end
    bytes_budget: int = -1  # and their bytes (a pull's max_bytes), -1: no end
    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)
    holding: set[int] = attrs.Factory(set)  # shared: offsets it holds unsettled
    last_heard: float = 0.0
    events_out: int = 0
    gone: bool = False

    @property
    def credit(self) -> int:
        credit = self.prefetch - len(self.holding)
        if self.bytes_budget == 0:
            return 0
        if credit > 0 and self.outbox.statistics().current_buffer_used >= OUTBOX_ITEMS:
            return 0  # its edge has not taken what it was given: nothing more is loaded for it
        return credit if self.budget < 0 else min(credit, self.budget)
