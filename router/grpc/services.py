"""The gRPC services. Handlers run on asyncio (grpclib) and cross into Trio once per batch.

Each handler only translates: protobuf in, a call on the Router (in Trio, through
``trio_as_aio``), protobuf out. RouterErrors become gRPC statuses in :func:`statuses`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import attrs
import trio
from grpclib import GRPCError
from grpclib.const import Status
from grpclib.server import Stream

from actors.runtime import Turnstile
from actors.subscriber import Subscription
from router import __version__
from router._proto.router.v1 import router_grpc
from router._proto.router.v1 import router_pb2 as pb
from router.app import Router
from router.bridge import AsyncioThread, Feed
from router.errors import InvalidArgument, RouterError, Unauthenticated, Unavailable
from router.grpc import convert
from router.model import Delivery
from router.wire import Encoded

log = logging.getLogger("router.grpc")
PIPELINE_DEPTH = 256  # publish requests of one stream in flight at once; answered in order


@contextlib.contextmanager
def statuses() -> Iterator[None]:
    """Turn RouterErrors into gRPC statuses with their message; anything else is INTERNAL."""
    try:
        yield
    except RouterError as error:
        raise GRPCError(Status[error.grpc_status], str(error)) from None


def _sync(function: Any) -> Any:
    """A synchronous Router read, to be run on the Trio side (it iterates Trio-owned state)."""

    async def run(*args: Any) -> Any:
        return function(*args)

    return run


class PublisherService(router_grpc.PublisherBase):
    """Publishes; on shutdown it drains: calls in flight finish and get their acks, new ones are
    refused with UNAVAILABLE (see :meth:`drain`)."""

    def __init__(self, router: Router, bridge: AsyncioThread) -> None:
        self._router = router
        self._trio = bridge.to_trio
        self._bridge = bridge
        self._in_flight = 0
        self._draining = False
        self._idle = trio.Event()

    def _begin(self) -> None:
        if self._draining:
            raise GRPCError(Status.UNAVAILABLE, "router: shutting down; publish again elsewhere")
        self._in_flight += 1

    def _end(self) -> None:
        """On the loop's thread: the Trio event is set from Trio, through the bridge."""
        self._in_flight -= 1
        if self._draining and self._in_flight == 0:
            self._bridge.in_trio(self._idle.set)

    async def drain(self) -> None:
        """Refuse new publishes and wait (in Trio) until those in flight have been answered."""
        self._draining = True
        if self._in_flight:
            await self._idle.wait()

    async def Publish(self, stream: Stream[pb.PublishRequest, pb.PublishResponse]) -> None:
        request = await stream.recv_message()
        assert request is not None
        self._begin()
        try:
            with statuses():
                events = convert.new_events(request, self._router.settings)
                acks = await self._trio(self._router.publish)(events)
            await stream.send_message(_encoded(convert.publish_response(acks)))
        finally:
            self._end()

    async def PublishStream(self, stream: Stream[pb.PublishRequest, pb.PublishResponse]) -> None:
        """Reads ahead up to PIPELINE_DEPTH requests so their commits can be grouped."""
        pending: asyncio.Queue[asyncio.Future[Any] | None] = asyncio.Queue(PIPELINE_DEPTH)
        refused: list[GRPCError] = []

        turnstile = Turnstile()  # the requests reach the dispatcher in the order they came

        async def read() -> None:
            publish = self._trio(self._router.publish)
            turn = 0
            try:
                async for request in stream:
                    if self._draining:
                        refused.append(
                            GRPCError(Status.UNAVAILABLE, "router: shutting down; publish again")
                        )
                        break
                    events = convert.new_events(request, self._router.settings)
                    await pending.put(asyncio.ensure_future(publish(events, turnstile, turn)))
                    turn += 1
            except RouterError as error:
                failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                failed.set_exception(error)
                await pending.put(failed)
                return
            await pending.put(None)

        self._begin()
        reader = asyncio.ensure_future(read())
        try:
            while (future := await pending.get()) is not None:
                with statuses():
                    acks = await future
                await stream.send_message(_encoded(convert.publish_response(acks)))
                if refused and pending.empty() and reader.done():
                    raise refused[0]
        finally:
            self._end()
            reader.cancel()
            while not pending.empty():
                leftover = pending.get_nowait()
                if leftover is not None:
                    leftover.cancel()


