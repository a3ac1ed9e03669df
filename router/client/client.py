"""The asyncio client: every call of the router's gRPC services, for programs.

    async with RouterClient("127.0.0.1:50051") as client:       # token: ROUTER_TOKEN or token=
        await client.create_exchange("orders", ["order.*"])
        acks = await client.publish([OutgoingEvent("order.created", b'{"id": 1}')])

Errors arrive as ``grpclib.exceptions.GRPCError`` with the server's status and message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast

from grpclib.client import Channel, Stream
from grpclib.config import Configuration
from grpclib.const import Status
from grpclib.exceptions import GRPCError, StreamTerminatedError
from grpclib.protocol import H2Protocol

from router._proto.router.v1 import router_grpc
from router._proto.router.v1 import router_pb2 as pb
from router.client.consumer import DurableConsumer
from router.client.failover import leader_hint
from router.client.publisher import Publisher
from router.client.settings import SubscriberSettings, settings_message
from router.client.subscription import ClientSubscription, log_gap
from router.client.tracing import ClientTracing
from router.client.values import Ack, OutgoingEvent, ReceivedBatch, acks, received, start_point
from router.core import h2frames
from router.core.settings import split_host_port

log = logging.getLogger("router.client")


class _Channel(Channel):
    """grpclib's channel, with one race closed: a connection the server drops just as it is made
    (a router killed or restarting) could be handed to a call after it was closed, and the call
    failed with ``AttributeError: 'Connection' object has no attribute '_transport'``, a race
    known in grpclib. Here that call fails as a lost connection, which callers retry like any
    other."""

    async def __connect__(self) -> H2Protocol:
        protocol = await super().__connect__()
        if protocol.processor.connection.is_closing():
            raise ConnectionResetError("router: the connection was lost as it was made")
        return protocol


FAILOVER_S = 20.0  # how long a call goes round a list of routers while one takes over
BACKOFF_MAX_S = 0.5  # the longest wait between two rounds of the list
# A silent router (frozen, or its machine cut off) is noticed by HTTP/2 pings while a call is
# open: one every KEEPALIVE_S, and a ping unanswered for KEEPALIVE_TIMEOUT_S closes the
# connection, so its calls fail and go on to the next router, within about a standby's lease.
KEEPALIVE_S = 2.0
KEEPALIVE_TIMEOUT_S = 3.0


def next_address(addresses: Sequence[str], current: str, error: BaseException) -> str | None:
    """Where to go after a call to ``current`` failed with ``error``: the leader a standby
    named, else (with several addresses, when no router answered or it could not serve) the
    address after ``current``; None to stay."""
    hint = leader_hint(error)
    if hint is not None and hint != current:
        return hint
    if not _may_be_elsewhere(error):
        return None
    if current not in addresses:  # a leader named by a standby, gone since: back to the list
        return addresses[0]
    if len(addresses) > 1:
        at = list(addresses).index(current) if current in addresses else -1
        return addresses[(at + 1) % len(addresses)]
    return None


def _may_be_elsewhere(error: BaseException) -> bool:
    """No router answered here (refused, lost, or silent past the call's timeout: a frozen or
    cut-off machine), or it could not serve now (a standby, a router stopping)."""
    if isinstance(error, GRPCError):
        return error.status is Status.UNAVAILABLE
    return isinstance(error, (StreamTerminatedError, ConnectionError, OSError))


def _describe(error: BaseException) -> str:
    if isinstance(error, GRPCError):
        return f"{error.status.name}: {error.message}"
    return f"{type(error).__name__}: {error}"


class _Attempts:
    """One call's tries across a failover: a leader a standby named is tried at once; the next
    address of the list too, with a wait only after a whole round of the list failed."""

    def __init__(self, client: RouterClient) -> None:
        self._client = client
        many = len(client.addresses) > 1
        self._ends = time.monotonic() + (client.failover_s if many else 0)
        self._delay = 0.05
        self._hints = 0
        self._round = 0

    async def failed(self, error: BaseException) -> None:
        """After ``error``: return to try again (the client points at the next router), or
        raise ``error`` when there is nowhere to go or the time is up."""
        hinted = leader_hint(error) is not None
        self._hints += hinted
        moved = self._client.follow_leader(error)  # the next call goes there, retried or not
        if not moved or not ((hinted and self._hints <= 3) or time.monotonic() < self._ends):
            raise error
        if hinted:
            return
        self._round += 1
        if self._round >= len(self._client.addresses):  # every router failed: wait a little
            self._round = 0
            await asyncio.sleep(self._delay)  # back-off once every address has failed
            self._delay = min(self._delay * 2, BACKOFF_MAX_S)


CALL_ERRORS = (GRPCError, StreamTerminatedError, ConnectionError, OSError)


class _Following:
    """A stub whose unary calls follow the leader (RouterClient._unary); ``.open`` opens a
    stream on the router the client points at now."""

    def __init__(self, client: RouterClient, stub: str) -> None:
        self._client = client
        self._stub = stub

    def __getattr__(self, method: str) -> _Method:
        return _Method(self._client, self._stub, method)


class _Method:
    def __init__(self, client: RouterClient, stub: str, method: str) -> None:
        self._client, self._stub, self._method = client, stub, method

    async def __call__(self, request: Any, **options: Any) -> Any:
        return await self._client._unary(self._stub, self._method, request, options)

    def open(self, **options: Any) -> Any:
        return getattr(self._client._stubs[self._stub], self._method).open(**options)


class RouterClient:
    """A connection to a router (one HTTP/2 channel) and every call it serves.

    async with RouterClient("127.0.0.1:50051", token=...) as client:
        (ack,) = await client.publish([OutgoingEvent("order.created", b"{}")])
        async with client.consume("orders", "billing") as events: ...
    """

    def __init__(
        self,
        address: str = "127.0.0.1:50051",
        token: str | None = None,
        tls: bool | str | ssl.SSLContext | None = None,
        failover_s: float = FAILOVER_S,
        tracer_provider: Any = None,
        keepalive_s: float = KEEPALIVE_S,
        keepalive_timeout_s: float = KEEPALIVE_TIMEOUT_S,
    ) -> None:
        """``address`` is HOST:PORT, or several (``h1:50051,h2:50051``: routers of which one
        leads, the others standing by). ``token`` (default: ROUTER_TOKEN) goes with every call.
        ``tls``: True (the system's CAs), a CA file's path, or a context; default:
        ROUTER_TLS_CA if set, else plain TCP.

        Every call follows the list, streams included: a call refused by a standby goes at once
        to the leader it names; with several addresses, a call that finds no router (or one
        that cannot serve it now) is tried on the next, for up to ``failover_s`` seconds, long
        enough for a standby to take over. Publishing again is safe: an event id already stored
        is acked as a duplicate, not stored twice. While a call is open, an HTTP/2 ping goes
        out every ``keepalive_s``; one unanswered for ``keepalive_timeout_s`` (a frozen router,
        a cut-off machine) ends the connection, and its calls go on to the next router.

        With OpenTelemetry (``tracer_provider``, or a global one set), publishes run in spans
        whose trace context goes with the events (router.client.tracing)."""
        self.addresses = [part.strip() for part in address.split(",") if part.strip()]
        if not self.addresses:
            raise ValueError("server: expected HOST:PORT[,HOST:PORT...], got nothing")
        for each in self.addresses:
            split_host_port(each, "server")
        token = token if token is not None else os.environ.get("ROUTER_TOKEN")
        self._metadata = {"authorization": f"Bearer {token}"} if token else None
        self._ssl = client_ssl(tls)
        self.failover_s = failover_s
        self._config = Configuration(
            _keepalive_time=keepalive_s,
            _keepalive_timeout=keepalive_timeout_s,
            _http2_max_pings_without_data=0,  # a call may wait long for its answer: ping on
            _http2_min_sent_ping_interval_without_data=keepalive_s / 2,
        )
        self.tracing = ClientTracing(tracer_provider)
        h2frames.install()
        self._connect(self.addresses[0])
        # Calls made through these follow the leader (_Following); streams open on the router
        # the client points at now.
        self._publisher = cast(router_grpc.PublisherStub, _Following(self, "publisher"))
        self._subscriber = cast(router_grpc.SubscriberStub, _Following(self, "subscriber"))
        self._admin = cast(router_grpc.AdminStub, _Following(self, "admin"))
        self._log = cast(router_grpc.LogStub, _Following(self, "log"))

    def _connect(self, address: str) -> None:
        host, port = split_host_port(address, "server")
        self.address = address
        self._channel = _Channel(host, port, ssl=self._ssl, config=self._config)
        self._stubs: dict[str, Any] = {
            "publisher": router_grpc.PublisherStub(self._channel),
            "subscriber": router_grpc.SubscriberStub(self._channel),
            "admin": router_grpc.AdminStub(self._channel),
            "log": router_grpc.LogStub(self._channel),
        }

    def follow_leader(self, error: BaseException) -> bool:
        """After a call failed with ``error``: point this client at the leader a standby named,
        or (with several addresses, when no router answered or it could not serve) at the next
        address. True if the next call goes to another router."""
        target = next_address(self.addresses, self.address, error)
        if target is None:
            return False
        log.info("router %s: %s; trying %s", self.address, _describe(error), target)
        self._channel.close()
        self._connect(target)
        return True

    async def _unary(self, stub: str, method: str, request: Any, options: dict[str, Any]) -> Any:
        """One unary call, following the leader across a failover (see ``__init__``)."""
        attempts = _Attempts(self)
        while True:
            try:
                return await getattr(self._stubs[stub], method)(request, **options)
            except CALL_ERRORS as error:
                await attempts.failed(error)

    async def __aenter__(self) -> RouterClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    async def publish(self, events: Sequence[OutgoingEvent], timeout: float = 30) -> list[Ack]:
        with self.tracing.publishing(events, self._metadata) as (headers, metadata):
            response = await self._publisher.Publish(
                pb.PublishRequest(
                    events=[
                        pb.Event(id=e.id, type=e.type, payload=e.payload, headers=h)
                        for e, h in zip(events, headers, strict=True)
                    ]
                ),
                timeout=timeout,
                metadata=metadata,
            )
        return acks(response)

    @asynccontextmanager
    async def publish_stream(self) -> AsyncIterator[Stream[pb.PublishRequest, pb.PublishResponse]]:
        """The raw streaming publish: send PublishRequests, receive one PublishResponse each.

        Opening follows the address list like any call. A stream that fails later (refused by
        a standby, its router gone or silent) raises as it is, and the client then points at
        the leader named, or the next address: opened again, it goes there."""
        attempts = _Attempts(self)
        while True:
            opened = self._stubs["publisher"].PublishStream.open(metadata=self._metadata)
            try:
                stream = await opened.__aenter__()
                await stream.send_request()  # connects: a router that is not there fails here
            except CALL_ERRORS as error:
                await attempts.failed(await _closed(opened, error))
                continue
            break
        try:
            yield stream
        except CALL_ERRORS as error:
            told = await _closed(opened, error)
            self.follow_leader(told)
            if told is not error:
                raise told from None  # the status the router ended the stream with
            raise
        else:
            await opened.__aexit__(None, None, None)

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

    async def get_user(self, name: str) -> pb.User:
        """A user with its role, grants, quotas and token ids."""
        return await self._admin.GetUser(pb.GetUserRequest(name=name), metadata=self._metadata)

    async def add_grants(self, user: str, grants: list[pb.Grant]) -> pb.User:
        """Give ``user`` the grants (one on the same action and pattern is replaced)."""
        return await self._admin.AddGrants(
            pb.ChangeGrantsRequest(user=user, grants=grants), metadata=self._metadata
        )

    async def revoke_grants(self, user: str, grants: list[pb.Grant]) -> pb.User:
        """Take the grants from ``user`` (matched by action and pattern); the streams it may no
        longer read end."""
        return await self._admin.RevokeGrants(
            pb.ChangeGrantsRequest(user=user, grants=grants), metadata=self._metadata
        )

    async def set_quotas(
        self,
        user: str,
        events_per_s: int = 0,
        bytes_per_s: int = 0,
        streams: int = 0,
        subscribers: int = 0,
    ) -> pb.User:
        """Set ``user``'s quotas (0: no limit)."""
        quotas = pb.Quotas(
            events_per_s=events_per_s,
            bytes_per_s=bytes_per_s,
            streams=streams,
            subscribers=subscribers,
        )
        return await self._admin.SetQuotas(
            pb.SetQuotasRequest(user=user, quotas=quotas), metadata=self._metadata
        )

    async def issue_token(self, user: str, expires_in_s: int = 0) -> pb.IssuedToken:
        """A new token for ``user``; it expires ``expires_in_s`` from now (0: never)."""
        return await self._admin.IssueToken(
            pb.IssueTokenRequest(user=user, expires_in_s=expires_in_s), metadata=self._metadata
        )

    async def list_audit(self, since_us: int = 0, max_entries: int = 1000) -> list[pb.AuditEntry]:
        """The audit trail of admin changes from ``since_us`` on, oldest first."""
        response = await self._admin.ListAudit(
            pb.ListAuditRequest(since_us=since_us, max=max_entries), metadata=self._metadata
        )
        return list(response.entries)

    async def list_tokens(self, user: str = "") -> list[pb.TokenInfo]:
        """Every token (of ``user`` if given): ids, owners, expiry, last use; never the text."""
        response = await self._admin.ListTokens(
            pb.ListTokensRequest(user=user), metadata=self._metadata
        )
        return list(response.tokens)

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

    async def set_subscriber_settings(
        self,
        exchange: str,
        name: str,
        settings: SubscriberSettings | pb.SubscriberSettings,
        limit_size: int = 0,
    ) -> pb.SubscriberInfo:
        """Change the fields set in ``settings``; the rest are kept."""
        return await self._admin.SetSubscriberSettings(
            pb.SetSubscriberSettingsRequest(
                subscriber=pb.SubscriberRef(exchange=exchange, name=name, limit_size=limit_size),
                settings=settings_message(settings),
            ),
            metadata=self._metadata,
        )

    async def list_parked(
        self,
        exchange: str,
        name: str,
        after: int = 0,
        most: int = 1000,
        limit_size: int = 0,
        wait: float = 0.0,
    ) -> pb.ListParkedResponse:
        """A page of the parked list after offset ``after``; with ``wait``, an empty page waits
        that long (0..60 s) for an event to be parked past it."""
        return await self._admin.ListParked(
            pb.ListParkedRequest(
                subscriber=pb.SubscriberRef(exchange=exchange, name=name, limit_size=limit_size),
                after_offset=after,
                max=most,
                wait_s=wait,
            ),
            metadata=self._metadata,
        )

    async def follow_parked(
        self, exchange: str, name: str, limit_size: int = 0
    ) -> AsyncIterator[pb.ParkedEvent]:
        """The subscriber's parked events: those parked now, then each one parked from then
        on (one parked again comes again), until the caller stops (admin). For repair tools."""
        request = pb.ListParkedRequest(
            subscriber=pb.SubscriberRef(exchange=exchange, name=name, limit_size=limit_size)
        )
        async with self._admin.FollowParked.open(metadata=self._metadata) as stream:
            await stream.send_message(request, end=True)
            async for page in stream:
                for parked in page.parked:
                    yield parked

    async def redrive_parked(
        self, exchange: str, name: str, offsets: Sequence[int] = (), limit_size: int = 0
    ) -> list[int]:
        """Deliver parked events again through the subscriber (no offsets: all of them)."""
        response = await self._admin.RedriveParked(
            _parked_request(exchange, name, offsets, limit_size), metadata=self._metadata
        )
        return list(response.offsets)

    async def discard_parked(
        self, exchange: str, name: str, offsets: Sequence[int] = (), limit_size: int = 0
    ) -> list[int]:
        """Drop parked events from the list (no offsets: all of them)."""
        response = await self._admin.DiscardParked(
            _parked_request(exchange, name, offsets, limit_size), metadata=self._metadata
        )
        return list(response.offsets)

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
        self,
        exchange: str,
        start: str = "earliest",
        most: int = 1000,
        on_gap: Callable[[pb.Gap], None] = log_gap,
    ) -> tuple[ReceivedBatch, int, int]:
        """One page of stored events (no cursor): (events, head offset, next page's offset).
        A start before the horizon reads from it, and ``on_gap`` is told what was removed."""
        response = await self._subscriber.Read(
            pb.ReadRequest(exchange=exchange, start=start_point(start), max=most),
            metadata=self._metadata,
        )
        if response.HasField("gap"):
            on_gap(response.gap)
        return received(response.batch), response.head_offset, response.next_offset

    async def trim_log(
        self, before: str, dry_run: bool = False, most: int = 0
    ) -> pb.TrimLogResponse:
        """One removal step (admin): ``before`` is ``seq:N`` or ``time:ISO-8601``."""
        request = pb.TrimLogRequest(dry_run=dry_run, max=most)
        kind, _, value = before.partition(":")
        if kind == "seq" and value.isdigit():
            request.before_seq = int(value)
        elif kind == "time":
            request.before_time_us = start_point(before).time_us
        else:
            raise ValueError(f"before: expected seq:N or time:ISO-8601, got {before!r}")
        return await self._admin.TrimLog(request, metadata=self._metadata)

    async def register_type(
        self,
        pattern: str,
        schema: str | dict[str, Any] | bool,
        mode: str = "enforce",
        description: str = "",
        owner: str = "",
        force: bool = False,
    ) -> pb.EventType:
        """Register a new version of an event type's contract (admin): publishes of the types
        matching ``pattern`` have their JSON payloads checked against ``schema`` (a JSON Schema,
        draft 2020-12, as text or parsed); ``mode`` "enforce" refuses those that do not match,
        "warn" stores and counts them. A version narrower than the current one is refused
        (FAILED_PRECONDITION) unless ``force``."""
        text = schema if isinstance(schema, str) else json.dumps(schema)
        request = pb.RegisterTypeRequest(
            pattern=pattern,
            schema=text,
            mode=mode,
            description=description,
            owner=owner,
            force=force,
        )
        return await self._admin.RegisterType(request, metadata=self._metadata)

    async def list_types(self) -> list[pb.EventType]:
        """The current version of every registered event type, by pattern."""
        response = await self._admin.ListTypes(pb.ListTypesRequest(), metadata=self._metadata)
        return list(response.types)

    async def get_type(self, pattern: str, version: int = 0) -> pb.EventType:
        """One version of an event type (0: the current one)."""
        return await self._admin.GetType(
            pb.GetTypeRequest(pattern=pattern, version=version), metadata=self._metadata
        )

    async def asyncapi(self) -> dict[str, Any]:
        """The router as an AsyncAPI 3.0 document: servers, channels, types and their schemas."""
        found = await self._admin.GetAsyncAPI(pb.AsyncAPIRequest(), metadata=self._metadata)
        document: dict[str, Any] = json.loads(found.json)
        return document

    async def delete_type(self, pattern: str) -> None:
        """Forget every version of ``pattern``: its events are no longer checked (admin)."""
        await self._admin.DeleteType(pb.DeleteTypeRequest(pattern=pattern), metadata=self._metadata)

    def consume(
        self,
        exchange: str,
        name: str,
        start: str = "stored",
        limit_size: int = 0,
        *,
        shared: bool = False,
        prefetch: int = 0,
        settings: SubscriberSettings | pb.SubscriberSettings | None = None,
    ) -> DurableConsumer:
        """Events one by one, each with ``ack()``, ``nack(delay)``, ``park(reason)`` and its
        ``delivery_count``; reconnects and resumes (see DurableConsumer). ``shared=True``: one
        of several consumers of a shared subscriber, holding at most ``prefetch`` events.

        ``start`` and ``settings`` apply when this creates the subscriber; a subscriber that
        exists resumes from its saved cursor (move it with ``reset_subscriber``), and a setting
        given that differs from its stored one is refused (FAILED_PRECONDITION naming it).

        ``async with client.consume("orders", "billing") as events: async for e in events: ...``
        """
        return DurableConsumer(
            self,
            exchange,
            name,
            start,
            limit_size,
            shared=shared,
            prefetch=prefetch,
            settings=settings,
        )

    def batching_publisher(self, max_batch: int = 500, linger_s: float = 0.002) -> Publisher:
        """Publish single events; they go out in batches, each caller gets its own ack."""
        return Publisher(self, max_batch, linger_s)

    @asynccontextmanager
    async def subscribe(
        self,
        exchange: str,
        name: str,
        start: str = "stored",
        limit_size: int = 0,
        *,
        settings: SubscriberSettings | pb.SubscriberSettings | None = None,
        prefetch: int = 0,
        start_if_new: bool = True,
    ) -> AsyncIterator[ClientSubscription]:
        """One stream of a durable subscriber; ``prefetch``: this consumer's own, when shared.

        ``start`` applies when this call creates the subscriber; one that exists resumes from
        its saved cursor. ``start_if_new=False`` makes ``start`` move an existing (sleeping)
        subscriber's cursor as well (what ``router tail --from`` does). ``settings`` apply when
        the subscriber is created; on one that exists, each setting given must equal the stored
        one, or the call is refused (FAILED_PRECONDITION naming the field)."""
        begin = pb.SubscribeStart(
            exchange=exchange,
            subscriber=name,
            queue=pb.QueueOptions(limit_size=limit_size),
            start=start_point(start),
            prefetch=prefetch,
            start_if_new=start_if_new,
        )
        wire_settings = settings_message(settings)
        if wire_settings is not None:
            begin.settings.CopyFrom(wire_settings)
        attempts = _Attempts(self)
        while True:  # attached, or refused for good: following the list and the leader named
            opened = self._stubs["subscriber"].Subscribe.open(metadata=self._metadata)
            try:
                stream = await opened.__aenter__()
                await stream.send_message(pb.SubscribeRequest(start=begin))
                first = await stream.recv_message()
                if first is None:  # ended without a word: its status says why
                    await stream.recv_trailing_metadata()
                    raise GRPCError(Status.UNAVAILABLE, "subscribe: the stream ended at once")
            except CALL_ERRORS as error:
                await attempts.failed(await _closed(opened, error))
                continue
            break
        subscription = ClientSubscription(stream, first.subscribed)
        try:
            yield subscription
            if not subscription.finished:
                await subscription.leave()
        except BaseException as error:
            told = await _closed(opened, error)
            if told is not error:
                raise told from None  # the status the router ended the stream with
            raise
        else:
            await opened.__aexit__(None, None, None)


async def _closed(opened: Any, error: BaseException) -> BaseException:
    """Close a stream that failed with ``error``; the error to act on: grpclib raises, on
    closing, the status a stream reset by the router carried (a refusal, a standby's hint)."""
    try:
        await opened.__aexit__(type(error), error, error.__traceback__)
    except CALL_ERRORS as told:
        return told
    return error


def _parked_request(
    exchange: str, name: str, offsets: Sequence[int], limit_size: int
) -> pb.ParkedRequest:
    return pb.ParkedRequest(
        subscriber=pb.SubscriberRef(exchange=exchange, name=name, limit_size=limit_size),
        offsets=list(offsets),
        all=not offsets,
    )


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
