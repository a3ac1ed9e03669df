"""One durable subscription's stream, as the client holds it.

async with client.subscribe("orders", "billing", start="earliest") as subscription:
    async for batch in subscription:
        await subscription.ack(batch[-1].offset)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from grpclib.exceptions import StreamTerminatedError

from router._proto.router.v1 import router_pb2 as pb
from router.client.values import ReceivedBatch, received

log = logging.getLogger("router.client")
REASON_MAX = 1024  # characters of a park or nack reason the router takes (router.core.delivery)


def bounded(reason: str) -> str:
    """``reason`` cut to what the router takes, marked as cut."""
    return reason if len(reason) <= REASON_MAX else reason[: REASON_MAX - 1] + "…"


def _log_rejected(rejected: pb.SettleRejected) -> None:
    log.warning(
        "settle refused offset=%d code=%s: %s", rejected.offset, rejected.code, rejected.message
    )


def log_gap(gap: pb.Gap) -> None:
    """The default ``on_gap``: say it in the log, loudly (events are missing for good)."""
    log.warning(
        "events removed by retention before they were delivered: offsets %s..%d (%s)",
        gap.from_offset or "?",
        gap.to_offset,
        gap.reason,
    )


class EventsRemoved(Exception):
    """Raised by :func:`raise_gap`: retention removed events before they were delivered."""

    def __init__(self, gap: pb.Gap) -> None:
        super().__init__(
            f"events removed by retention: offsets {gap.from_offset or '?'}..{gap.to_offset}"
        )
        self.gap = gap


def raise_gap(gap: pb.Gap) -> None:
    """An ``on_gap`` for programs that must stop rather than go on past missing events."""
    raise EventsRemoved(gap)


class ClientSubscription:
    """Batches of a durable subscriber, with ``ack`` (cumulative), ``settle`` (per offset),
    ``nack``, ``park``, ``heartbeat`` and ``leave``. Iterating ends when the router ends the
    stream; a status other than OK is raised as ``GRPCError``. An ack or settle the router refused
    (``pb.SettleRejected``) goes to ``on_rejected`` (default: logged). Events retention removed
    before they reached this subscriber are told by a ``pb.Gap`` before the next batch: it goes
    to ``on_gap`` (default: logged; :func:`raise_gap` raises :class:`EventsRemoved` instead) and
    is kept in ``gaps``."""

    def __init__(self, stream: Any, subscribed: pb.Subscribed) -> None:
        self._stream = stream
        self.queue_id: str = subscribed.queue_id
        self.start_offset: int = subscribed.start_offset
        self.head_offset: int = subscribed.head_offset
        self.finished = False
        self.on_rejected: Callable[[pb.SettleRejected], None] = _log_rejected
        self.on_gap: Callable[[pb.Gap], None] = log_gap
        self.gaps: list[pb.Gap] = []

    def __aiter__(self) -> ClientSubscription:
        return self

    async def __anext__(self) -> ReceivedBatch:
        message = await self._stream.recv_message()
        while message is not None and message.WhichOneof("body") in ("rejected", "gap"):
            if message.WhichOneof("body") == "gap":
                self.gaps.append(message.gap)
                self.on_gap(message.gap)
            else:
                self.on_rejected(message.rejected)
            message = await self._stream.recv_message()
        if message is None:
            # The server ended the stream: end ours too, then its status (an error raises here).
            self.finished = True
            with contextlib.suppress(StreamTerminatedError, ConnectionError):
                await self._stream.end()
            await self._stream.recv_trailing_metadata()
            raise StopAsyncIteration
        return received(message.batch)

    async def ack(self, offset: int) -> None:
        await self._stream.send_message(pb.SubscribeRequest(ack=pb.SubscribeAck(offset=offset)))

    async def settle(self, *offsets: int | tuple[int, int]) -> None:
        """Each offset (or inclusive ``(first, last)`` range) is handled."""
        ranges = [
            pb.OffsetRange(first=o[0], last=o[1])
            if isinstance(o, tuple)
            else pb.OffsetRange(first=o, last=o)
            for o in offsets
        ]
        await self._stream.send_message(pb.SubscribeRequest(settle=pb.SubscribeSettle(acks=ranges)))

    async def nack(self, offset: int, delay: float | None = None, reason: str = "") -> None:
        """Deliver ``offset`` again, after ``delay`` seconds (None: the subscriber's back-off).
        ``reason`` (why it failed, at most REASON_MAX characters) becomes the parked reason when
        this nack spends the subscriber's ``max_deliveries``."""
        nack = pb.SubscribeNack(offset=offset, reason=reason)
        if delay is not None:
            nack.delay_s = delay
        await self._stream.send_message(pb.SubscribeRequest(nack=nack))

    async def park(self, offset: int, reason: str = "") -> None:
        """Give up on ``offset``: it goes to the subscriber's parked list."""
        await self._stream.send_message(
            pb.SubscribeRequest(park=pb.SubscribePark(offset=offset, reason=reason))
        )

    async def leave(self, timeout: float = 10) -> None:
        """Half-close and wait for the server to end the stream: every ack sent is then saved."""
        await self._stream.end()
        try:
            async with asyncio.timeout(timeout):
                while await self._stream.recv_message() is not None:
                    pass  # batches sent before the server saw us leave; not acked
            await self._stream.recv_trailing_metadata()
        except TimeoutError:
            await self._stream.cancel()
        self.finished = True

    async def heartbeat(self) -> None:
        await self._stream.send_message(pb.SubscribeRequest(heartbeat=pb.Heartbeat()))