class SubscriberService(router_grpc.SubscriberBase):
    def __init__(self, router: Router, bridge: AsyncioThread) -> None:
        self._router = router
        self._trio = bridge.to_trio
        self._bridge = bridge
        self.open: set[Subscription] = set()
        self._owners: dict[Subscription, tuple[str, str]] = {}  # -> (user, token id)
        router.auth.listeners.append(self._revoked)

    async def snapshot(self) -> list[tuple[Subscription, tuple[str, str] | None]]:
        """The open subscriptions and their owners, read on the loop's thread (from Trio)."""

        async def read() -> list[tuple[Subscription, tuple[str, str] | None]]:
            return [(s, self._owners.get(s)) for s in self.open]

        found: list[tuple[Subscription, tuple[str, str] | None]] = await self._bridge.call(read)
        return found

    async def _revoked(self, user: str | None, token_id: str | None) -> None:
        """A user removed or a token revoked: end the streams it opened (runs in Trio)."""
        for subscription, owned in await self.snapshot():
            if owned is None:
                continue
            owner, token = owned
            if owner == user or token == token_id:
                subscription.ended.append(
                    Unauthenticated(
                        "authorization: the token was revoked"
                        if token_id
                        else f"authorization: user {owner!r} was removed"
                    )
                )
                await subscription.close_control()

    async def Subscribe(self, stream: Stream[pb.SubscribeRequest, pb.SubscribeResponse]) -> None:
        first = await stream.recv_message()
        if first is None or first.WhichOneof("body") != "start":
            raise GRPCError(Status.INVALID_ARGUMENT, "start: the first message must be a start")
        request = first.start
        with statuses():
            start = convert.start_point(request.start)
            subscription: Subscription = await self._trio(self._router.subscribe)(
                request.exchange,
                request.subscriber,
                start,
                request.queue.limit_size,
                peer_address(stream),
            )
        self.open.add(subscription)
        found = await self._trio(_sync(self._router.auth.authenticate))(
            authorization(stream.metadata)
        )
        if found is not None:
            self._owners[subscription] = (found[0].name, found[1].id)
        protocol_error: list[RouterError] = []
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
            feed: Feed[Sequence[Delivery]] = Feed(self._bridge)
            pump = asyncio.ensure_future(self._trio(_pump)(subscription, feed))
            while (batch := await feed.get()) is not None:
                for message in convert.batches(batch):
                    await stream.send_message(_encoded(message))
        finally:
            if pump is not None:
                pump.cancel()
            if reader is not None:
                reader.cancel()
            self.open.discard(subscription)
            self._owners.pop(subscription, None)
            await self._trio(subscription.close)()
        reason = protocol_error[0] if protocol_error else subscription.end_reason()
        if reason is not None:
            raise GRPCError(Status[reason.grpc_status], str(reason))

    async def Read(self, stream: Stream[pb.ReadRequest, pb.ReadResponse]) -> None:
        request = await stream.recv_message()
        assert request is not None
        with statuses():
            start = convert.start_point(request.start)
            deliveries, head, following = await self._trio(self._router.read)(
                request.exchange, start, request.max or 1000
            )
        await stream.send_message(_encoded(convert.read_response(deliveries, head, following)))

    async def _hear(
        self,
        stream: Stream[pb.SubscribeRequest, pb.SubscribeResponse],
        subscription: Subscription,
        protocol_error: list[RouterError],
    ) -> None:
        """Forward acks and heartbeats; a half-close or a second start ends the subscription."""
        in_trio = self._bridge.in_trio  # nothing to wait for: acks go in order, unanswered
        try:
            async for message in stream:
                body = message.WhichOneof("body")
                if body == "ack":
                    in_trio(subscription.post_ack, message.ack.offset)
                elif body == "heartbeat":
                    in_trio(subscription.post_heartbeat)
                else:
                    protocol_error.append(
                        InvalidArgument(f"{body or 'body'}: expected an ack or a heartbeat")
                    )
                    break
        finally:
            in_trio(subscription.control.close)


