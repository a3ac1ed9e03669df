"""The client's connection: one HTTP/2 channel to the router it points at now, the calls that
follow the leader across a list of routers, their retries and the keepalive pings.

    connection = Connection("h1:50051,h2:50051", token="...")
    exchanges = await connection.admin.ListExchanges(pb.ListExchangesRequest(),
                                                     metadata=connection.metadata)

A unary call made through ``connection.publisher`` (``subscriber``, ``admin``, ``log``) is tried
again on the leader a standby named, or on the next address of the list, for up to
``failover_s`` seconds; :meth:`Connection.open_stream` does the same for opening a stream.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

from grpclib.client import Channel
from grpclib.config import Configuration
from grpclib.const import Status
from grpclib.exceptions import GRPCError, StreamTerminatedError
from grpclib.protocol import H2Protocol

from router._proto.router.v1 import router_grpc
from router.client.failover import leader_hint
from router.core import h2frames
from router.core.settings import split_host_port

log = logging.getLogger("router.client")
T = TypeVar("T")

FAILOVER_S = 20.0  # how long a call goes round a list of routers while one takes over
BACKOFF_MAX_S = 0.5  # the longest wait between two rounds of the list
# A silent router (frozen, or its machine cut off) is noticed by HTTP/2 pings while a call is
# open: one every KEEPALIVE_S, and a ping unanswered for KEEPALIVE_TIMEOUT_S closes the
# connection, so its calls fail and go on to the next router, within about a standby's lease.
KEEPALIVE_S = 2.0
KEEPALIVE_TIMEOUT_S = 3.0

CALL_ERRORS = (GRPCError, StreamTerminatedError, ConnectionError, OSError)


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


class Attempts:
    """One call's tries across a failover: a leader a standby named is tried at once; the next
    address of the list too, with a wait only after a whole round of the list failed."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        many = len(connection.addresses) > 1
        self._ends = time.monotonic() + (connection.failover_s if many else 0)
        self._delay = 0.05
        self._hints = 0
        self._round = 0

    async def failed(self, error: BaseException) -> None:
        """After ``error``: return to try again (the connection points at the next router), or
        raise ``error`` when there is nowhere to go or the time is up."""
        hinted = leader_hint(error) is not None
        self._hints += hinted
        moved = self._connection.follow_leader(error)  # the next call goes there, retried or not
        if not moved or not ((hinted and self._hints <= 3) or time.monotonic() < self._ends):
            raise error
        if hinted:
            return
        self._round += 1
        if self._round >= len(self._connection.addresses):  # every router failed: wait a little
            self._round = 0
            await asyncio.sleep(self._delay)  # back-off once every address has failed
            self._delay = min(self._delay * 2, BACKOFF_MAX_S)


class _Following:
    """A stub whose unary calls follow the leader (Connection.unary); ``.open`` opens a
    stream on the router the connection points at now."""

    def __init__(self, connection: Connection, stub: str) -> None:
        self._connection = connection
        self._stub = stub

    def __getattr__(self, method: str) -> _Method:
        return _Method(self._connection, self._stub, method)


class _Method:
    def __init__(self, connection: Connection, stub: str, method: str) -> None:
        self._connection, self._stub, self._method = connection, stub, method

    async def __call__(self, request: Any, **options: Any) -> Any:
        return await self._connection.unary(self._stub, self._method, request, options)

    def open(self, **options: Any) -> Any:
        return getattr(self._connection.stubs[self._stub], self._method).open(**options)


