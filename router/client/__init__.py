"""A Python client for programs, on asyncio (grpclib); for Trio see :mod:`router.client.trio`.

    async with RouterClient("127.0.0.1:50051") as client:       # token: ROUTER_TOKEN or token=
        await client.create_exchange("orders", ["order.*"])
        acks = await client.publish([OutgoingEvent("order.created", b'{"id": 1}')])
        async with client.subscribe("orders", "billing", start="earliest") as subscription:
            async for batch in subscription:       # a ReceivedBatch: a sequence of events,
                ...                                 # each built when first looked at
                await subscription.ack(batch[-1].offset)

- :class:`router.client.consumer.DurableConsumer`: one event at a time, reconnects and resumes
  from the saved cursor when the router goes away.
- :mod:`router.client.app`: ``@app.subscriber(...)`` handlers, acked when they return, with an
  in-memory test mode.
- Admin calls (users, tokens, queues, subscribers) are methods here too.
- Runnable examples: ``docs/examples/`` (asyncio, Trio, the decorator app).

Errors arrive as ``grpclib.exceptions.GRPCError`` with the server's status and message.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, overload

import attrs
from grpclib.client import Channel, Stream
from grpclib.exceptions import StreamTerminatedError

from router import h2frames, validation
from router._proto.router.v1 import router_grpc
from router._proto.router.v1 import router_pb2 as pb
from router.model import StartKind
from router.settings import split_host_port

if TYPE_CHECKING:
    from router.client.consumer import DurableConsumer
    from router.client.publisher import Publisher

_KINDS = {
    StartKind.STORED: pb.StartPoint.STORED,
    StartKind.EARLIEST: pb.StartPoint.EARLIEST,
    StartKind.LATEST: pb.StartPoint.LATEST,
    StartKind.OFFSET: pb.StartPoint.OFFSET,
    StartKind.TIME: pb.StartPoint.TIME,
}


@attrs.frozen
class OutgoingEvent:
    type: str
    payload: bytes = b""
    headers: dict[str, str] = attrs.Factory(dict)
    id: str = attrs.Factory(lambda: str(uuid.uuid4()))

    def to_pb(self) -> pb.Event:
        return pb.Event(id=self.id, type=self.type, payload=self.payload, headers=self.headers)


@attrs.frozen
class Ack:
    id: str
    seq: int
    duplicate: bool
    offsets: dict[str, int]


@attrs.define(slots=True)  # not frozen: one per event received, and frozen attrs build slowly
class ReceivedEvent:
    offset: int
    id: str
    type: str
    payload: bytes
    headers: dict[str, str]
    seq: int
    published_at_us: int
    # Set by DurableConsumer: ``await event.ack()`` acks up to this event.
    acker: Callable[[ReceivedEvent], Awaitable[None]] | None = attrs.field(
        default=None, eq=False, repr=False
    )

    async def ack(self) -> None:
        """Everything up to this event is handled (only for events from a DurableConsumer)."""
        if self.acker is None:
            raise RuntimeError("ack(): this event did not come from a DurableConsumer")
        await self.acker(self)


def start_point(text: str) -> pb.StartPoint:
    """``stored | earliest | latest | offset:N | time:ISO8601`` as the wire's StartPoint."""
    point = validation.start_point(text)
    message = pb.StartPoint(kind=_KINDS[point.kind])
    if point.kind is StartKind.OFFSET:
        message.offset = point.value
    elif point.kind is StartKind.TIME:
        message.time_us = point.value
    return message