class AdminService(router_grpc.AdminBase):
    def __init__(self, router: Router, bridge: AsyncioThread) -> None:
        self._router = router
        self._trio = bridge.to_trio
        self._bridge = bridge

    async def CreateExchange(self, stream: Stream[pb.CreateExchangeRequest, pb.Exchange]) -> None:
        request = await stream.recv_message()
        assert request is not None
        with statuses():
            record = await self._trio(self._router.create_exchange)(
                request.name, list(request.patterns)
            )
        await stream.send_message(convert.exchange(record))

    async def ListExchanges(
        self, stream: Stream[pb.ListExchangesRequest, pb.ListExchangesResponse]
    ) -> None:
        await stream.recv_message()
        with statuses():
            records = await self._trio(self._router.list_exchanges)()
        await stream.send_message(
            pb.ListExchangesResponse(exchanges=[convert.exchange(r) for r in records])
        )

    async def DeleteExchange(
        self, stream: Stream[pb.DeleteExchangeRequest, pb.DeleteExchangeResponse]
    ) -> None:
        request = await stream.recv_message()
        assert request is not None
        with statuses():
            await self._trio(self._router.delete_exchange)(request.name)
        await stream.send_message(pb.DeleteExchangeResponse())

    async def DescribeExchange(
        self, stream: Stream[pb.DescribeExchangeRequest, pb.Exchange]
    ) -> None:
        request = await stream.recv_message()
        assert request is not None
        with statuses():
            record, events_in = await self._trio(_sync(self._router.describe_exchange))(
                request.name
            )
        await stream.send_message(convert.exchange(record, events_in))

    async def AddUser(self, stream: Stream[pb.AddUserRequest, pb.AddUserResponse]) -> None:
        request = await stream.recv_message()
        assert request is not None
        with statuses():
            user, token, text = await self._trio(self._router.auth.add_user)(
                request.name, request.role
            )
        await stream.send_message(
            pb.AddUserResponse(
                user=convert.user(user, [token.id]),
                token=pb.IssuedToken(user=user.name, token_id=token.id, token=text),
            )
        )

    async def RemoveUser(self, stream: Stream[pb.RemoveUserRequest, pb.RemoveUserResponse]) -> None:
        request = await stream.recv_message()
        assert request is not None
        with statuses():
            await self._trio(self._router.auth.remove_user)(request.name)
        await stream.send_message(pb.RemoveUserResponse())

    async def ListUsers(self, stream: Stream[pb.ListUsersRequest, pb.ListUsersResponse]) -> None:
        await stream.recv_message()
        users = await self._trio(_sync(self._router.auth.list_users))()
        await stream.send_message(
            pb.ListUsersResponse(users=[convert.user(u, ids) for u, ids in users])
        )

    async def IssueToken(self, stream: Stream[pb.IssueTokenRequest, pb.IssuedToken]) -> None:
        request = await stream.recv_message()
        assert request is not None
        with statuses():
            token, text = await self._trio(self._router.auth.issue_token)(request.user)
        await stream.send_message(pb.IssuedToken(user=token.user, token_id=token.id, token=text))

    async def RevokeToken(
        self, stream: Stream[pb.RevokeTokenRequest, pb.RevokeTokenResponse]
    ) -> None:
        request = await stream.recv_message()
        assert request is not None
        with statuses():
            await self._trio(self._router.auth.revoke_token)(request.token_id)
        await stream.send_message(pb.RevokeTokenResponse())

    async def ListQueues(self, stream: Stream[pb.ListQueuesRequest, pb.ListQueuesResponse]) -> None:
        request = await stream.recv_message()
        assert request is not None
        views = await self._trio(_sync(self._router.list_queues))(request.exchange)
        await stream.send_message(pb.ListQueuesResponse(queues=[convert.queue(v) for v in views]))

    async def ListSubscribers(
        self, stream: Stream[pb.ListSubscribersRequest, pb.ListSubscribersResponse]
    ) -> None:
        request = await stream.recv_message()
        assert request is not None
        views = await self._trio(_sync(self._router.list_subscribers))(
            request.exchange, request.name
        )
        await stream.send_message(
            pb.ListSubscribersResponse(subscribers=[convert.subscriber(v) for v in views])
        )

    async def DeleteSubscriber(
        self, stream: Stream[pb.SubscriberRef, pb.DeleteSubscriberResponse]
    ) -> None:
        ref = await stream.recv_message()
        assert ref is not None
        with statuses():
            await self._trio(self._router.delete_subscriber)(ref.exchange, ref.name, ref.limit_size)
        await stream.send_message(pb.DeleteSubscriberResponse())

    async def ResetSubscriber(
        self, stream: Stream[pb.ResetSubscriberRequest, pb.SubscriberInfo]
    ) -> None:
        request = await stream.recv_message()
        assert request is not None
        ref = request.subscriber
        with statuses():
            start = convert.start_point(request.to)
            view = await self._trio(self._router.reset_subscriber)(
                ref.exchange, ref.name, start, ref.limit_size
            )
        await stream.send_message(convert.subscriber(view))

    async def GetStats(self, stream: Stream[pb.StatsRequest, pb.Stats]) -> None:
        await stream.recv_message()
        stats, links = await self._trio(
            _sync(lambda: (self._router.stats(), self._router.links()))
        )()
        await stream.send_message(
            pb.Stats(
                at_us=stats.at_us,
                last_seq=stats.last_seq,
                published=stats.published,
                exchanges=[convert.exchange(r, n) for r, n in stats.exchanges],
                queues=[convert.queue(q) for q in stats.queues],
                subscribers=[convert.subscriber(s) for s in stats.subscribers],
                links_json=json.dumps(links),
            )
        )

    async def GetServerInfo(self, stream: Stream[pb.ServerInfoRequest, pb.ServerInfo]) -> None:
        await stream.recv_message()
        router = self._router
        await stream.send_message(
            pb.ServerInfo(
                version=__version__,
                storage=router.settings.db_url.split(":", 1)[0],
                auth=router.auth.enabled,
                started_at_us=router.started_at,
                last_seq=router.state.positions.last_seq,
                exchanges=len(router.dispatcher.exchanges),
                queues=len(router.manager.queues),
                role=router.settings.role,
            )
        )

    async def Reemit(self, stream: Stream[pb.ReemitRequest, pb.ReemitProgress]) -> None:
        from router.amqp.reemit import Progress, reemit

        request = await stream.recv_message()
        assert request is not None

        async def report(progress: Progress) -> None:  # in Trio: the message goes out on the loop
            await self._bridge.call(
                stream.send_message, pb.ReemitProgress(**attrs.asdict(progress))
            )

        with statuses():
            start = convert.start_point(request.start) if request.HasField("start") else None
            final = await self._trio(reemit)(
                self._router,
                request.exchange,
                start,
                request.subscriber,
                request.amqp_url,
                request.amqp_exchange,
                request.max,
                report,
            )
        if final.confirmed == 0:
            await stream.send_message(pb.ReemitProgress(**attrs.asdict(final)))


