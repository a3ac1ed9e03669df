"""The ``Subscriber`` service: durable subscriptions (a bidirectional stream) and stored reads."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import attrs
from grpclib import GRPCError
from grpclib.const import Status
from grpclib.server import Stream

from actors.subscription import Gap, Nack, Outgoing, Park, Rejected, Settle, Subscription
from router._proto.router.v1 import router_grpc
from router._proto.router.v1 import router_pb2 as pb
from router.app import Router
from router.bridge import AsyncioThread, Feed
from router.control import tethers
from router.control.quotas import Places, QuotaExceeded
from router.core.errors import InvalidArgument, PermissionDenied, RouterError, Unauthenticated
from router.core.model import Access, TokenRecord, UserRecord
from router.core.permissions import permitted, refusal
from router.core.wire import frames_of
from router.grpc import convert
from router.grpc.metadata import Caller, caller, caller_user, peer_address
from router.grpc.publish import encoded
from router.grpc.status import grpc_error, statuses
from router.grpc.stopping import Handlers, Stopping, end_stopping
from router.grpc.trim import Trimmer

Owner = tuple[str, str, str]  # the user, the token id and the exchange of a stream


class SubscriberService(router_grpc.SubscriberBase):
    """Each ``Subscribe`` stream attaches one consumer to a durable subscriber.

    The first message names the exchange, the subscriber and the start point; then batches flow
    down (fed from Trio through a :class:`router.bridge.Feed`) and acks and heartbeats flow up.
    The stream ends with the subscriber's end reason as its status; the subscriber sleeps with
    its cursor flushed whatever ended it.
    """

    def __init__(self, router: Router, bridge: AsyncioThread) -> None:
        self._router = router
        self._trio = bridge.to_trio
        self._bridge = bridge
        self.open: set[Subscription] = set()
        self._trimmer = Trimmer()  # what a closed stream freed goes back to the system
        self._owners: dict[Subscription, Owner] = {}
        self._streams = Places()  # each user's open streams, counted against its quota
        self.handlers = Handlers()
        router.auth.listeners.append(self._revoked)
        router.auth.regranted.append(self._regranted)

    async def snapshot(self) -> list[tuple[Subscription, Owner | None]]:
        """The open subscriptions and their owners, read on the loop's thread (from Trio)."""

        async def read() -> list[tuple[Subscription, Owner | None]]:
            return [(s, self._owners.get(s)) for s in self.open]

        found: list[tuple[Subscription, Owner | None]] = await self._bridge.call(read)
        return found

    async def stop(self, stopping: Stopping) -> None:
        """The router stops (in Trio): end every open stream with ``stopping``'s status; each
        subscriber sleeps with its cursor flushed."""
        for subscription, _ in await self.snapshot():
            subscription.ended.append(stopping)
            await subscription.close_control()

    async def _regranted(self, user: UserRecord) -> None:
        """A user's grants changed: end its streams on exchanges it may no longer consume."""
        for subscription, owned in await self.snapshot():
            if owned is None or owned[0] != user.name:
                continue
            exchange = owned[2]
            if not permitted(user, user.grants, Access.CONSUME, exchange):
                subscription.ended.append(PermissionDenied(refusal(user, Access.CONSUME, exchange)))
                await subscription.close_control()

    async def _revoked(self, user: str | None, token_id: str | None) -> None:
        """A user removed or a token revoked: end the streams it opened (runs in Trio)."""
        for subscription, owned in await self.snapshot():
            if owned is None:
                continue
            owner, token, _ = owned
            if owner == user or token == token_id:
                subscription.ended.append(
                    Unauthenticated(
                        "authorization: the token was revoked or has expired"
                        if token_id
                        else f"authorization: user {owner!r} was removed"
                    )
                )
                await subscription.close_control()

    def _lost_since(
        self, found: tuple[UserRecord, TokenRecord], exchange: str
    ) -> RouterError | None:
        """Why the caller may no longer consume ``exchange``, if its token was revoked or its
        grant taken since it was let in (the token, user or grants as they are now)."""
        now = self._router.auth.standing(found[0].name, found[1].id)
        if now is None:
            return Unauthenticated("authorization: the token was revoked or has expired")
        return tethers.refusal(now, ((Access.CONSUME, exchange),))

    def _take_stream(self, user: UserRecord, place: object) -> None:
        """Take one of ``user``'s open streams (checked and taken in one step, on the loop's
        thread, before any await); QuotaExceeded when it holds as many as its quota allows."""
        most = user.quotas.streams
        if not self._streams.take(user.name, most, place):
            self._router.auth.limiter.count(user.name)
            raise QuotaExceeded(
                f"streams: user {user.name!r} has {most} Subscribe streams open, its quota;"
                " close one first"
            )

    async def Subscribe(self, stream: Stream[pb.SubscribeRequest, pb.SubscribeResponse]) -> None:
        self.handlers.add_current()
        first = await self._first(stream)
        if first is None or first.WhichOneof("body") != "start":
            raise GRPCError(Status.INVALID_ARGUMENT, "start: the first message must be a start")
        request = first.start
        place = object()  # this stream's place in its user's streams quota
        with statuses():
            found = caller(self._router.auth)
        user = found[0] if found is not None else None
        try:
            await self._open(stream, request, user, found, place)
        finally:
            if user is not None:
                self._streams.give_back(user.name, place)

    async def _first(
        self, stream: Stream[pb.SubscribeRequest, pb.SubscribeResponse]
    ) -> pb.SubscribeRequest | None:
        """The stream's first message, within the start timeout: a stream left without its
        start would hold its connection's place and a handler for as long as it stayed."""
        timeout_s = self._router.settings.grpc_start_timeout_s
        try:
            return await asyncio.wait_for(stream.recv_message(), timeout_s)
        except TimeoutError:
            raise GRPCError(
                Status.INVALID_ARGUMENT,
                f"start: no start message within {timeout_s:g} s; a Subscribe stream's first"
                " message must be its start",
            ) from None

    async def _open(
        self,
        stream: Stream[pb.SubscribeRequest, pb.SubscribeResponse],
        request: pb.SubscribeStart,
        user: UserRecord | None,
        found: Caller,
        place: object,
    ) -> None:
        with statuses():
            if user is not None:
                self._router.auth.permit(user, Access.CONSUME, request.exchange)
                self._take_stream(user, place)
            start = attrs.evolve(convert.start_point(request.start), if_new=request.start_if_new)
            settings = (
                convert.settings_changes(request.settings) if request.HasField("settings") else None
            )
            subscription: Subscription = await self._trio(self._router.subscribe)(
                request.exchange,
                request.subscriber,
                start,
                request.queue.limit_size,
                peer_address(stream),
                settings,
                request.prefetch,
                0,
                user,
            )
        self.open.add(subscription)
        if found is not None:
            self._owners[subscription] = (found[0].name, found[1].id, request.exchange)
            lost = self._lost_since(found, request.exchange)
            if lost is not None:  # revoked while it was being attached: the listeners missed it
                self.open.discard(subscription)
                self._owners.pop(subscription, None)
                await self._trio(subscription.close)()
                raise grpc_error(lost)
        protocol_error: list[RouterError | GRPCError] = []
        reader = pump = None
        try:
            await stream.send_message(
                pb.SubscribeResponse(
                    subscribed=pb.Subscribed(
                        queue_id=subscription.queue_id,
                        start_offset=subscription.start_offset,
                        head_offset=subscription.head,
                    )
                )
            )
            reader = asyncio.ensure_future(self._hear(stream, subscription, protocol_error))
            feed: Feed[Outgoing] = Feed(self._bridge)
            pump = asyncio.ensure_future(self._trio(_pump)(subscription, feed))
            await _unless_refused(self._deliver(stream, request, feed), reader, protocol_error)
        finally:
            if pump is not None:
                pump.cancel()
            if reader is not None:
                reader.cancel()
            self.open.discard(subscription)
            self._owners.pop(subscription, None)
            await self._trio(subscription.close)()
            self._trimmer.soon()
        reason = protocol_error[0] if protocol_error else subscription.end_reason()
        if isinstance(reason, GRPCError):  # a message refused as it was read (size, codec)
            raise reason
        if isinstance(reason, Stopping):  # with the trailer naming another router, if known
            await end_stopping(stream, reason)
            return
        if reason is not None:
            raise grpc_error(reason)

    async def _deliver(
        self,
        stream: Stream[pb.SubscribeRequest, pb.SubscribeResponse],
        request: pb.SubscribeStart,
        feed: Feed[Outgoing],
    ) -> None:
        """Send the feed's batches, rejection and gap notices down the stream until it ends."""
        while (batch := await feed.get()) is not None:
            if isinstance(batch, Rejected):
                await stream.send_message(
                    pb.SubscribeResponse(
                        rejected=pb.SettleRejected(
                            offset=batch.offset, code=batch.code, message=batch.message
                        )
                    )
                )
                continue
            if isinstance(batch, Gap):
                await stream.send_message(pb.SubscribeResponse(gap=convert.gap(batch)))
                continue
            frames = frames_of(batch)
            tracing = self._router.tracing
            spans = (
                tracing.delivering(request.exchange, request.subscriber, frames)
                if tracing is not None
                else ()
            )
            for message in convert.framed_batches(frames):
                await stream.send_message(encoded(message))
            for span in spans:
                span.end()

    async def Read(self, stream: Stream[pb.ReadRequest, pb.ReadResponse]) -> None:
        request = await stream.recv_message()
        assert request is not None
        with statuses():
            auth = self._router.auth
            auth.permit(caller_user(auth), Access.CONSUME, request.exchange)
            start = convert.start_point(request.start)
            deliveries, head, following, gap = await self._trio(self._router.read)(
                request.exchange, start, request.max or 1000, convert.READ_BYTES
            )
        await stream.send_message(encoded(convert.read_response(deliveries, head, following, gap)))

    async def _hear(
        self,
        stream: Stream[pb.SubscribeRequest, pb.SubscribeResponse],
        subscription: Subscription,
        protocol_error: list[RouterError | GRPCError],
    ) -> None:
        """Forward acks, settles, nacks, parks and heartbeats; a half-close or a second start
        ends the subscription, and so does a message refused as it is read (over the size
        bound, compressed, not a SubscribeRequest), whose status the stream then ends with."""
        in_trio = self._bridge.in_trio  # nothing to wait for: acks go in order, unanswered
        try:
            async for message in stream:
                body = message.WhichOneof("body")
                if body == "ack":
                    in_trio(subscription.post_ack, message.ack.offset)
                elif body == "heartbeat":
                    in_trio(subscription.post_heartbeat)
                elif body in ("settle", "nack", "park"):
                    in_trio(subscription.post, _settlement(message))
                else:
                    protocol_error.append(
                        InvalidArgument(f"{body or 'body'}: expected an ack or a heartbeat")
                    )
                    break
        except GRPCError as refused:
            protocol_error.append(refused)
        finally:
            in_trio(subscription.control.close)