class Connection:
    """The channel to one router of ``address`` (HOST:PORT, or several comma-separated) and
    the stubs of its services; see RouterClient for what each argument means.

    ``follow_leader`` moves it to another router: the calls made from then on go there, while
    streams already open stay where they are."""

    def __init__(
        self,
        address: str,
        token: str | None = None,
        tls: bool | str | ssl.SSLContext | None = None,
        failover_s: float = FAILOVER_S,
        keepalive_s: float = KEEPALIVE_S,
        keepalive_timeout_s: float = KEEPALIVE_TIMEOUT_S,
    ) -> None:
        self.addresses = [part.strip() for part in address.split(",") if part.strip()]
        if not self.addresses:
            raise ValueError("server: expected HOST:PORT[,HOST:PORT...], got nothing")
        for each in self.addresses:
            split_host_port(each, "server")
        token = token if token is not None else os.environ.get("ROUTER_TOKEN")
        self.metadata = {"authorization": f"Bearer {token}"} if token else None
        self._ssl = client_ssl(tls)
        self.failover_s = failover_s
        self._config = Configuration(
            _keepalive_time=keepalive_s,
            _keepalive_timeout=keepalive_timeout_s,
            _http2_max_pings_without_data=0,  # a call may wait long for its answer: ping on
            _http2_min_sent_ping_interval_without_data=keepalive_s / 2,
        )
        h2frames.install()
        self._connect(self.addresses[0])
        # Calls made through these follow the leader (_Following); streams open on the router
        # the connection points at now.
        self.publisher = cast(router_grpc.PublisherStub, _Following(self, "publisher"))
        self.subscriber = cast(router_grpc.SubscriberStub, _Following(self, "subscriber"))
        self.admin = cast(router_grpc.AdminStub, _Following(self, "admin"))
        self.log = cast(router_grpc.LogStub, _Following(self, "log"))

    def _connect(self, address: str) -> None:
        host, port = split_host_port(address, "server")
        self.address = address
        self.channel = _Channel(host, port, ssl=self._ssl, config=self._config)
        self.stubs: dict[str, Any] = {
            "publisher": router_grpc.PublisherStub(self.channel),
            "subscriber": router_grpc.SubscriberStub(self.channel),
            "admin": router_grpc.AdminStub(self.channel),
            "log": router_grpc.LogStub(self.channel),
        }

    def follow_leader(self, error: BaseException) -> bool:
        """After a call failed with ``error``: point at the leader a standby named, or (with
        several addresses, when no router answered or it could not serve) at the next address.
        True if the next call goes to another router."""
        target = next_address(self.addresses, self.address, error)
        if target is None:
            return False
        log.info("router %s: %s; trying %s", self.address, _describe(error), target)
        self.channel.close()
        self._connect(target)
        return True

    async def unary(self, stub: str, method: str, request: Any, options: dict[str, Any]) -> Any:
        """One unary call, following the leader across a failover."""
        attempts = Attempts(self)
        while True:
            try:
                return await getattr(self.stubs[stub], method)(request, **options)
            except CALL_ERRORS as error:
                await attempts.failed(error)

    async def open_stream(
        self, stub: str, method: str, begin: Callable[[Any], Awaitable[T]]
    ) -> tuple[Any, Any, T]:
        """Open a stream of ``stub.method`` and ``begin`` it (what ``begin`` returns is its first
        word), following the list and the leader named like a unary call: the opened context,
        the stream and that first word. The caller leaves the context (see :func:`closed`)."""
        attempts = Attempts(self)
        while True:
            opened = getattr(self.stubs[stub], method).open(metadata=self.metadata)
            try:
                stream = await opened.__aenter__()
                first = await begin(stream)  # connects: a router that is not there fails here
            except CALL_ERRORS as error:
                await attempts.failed(await closed(opened, error))
                continue
            return opened, stream, first

    def close(self) -> None:
        self.channel.close()


class Calls:
    """A group of RouterClient's calls: what they share is the client's connection (the
    router it points at now, and the caller's token); most calls are the admin service's."""

    _connection: Connection

    def follow_leader(self, error: BaseException) -> bool:
        """After a call failed with ``error``: point this client at the leader a standby named,
        or (with several addresses, when no router answered or it could not serve) at the next
        address. True if the next call goes to another router."""
        return self._connection.follow_leader(error)

    @property
    def _admin(self) -> router_grpc.AdminStub:
        return self._connection.admin

    @property
    def _metadata(self) -> dict[str, str] | None:
        return self._connection.metadata


async def closed(opened: Any, error: BaseException) -> BaseException:
    """Close a stream that failed with ``error``; the error to act on: grpclib raises, on
    closing, the status a stream reset by the router carried (a refusal, a standby's hint)."""
    try:
        await opened.__aexit__(type(error), error, error.__traceback__)
    except CALL_ERRORS as told:
        return told
    return error


def client_ssl(tls: bool | str | ssl.SSLContext | None) -> ssl.SSLContext | None:
    """The TLS context of ``tls``: True (the system's CAs), a CA file's path, or a context;
    None: ROUTER_TLS_CA if set, else None (plain TCP), as False is."""
    if tls is None:
        tls = os.environ.get("ROUTER_TLS_CA") or None
    if tls is None or tls is False:
        return None
    if isinstance(tls, ssl.SSLContext):
        return tls
    context = ssl.create_default_context(cafile=None if tls is True else str(tls))
    context.set_alpn_protocols(["h2"])
    return context