class LogService(router_grpc.LogBase):
    """The committed log, for route nodes following this one."""

    def __init__(self, router: Router, bridge: AsyncioThread) -> None:
        self._router = router
        self._trio = bridge.to_trio
        self._bridge = bridge

    async def Follow(self, stream: Stream[pb.FollowRequest, pb.FollowResponse]) -> None:
        request = await stream.recv_message()
        assert request is not None
        after = request.after_seq
        with statuses():
            last_seq = await self._trio(self._router.log_position)()
        await stream.send_message(pb.FollowResponse(last_seq=last_seq))  # "connected"
        while True:
            with statuses():
                events, last_seq = await self._trio(self._router.log_after)(
                    after, request.max_batch
                )
            for response in convert.log_responses(events, last_seq):
                await stream.send_message(_encoded(response))
            after = events[-1].seq


async def _pump(subscription: Subscription, feed: Feed[Sequence[Delivery]]) -> None:
    """In Trio: the subscription's batches into the feed its stream sends from."""
    try:
        while (batch := await subscription.next_batch()) is not None:
            await feed.put(batch)
    finally:
        feed.close()


def _encoded(message: Encoded) -> Any:
    """A response serialized already, typed for ``send_message``: the server's codec
    (router.grpc.server) sends its bytes as they are."""
    return message


def peer_address(stream: Any) -> str:
    """``host:port`` of the client of a stream, for operators ("" if unknown)."""
    try:
        address = stream.peer.addr()
    except (AttributeError, OSError):
        return ""
    return f"grpc {address[0]}:{address[1]}" if address else ""


def authorization(metadata: Any) -> str | None:
    """The ``authorization`` metadata value as text (grpclib hands over a multidict or None)."""
    value = metadata.get("authorization") if metadata is not None else None
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value if isinstance(value, str) else None


def shutting_down() -> Unavailable:
    return Unavailable("the router is shutting down")