def _settlement(message: pb.SubscribeRequest) -> Settle | Nack | Park:
    """A settle, nack or park request as the subscriber takes it (it checks the values and
    answers a bad one with a SettleRejected naming the field)."""
    body = message.WhichOneof("body")
    if body == "settle":
        return Settle(tuple((r.first, r.last or r.first) for r in message.settle.acks))
    if body == "nack":
        delay_s = message.nack.delay_s if message.nack.HasField("delay_s") else None
        return Nack(message.nack.offset, delay_s, message.nack.reason)
    return Park(message.park.offset, message.park.reason)


async def _unless_refused(
    sending: Coroutine[Any, Any, None],
    reader: asyncio.Future[None],
    refused: list[RouterError | GRPCError],
) -> None:
    """Await ``sending`` (a stream's deliveries) until it ends, or until ``reader`` ends having
    refused a message: then ``sending`` is cancelled where it is and the stream ends with the
    refusal's status at once. It may be waiting for a flow-control window that its client,
    which reads nothing more before it has its status, never opens; the trailers that carry
    the status are not held back by flow control."""
    deliveries = asyncio.ensure_future(sending)

    def stop(_: object) -> None:
        if refused:
            deliveries.cancel()

    reader.add_done_callback(stop)
    try:
        await asyncio.wait((deliveries,))
    finally:
        reader.remove_done_callback(stop)
        deliveries.cancel()  # the stream's handler was cancelled: nothing more is sent
    if not deliveries.cancelled():
        deliveries.result()  # an error in sending ends the stream as it did


async def _pump(subscription: Subscription, feed: Feed[Outgoing]) -> None:
    """In Trio: the subscription's batches (and rejection notices) into the feed its stream
    sends from."""
    try:
        while (batch := await subscription.next_item()) is not None:
            await feed.put(batch)
    finally:
        feed.close()
