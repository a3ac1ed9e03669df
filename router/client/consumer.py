"""A durable consumer that survives the router going away: it reconnects and resumes.

    async with RouterClient(address) as client:
        async with client.consume("orders", "billing", start="earliest") as events:
            async for event in events:
                await handle(event)
                await event.ack()             # or event.nack(delay=5), event.park("why")

Each event is settled on its own: ``ack`` (handled), ``nack`` (deliver it again, after a delay or
the subscriber's back-off), ``park`` (give up; the router keeps it in the parked list).
``start`` applies only when the subscriber is created here: a subscriber that exists (a program
started again, a deploy) resumes from its saved cursor, and every reconnection after a lost
connection (or an UNAVAILABLE router) uses ``stored``, the router's saved ledger; an explicit
move is ``RouterClient.reset_subscriber`` (``router subscriber reset``). ``settings`` are
checked on the first attachment (refused when they differ from an existing subscriber's), not
on reconnections, which take the subscriber as an operator may have changed it since. An event acked here that comes again (its ack was lost
with the connection) is acked again, not handed out; events handed out but not settled come
again (at-least-once). Heartbeats go out while the handler works. It holds at most ``prefetch``
unsettled events (0: the subscriber's). With ``shared=True`` this is one of several consumers of a
shared subscriber.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from grpclib.const import Status
from grpclib.exceptions import GRPCError, StreamTerminatedError

from router.client.failover import leader_hint
from router.client.settings import settings_message

log = logging.getLogger("router.client")
RETRYABLE = {Status.UNAVAILABLE, Status.DEADLINE_EXCEEDED, Status.INTERNAL, Status.UNKNOWN}
HEARTBEAT_S = 5.0  # well inside the router's default 30 s consumer timeout
REMEMBERED_ACKS = 100_000  # acked offsets remembered, to ack again what comes back


class DurableConsumer:
    """Events of one durable subscriber, one at a time, across reconnections.

    async with client.consume("orders", "billing") as events:
        async for event in events:
            await event.ack()
    """

    def __init__(
        self,
        client: Any,
        exchange: str,
        name: str,
        start: str = "stored",
        limit_size: int = 0,
        *,
        shared: bool = False,
        prefetch: int = 0,
        settings: Any = None,
        retry_initial_s: float = 0.2,
        retry_max_s: float = 5.0,
    ) -> None:
        from router._proto.router.v1 import router_pb2 as pb

        self._client = client
        self.exchange, self.name, self.limit_size = exchange, name, limit_size
        self._start = start
        self._retry = (retry_initial_s, retry_max_s)
        self._settings = settings_message(settings)
        if shared:
            self._settings = pb.SubscriberSettings(mode="shared")
            if settings is not None:
                self._settings.MergeFrom(settings_message(settings))
        self._mode = pb.SubscriberSettings(mode="shared") if shared else None
        self.prefetch = prefetch
        self._acked: OrderedDict[int, None] = OrderedDict()  # recently acked offsets
        self.reconnects = 0
        self._pending: list[Any] = []
        self._subscription: Any = None
        self._context: Any = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._to_ack: list[int] = []  # acked here, not yet sent
        self._to_nack: list[tuple[int, float | None, str]] = []  # nacked here, not yet sent
        self._acking: asyncio.Task[None] | None = None

    async def __aenter__(self) -> DurableConsumer:
        try:
            await self._attach()
        except (StreamTerminatedError, ConnectionError, OSError, GRPCError) as error:
            if not self._client.follow_leader(error):  # one router, and it said no: say so
                raise
            await self.reconnect(f"{type(error).__name__}: {error}", at_once=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._detach()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        while not self._pending:
            if self._acking is not None:
                # The acks of the events handled go out before the next batch is taken: the
                # router sends a consumer no more than its window of unsettled events.
                await asyncio.shield(self._acking)
            try:
                batch = await self._subscription.__anext__()
            except StopAsyncIteration:
                await self.reconnect("the router ended the stream")
                continue
            except (StreamTerminatedError, ConnectionError, OSError) as error:
                moved = self._client.follow_leader(error)
                await self.reconnect(f"connection lost: {error}", at_once=moved)
                continue
            except GRPCError as error:
                if error.status not in RETRYABLE:
                    raise
                moved = self._client.follow_leader(error)
                await self.reconnect(f"{error.status.name}: {error.message}", at_once=moved)
                continue
            again = [e.offset for e in batch if e.offset in self._acked]
            if again:  # acked here, the ack lost with a connection: ack again
                await self._send(self._subscription.settle, *again)
            self._pending = [e for e in batch if e.offset not in self._acked]
            for event in self._pending:
                event.settler = self
        return self._pending.pop(0)

    async def ack(self, event: Any) -> None:
        """``event`` is handled. The acks made before this task next waits go out together,
        as ranges in one message (so one ack per event costs the router one message per
        batch, not per event); leaving the ``async with`` sends those not yet sent."""
        self._acked[event.offset] = None
        if len(self._acked) > REMEMBERED_ACKS:
            self._acked.popitem(last=False)
        self._to_ack.append(event.offset)
        if self._acking is None:
            self._acking = asyncio.ensure_future(self._send_acks())

    async def _send_acks(self) -> None:
        try:
            await asyncio.sleep(0)  # let the handlers that are ready settle too: one message
            while self._to_ack or self._to_nack:
                offsets, self._to_ack = sorted(self._to_ack), []
                nacks, self._to_nack = self._to_nack, []
                if offsets:
                    await self._send(self._subscription.settle, *_ranges(offsets))
                for offset, delay, reason in nacks:
                    await self._send(self._subscription.nack, offset, delay, reason)
        finally:
            self._acking = None

    async def nack(self, event: Any, delay: float | None = None, reason: str = "") -> None:
        """Deliver ``event`` again, after ``delay`` seconds or the subscriber's back-off; sent
        with the acks made before this task next waits, after them. ``reason`` (why it failed)
        becomes the parked reason when this nack spends the subscriber's ``max_deliveries``."""
        self._to_nack.append((event.offset, delay, reason))
        if self._acking is None:
            self._acking = asyncio.ensure_future(self._send_acks())

    async def park(self, event: Any, reason: str = "") -> None:
        """Give up on ``event``: it goes to the subscriber's parked list."""
        await self._send(self._subscription.park, event.offset, reason)

    @staticmethod
    async def _send(call: Any, *args: Any) -> None:
        # Lost with the connection: the router delivers the event again after the reconnect.
        with contextlib.suppress(StreamTerminatedError, ConnectionError, OSError, GRPCError):
            await call(*args)

    async def _attach(self) -> None:
        self._context = self._client.subscribe(
            self.exchange,
            self.name,
            self._start,
            self.limit_size,
            settings=self._settings,
            prefetch=self.prefetch,
        )
        self._subscription = await self._context.__aenter__()
        self._start = "stored"
        # Checked once: a reconnection does not refuse settings an operator changed since.
        self._settings = self._mode
        self._heartbeat = asyncio.ensure_future(self._beat(self._subscription))

    async def _detach(self) -> None:
        if self._acking is not None:
            with contextlib.suppress(Exception):
                await self._acking  # the acks made last go out before the stream closes
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        context, self._context = self._context, None
        if context is not None:
            with contextlib.suppress(Exception):  # a broken connection may not close cleanly
                await context.__aexit__(None, None, None)

    async def reconnect(self, why: str, at_once: bool = False) -> None:
        """Drop the connection and attach again from the saved cursor, with back-off; the
        first try goes ``at_once`` when the client points at another router now (a leader a
        standby named, the next address of the list).

        Events received but not acked here are dropped and come again from the router.
        """
        log.warning("subscriber %s/%s: %s; reconnecting", self.exchange, self.name, why)
        self._pending = []
        self._to_ack = []  # acked here: sent again when they come back (see __anext__)
        self._to_nack = []  # they come back anyway
        await self._detach()
        delay, most = self._retry
        hinted = 0
        while True:
            if not at_once:
                await asyncio.sleep(delay)  # back-off between attempts
            at_once = False
            try:
                await self._attach()
            except (StreamTerminatedError, ConnectionError, OSError) as error:
                log.info("reconnect failed: %s", error)
                self._client.follow_leader(error)
            except GRPCError as error:
                if error.status not in RETRYABLE and error.status is not Status.FAILED_PRECONDITION:
                    raise
                log.info("reconnect refused: %s", error.message)
                # A leader named by a standby is tried at once (a few times in a row at most).
                hinted += self._client.follow_leader(error) and leader_hint(error) is not None
                at_once = 0 < hinted <= 3
            else:
                self.reconnects += 1
                return
            delay = min(delay * 2, most)

    @staticmethod
    async def _beat(subscription: Any) -> None:
        with contextlib.suppress(StreamTerminatedError, ConnectionError, OSError, GRPCError):
            while True:
                await asyncio.sleep(HEARTBEAT_S)  # the heartbeat period
                await subscription.heartbeat()


def _ranges(offsets: list[int]) -> list[tuple[int, int]]:
    """Sorted offsets as inclusive (first, last) runs."""
    runs: list[tuple[int, int]] = []
    for offset in offsets:
        if runs and offset == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], offset)
        elif not runs or offset != runs[-1][1]:
            runs.append((offset, offset))
    return runs