class RouterClient:
    def __init__(
        self,
        address: str = "127.0.0.1:50051",
        token: str | None = None,
        tls: bool | str | ssl.SSLContext | None = None,
    ) -> None:
        """``token`` (default: ROUTER_TOKEN) goes with every call. ``tls``: True (the system's
        CAs), a CA file's path, or a context; default: ROUTER_TLS_CA if set, else plain TCP."""
        host, port = split_host_port(address, "server")
        token = token if token is not None else os.environ.get("ROUTER_TOKEN")
        self._metadata = {"authorization": f"Bearer {token}"} if token else None
        h2frames.install()
        self._channel = Channel(host, port, ssl=client_ssl(tls))
        self._publisher = router_grpc.PublisherStub(self._channel)
        self._subscriber = router_grpc.SubscriberStub(self._channel)
        self._admin = router_grpc.AdminStub(self._channel)
        self._log = router_grpc.LogStub(self._channel)

    async def __aenter__(self) -> RouterClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    async def publish(self, events: Sequence[OutgoingEvent], timeout: float = 30) -> list[Ack]:
        response = await self._publisher.Publish(
            pb.PublishRequest(events=[e.to_pb() for e in events]),
            timeout=timeout,
            metadata=self._metadata,
        )
        return acks(response)

    @asynccontextmanager
    async def publish_stream(self) -> AsyncIterator[Stream[pb.PublishRequest, pb.PublishResponse]]:
        """The raw streaming publish: send PublishRequests, receive one PublishResponse each."""
        async with self._publisher.PublishStream.open(metadata=self._metadata) as stream:
            yield stream

    async def create_exchange(self, name: str, patterns: Sequence[str]) -> pb.Exchange:
        return await self._admin.CreateExchange(
            pb.CreateExchangeRequest(name=name, patterns=list(patterns)), metadata=self._metadata
        )

    async def list_exchanges(self) -> list[pb.Exchange]:
        response = await self._admin.ListExchanges(
            pb.ListExchangesRequest(), metadata=self._metadata
        )
        return list(response.exchanges)

    async def delete_exchange(self, name: str) -> None:
        await self._admin.DeleteExchange(
            pb.DeleteExchangeRequest(name=name), metadata=self._metadata
        )

    async def describe_exchange(self, name: str) -> pb.Exchange:
        return await self._admin.DescribeExchange(
            pb.DescribeExchangeRequest(name=name), metadata=self._metadata
        )

    # --- users and tokens (admin) ---

    async def add_user(self, name: str, role: str) -> pb.AddUserResponse:
        """The new user and its first token; the token's text is shown only here."""
        return await self._admin.AddUser(
            pb.AddUserRequest(name=name, role=role), metadata=self._metadata
        )

    async def remove_user(self, name: str) -> None:
        await self._admin.RemoveUser(pb.RemoveUserRequest(name=name), metadata=self._metadata)

    async def list_users(self) -> list[pb.User]:
        response = await self._admin.ListUsers(pb.ListUsersRequest(), metadata=self._metadata)
        return list(response.users)

    async def issue_token(self, user: str) -> pb.IssuedToken:
        return await self._admin.IssueToken(
            pb.IssueTokenRequest(user=user), metadata=self._metadata
        )

    async def revoke_token(self, token_id: str) -> None:
        await self._admin.RevokeToken(
            pb.RevokeTokenRequest(token_id=token_id), metadata=self._metadata
        )

    # --- queues and subscribers (admin) ---

    async def list_queues(self, exchange: str = "") -> list[pb.Queue]:
        response = await self._admin.ListQueues(
            pb.ListQueuesRequest(exchange=exchange), metadata=self._metadata
        )
        return list(response.queues)

    async def list_subscribers(self, exchange: str = "", name: str = "") -> list[pb.SubscriberInfo]:
        response = await self._admin.ListSubscribers(
            pb.ListSubscribersRequest(exchange=exchange, name=name), metadata=self._metadata
        )
        return list(response.subscribers)

    async def delete_subscriber(self, exchange: str, name: str, limit_size: int = 0) -> None:
        await self._admin.DeleteSubscriber(
            pb.SubscriberRef(exchange=exchange, name=name, limit_size=limit_size),
            metadata=self._metadata,
        )

    async def reset_subscriber(
        self, exchange: str, name: str, to: str, limit_size: int = 0
    ) -> pb.SubscriberInfo:
        """Move a sleeping subscriber's cursor: ``to`` is earliest, latest, offset:N or time:ISO."""
        return await self._admin.ResetSubscriber(
            pb.ResetSubscriberRequest(
                subscriber=pb.SubscriberRef(exchange=exchange, name=name, limit_size=limit_size),
                to=start_point(to),
            ),
            metadata=self._metadata,
        )

    async def stats(self) -> pb.Stats:
        """Counters since the router started; rates are differences between two calls."""
        return await self._admin.GetStats(pb.StatsRequest(), metadata=self._metadata)

    async def server_info(self) -> pb.ServerInfo:
        return await self._admin.GetServerInfo(pb.ServerInfoRequest(), metadata=self._metadata)

    async def reemit(
        self,
        exchange: str,
        amqp_exchange: str,
        start: str | None = None,
        *,
        subscriber: str = "",
        amqp_url: str = "",
        most: int = 0,
    ) -> AsyncIterator[pb.ReemitProgress]:
        """Have the router publish stored events into a RabbitMQ exchange (admin); progress.

        ``start`` None resumes where the last re-emit through ``subscriber`` stopped.
        """
        request = pb.ReemitRequest(
            exchange=exchange,
            subscriber=subscriber,
            amqp_url=amqp_url,
            amqp_exchange=amqp_exchange,
            max=most,
        )
        if start is not None:
            request.start.CopyFrom(start_point(start))
        async with self._admin.Reemit.open(metadata=self._metadata) as stream:
            await stream.send_message(request, end=True)
            async for progress in stream:
                yield progress

    async def follow(
        self, after_seq: int = 0, max_batch: int = 0
    ) -> AsyncIterator[pb.FollowResponse]:
        """The router's committed log after ``after_seq``, then each commit as it happens (admin).

        What route nodes follow; also a change feed for programs that want every event.
        """
        async with self._log.Follow.open(metadata=self._metadata) as stream:
            await stream.send_message(
                pb.FollowRequest(after_seq=after_seq, max_batch=max_batch), end=True
            )
            async for response in stream:
                yield response

    async def read(
        self, exchange: str, start: str = "earliest", most: int = 1000
    ) -> tuple[ReceivedBatch, int, int]:
        """One page of stored events (no cursor): (events, head offset, next page's offset)."""
        response = await self._subscriber.Read(
            pb.ReadRequest(exchange=exchange, start=start_point(start), max=most),
            metadata=self._metadata,
        )
        return received(response.batch), response.head_offset, response.next_offset

    def consume(
        self, exchange: str, name: str, start: str = "stored", limit_size: int = 0
    ) -> DurableConsumer:
        """Events one by one, each with ``ack()``; reconnects and resumes (see DurableConsumer).

        ``async with client.consume("orders", "billing") as events: async for e in events: ...``
        """
        from router.client.consumer import DurableConsumer

        return DurableConsumer(self, exchange, name, start, limit_size)

    def batching_publisher(self, max_batch: int = 500, linger_s: float = 0.002) -> Publisher:
        """Publish single events; they go out in batches, each caller gets its own ack."""
        from router.client.publisher import Publisher

        return Publisher(self, max_batch, linger_s)

    @asynccontextmanager
    async def subscribe(
        self, exchange: str, name: str, start: str = "stored", limit_size: int = 0
    ) -> AsyncIterator[ClientSubscription]:
        async with self._subscriber.Subscribe.open(metadata=self._metadata) as stream:
            await stream.send_message(
                pb.SubscribeRequest(
                    start=pb.SubscribeStart(
                        exchange=exchange,
                        subscriber=name,
                        queue=pb.QueueOptions(limit_size=limit_size),
                        start=start_point(start),
                    )
                )
            )
            first = await stream.recv_message()
            assert first is not None
            subscription = ClientSubscription(stream, first.subscribed)
            yield subscription
            if not subscription.finished:
                await subscription.leave()


def client_ssl(tls: bool | str | ssl.SSLContext | None) -> ssl.SSLContext | None:
    if tls is None:
        tls = os.environ.get("ROUTER_TLS_CA") or None
    if tls is None or tls is False:
        return None
    if isinstance(tls, ssl.SSLContext):
        return tls
    context = ssl.create_default_context(cafile=None if tls is True else str(tls))
    context.set_alpn_protocols(["h2"])
    return context


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


def acks(response: pb.PublishResponse) -> list[Ack]:
    return [
        Ack(a.id, a.seq, a.duplicate, {o.exchange: o.offset for o in a.offsets})
        for a in response.acks
    ]


class ClientSubscription:
    def __init__(self, stream: Any, subscribed: pb.Subscribed) -> None:
        self._stream = stream
        self.queue_id: str = subscribed.queue_id
        self.start_offset: int = subscribed.start_offset
        self.head_offset: int = subscribed.head_offset
        self.finished = False

    def __aiter__(self) -> ClientSubscription:
        return self

    async def __anext__(self) -> ReceivedBatch:
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
