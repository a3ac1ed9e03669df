"""The SubscriberActor: one named durable cursor with a consumer attached, and its consumer handle.

It delivers the exchange's events from its next offset on, in offset order, whatever their
source: the queue's ring buffer when it holds them, storage (in chunks) when it does not, the
live batches the queue pushes once it has caught up. Every batch is trimmed against the next
offset, so the handoff from replay to live can neither skip nor repeat an event; when the queue
had to drop live batches for it (its consumer was slow), the gap shows as a batch that starts
past the next offset and is filled from the ring or storage.

Acks are cumulative and saved to storage coalesced, at most every ``cursor_flush_interval_s``,
and once more (waiting for the commit) when the subscriber ends.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
from collections.abc import Sequence
from typing import Any

import attrs
import trio

from actors.messages import (
    Ack,
    Committed,
    ConsumerMessage,
    GetHead,
    Heartbeat,
    QueueMessage,
    RingSlice,
    SubscriberMessage,
)
from actors.runtime import Mailbox, ask
from actors.state import StateActor
from router.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    OutOfRange,
    RouterError,
)
from router.model import Delivery, QueueRecord, StartKind, StartPoint, SubscriberRecord
from router.settings import Settings
from router.wire import bounds

log = logging.getLogger("router.subscriber")
MAILBOX_BATCHES = 16
READ_AHEAD = 3  # replay chunks being read at once for one subscriber


@attrs.define(eq=False)
class _Read:
    """One chunk of a catch-up, asked for ahead of its turn."""

    first: int
    last: int
    batch: Sequence[Delivery] = ()
    done: trio.Event = attrs.Factory(trio.Event)


@attrs.define(eq=False)
class Subscription:
    """What a consumer's edge holds: batches to send, and a way to ack, beat and leave.

    ``batches`` ends (``trio.EndOfChannel``) when the subscriber stops; ``ended`` then says why
    (None: the consumer left). Closing the handle puts the subscriber to sleep.
    """

    queue_id: str
    name: str
    start_offset: int
    head: int
    batches: trio.MemoryReceiveChannel[Sequence[Delivery]]
    control: trio.MemorySendChannel[ConsumerMessage]
    ended: list[RouterError] = attrs.Factory(list)
    slept: trio.Event = attrs.Factory(trio.Event)
    late_ack: int = 0

    async def next_batch(self) -> Sequence[Delivery] | None:
        """The next batch, or None when the subscription is over (see :meth:`end_reason`)."""
        try:
            return await self.batches.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            return None

    def end_reason(self) -> RouterError | None:
        return self.ended[0] if self.ended else None

    async def ack(self, offset: int) -> None:
        await self.control.send(Ack(offset))

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

    def post_heartbeat(self) -> None:
        """:meth:`heartbeat` without waiting; with the channel full, the subscriber will hear
        the messages ahead of it, which count as much."""
        with contextlib.suppress(
            trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError
        ):
            self.control.send_nowait(Heartbeat())

    async def close_control(self) -> None:
        """The consumer will send nothing more: the subscriber goes to sleep."""
        await self.control.aclose()

    async def close(self) -> None:
        """Leave: the subscriber flushes its cursor and sleeps before this returns."""
        await self.control.aclose()
        await self.batches.aclose()
        with trio.move_on_after(10):
            await self.slept.wait()


@attrs.define(eq=False)
class SubscriberActor:
    queue: QueueRecord
    name: str
    start: StartPoint
    stored_acked: int | None  # the saved cursor, None for a subscriber new to this queue
    head: int  # the newest offset the queue knew of when this consumer attached
    queue_mailbox: Mailbox[QueueMessage]
    state: StateActor
    settings: Settings
    consumer: str = ""  # the consumer's address, for operators
    mailbox: Mailbox[SubscriberMessage] = attrs.Factory(lambda: Mailbox(MAILBOX_BATCHES))
    next_offset: int = 1
    delivered: int = 0
    acked: int = 0
    saved: int = 0
    last_heard: float = 0.0
    events_out: int = 0
    subscription: Subscription | None = None
    _outbox: trio.MemorySendChannel[Sequence[Delivery]] | None = None
    _control: trio.MemoryReceiveChannel[ConsumerMessage] | None = None
    _acks_arrived: trio.Event = attrs.Factory(trio.Event)

    def offer(self, message: Committed) -> None:
        """Called by the queue: take a live batch if there is room, never wait. A batch not
        taken shows later as a gap, filled from the ring or storage."""
        try:
            self.mailbox.send_nowait(message)
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # full (the gap is read later) or ended (nothing to deliver to)

    async def run(self, attached: Any) -> None:
        """Resolve the start, answer ``attached`` with the Subscription, deliver until it ends.

        Ends when the consumer closes its handle, when it stays silent past the timeout, or on
        cancellation (shutdown, exchange deleted). The cursor is flushed in every case.
        """
        try:
            start = await self._resolve_start()
            if self.stored_acked != start - 1:
                await self.state.save_subscriber(
                    SubscriberRecord(self.queue.id, self.name, start - 1)
                )
        except RouterError as error:
            attached.fail(error)
            raise
        self.next_offset = start
        self.delivered = self.acked = self.saved = start - 1
        outbox, batches = trio.open_memory_channel[Sequence[Delivery]](1)
        control_send, control = trio.open_memory_channel[ConsumerMessage](64)
        self._outbox, self._control = outbox, control
        self.subscription = Subscription(
            self.queue.id, self.name, start, self.head, batches, control_send
        )
        self.last_heard = trio.current_time()
        attached.set(self.subscription)
        log.info(
            "subscriber attached queue=%s subscriber=%s start=%d", self.queue.id, self.name, start
        )
        try:
            async with outbox, trio.open_nursery() as nursery:
                nursery.start_soon(self._hear_consumer, nursery.cancel_scope)
                nursery.start_soon(self._watch_silence, nursery.cancel_scope)
                nursery.start_soon(self._flush_cursor_now_and_then)
                try:
                    await self._deliver()
                except trio.BrokenResourceError:
                    pass  # the consumer closed its handle
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True, deadline=trio.current_time() + 5):
                if self.acked != start - 1:
                    try:
                        await self.state.save_cursor(
                            self.queue.id, self.name, self.acked, wait=True
                        )
                        self.saved = self.acked
                    except RouterError as error:
                        log.warning("cursor not saved subscriber=%s error=%s", self.name, error)

    def end(self, reason: RouterError) -> None:
        if self.subscription is not None and not self.subscription.ended:
            self.subscription.ended.append(reason)

    async def _resolve_start(self) -> int:
        if self.start.kind is StartKind.STORED:
            return self.stored_acked + 1 if self.stored_acked is not None else self.head + 1
        return await first_offset(self.start, self.head, self.queue.exchange_id, self.state)

    async def _deliver(self) -> None:
        while True:
            starved = False
            while self.next_offset <= self.head:
                if not await self._catch_up():
                    starved = True  # the head we knew is gone (exchange deleted): just wait
                    break
            if not starved and self.mailbox.waiting() == 0:
                # Batches the queue dropped for us while the mailbox was full leave no trace in
                # it, so before waiting ask the queue how far the exchange has gone.
                head = await ask(self.queue_mailbox, GetHead)
                if head >= self.next_offset:
                    self.head = max(self.head, head)
                    continue
            message = await self.mailbox.receive()
            deliveries = message.deliveries
            self.head = max(self.head, deliveries[-1].offset)
            if deliveries[0].offset > self.next_offset:
                continue  # a gap: the loop above fills it from the ring or storage
            if deliveries[-1].offset < self.next_offset:
                continue  # already delivered
            await self._send(deliveries[self.next_offset - deliveries[0].offset :])

    async def _catch_up(self) -> bool:
        """Send from ``next_offset`` towards the known head, reading up to READ_AHEAD chunks at once.

        Offsets are dense, so the chunks ahead are known before the one being sent arrives; the
        store answers them on its separate read connections while this one is encoded and sent.
        A chunk is sent only when it starts exactly at ``next_offset``; a short or empty one ends
        the call (the caller loops), so a gap or a repeat cannot get through. False when nothing
        could be read at ``next_offset``.
        """
        chunk = self.settings.replay_chunk
        ahead: collections.deque[_Read] = collections.deque()
        planned = self.next_offset
        async with trio.open_nursery() as nursery:
            while ahead or planned <= self.head:
                while planned <= self.head and len(ahead) < READ_AHEAD:
                    read = _Read(planned, min(self.head, planned + chunk - 1))
                    nursery.start_soon(self._read_into, read)
                    ahead.append(read)
                    planned = read.last + 1
                read = ahead.popleft()
                await read.done.wait()
                batch = read.batch
                if not batch:
                    nursery.cancel_scope.cancel()
                    return False
                first, last = bounds(batch)
                if first != self.next_offset:
                    nursery.cancel_scope.cancel()
                    return True
                await self._send(batch)
                if last != read.last:
                    nursery.cancel_scope.cancel()
                    return True
        return True

    async def _read_into(self, read: _Read) -> None:
        read.batch = await self._fetch(read.first, read.last)
        read.done.set()

    async def _fetch(self, first: int, last: int) -> Sequence[Delivery]:
        held: tuple[Delivery, ...] = await ask(
            self.queue_mailbox, lambda r: RingSlice(first, last, r)
        )
        if held:
            return held
        return await self.state.read(self.queue.exchange_id, first, last, last - first + 1)

    async def _send(self, batch: Sequence[Delivery]) -> None:
        assert self._outbox is not None
        await self._outbox.send(batch)
        last = bounds(batch)[1]
        self.next_offset = last + 1
        self.delivered = last
        self.events_out += len(batch)

    async def _hear_consumer(self, scope: trio.CancelScope) -> None:
        assert self._control is not None and self.subscription is not None
        subscription = self.subscription
        async with self._control:
            async for message in self._control:
                self.last_heard = trio.current_time()
                if isinstance(message, Ack) and not self._take_ack(message.offset):
                    break
                late, subscription.late_ack = subscription.late_ack, 0
                if late and not self._take_ack(late):
                    break
        scope.cancel()  # the consumer left (or broke the protocol): this subscriber sleeps

    def _take_ack(self, offset: int) -> bool:
        """False when ``offset`` was never delivered: the consumer broke the protocol."""
        if offset > self.delivered:
            self.end(
                InvalidArgument(
                    f"ack.offset: {offset} was never delivered (last delivered {self.delivered})"
                )
            )
            return False
        if offset > self.acked:
            self.acked = offset
            self._acks_arrived.set()
        return True

    async def _watch_silence(self, scope: trio.CancelScope) -> None:
        timeout = self.settings.consumer_timeout_s
        if math.isinf(timeout):
            return
        while True:
            deadline = self.last_heard + timeout
            if trio.current_time() >= deadline:
                self.end(DeadlineExceeded(f"no ack or heartbeat for {timeout:g}s"))
                scope.cancel()
                return
            await trio.sleep_until(deadline)

    async def _flush_cursor_now_and_then(self) -> None:
        """Save the cursor at most once per interval, and only after acks moved it: an idle
        subscriber costs no wake-ups."""
        while True:
            await self._acks_arrived.wait()
            await trio.sleep(self.settings.cursor_flush_interval_s)  # coalescing period
            self._acks_arrived = trio.Event()
            if self.acked != self.saved:
                acked = self.acked
                await self.state.save_cursor(self.queue.id, self.name, acked)
                self.saved = acked


async def first_offset(
    start: StartPoint, head: int, exchange_id: int, state: StateActor, field: str = "start"
) -> int:
    """The first offset a start point names, given the exchange's ``head``.

    The one place where earliest, latest, offset and time become an offset (subscribe, reset,
    read). ``stored`` belongs to a subscriber's cursor, so it is refused here; an offset outside
    1..head+1 is OUT_OF_RANGE.
    """
    if start.kind is StartKind.EARLIEST:
        return 1
    if start.kind is StartKind.LATEST:
        return head + 1
    if start.kind is StartKind.OFFSET:
        if not 1 <= start.value <= head + 1:
            raise OutOfRange(
                f"{field}.offset: {start.value} is outside 1..{head + 1} (head is {head})"
            )
        return start.value
    if start.kind is StartKind.TIME:
        return await state.find_time(exchange_id, head, start.value)
    raise InvalidArgument(
        f"{field}: stored has no meaning here; give earliest, latest, offset or time"
    )


def already_attached(name: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"subscriber: {name!r} already has a consumer attached (one consumer per subscriber)"
    )
