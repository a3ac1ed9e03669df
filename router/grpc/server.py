"""Serving the gRPC services from Trio: grpclib runs on the bridge's asyncio loop, in its own
thread (router.bridge); every call's token is checked before its handler runs."""

from __future__ import annotations

import asyncio
import logging
from ssl import SSLContext
from typing import Any

import trio
from google.protobuf.message import DecodeError
from grpclib import GRPCError
from grpclib.const import Status
from grpclib.encoding.proto import ProtoCodec
from grpclib.events import RecvRequest, listen
from grpclib.health.check import ServiceStatus
from grpclib.protocol import H2Protocol
from grpclib.server import Server

from router.app import Router
from router.control import policy
from router.core import h2frames
from router.core.errors import PermissionDenied, RouterError, Unauthenticated
from router.core.model import Access
from router.core.wire import Encoded
from router.grpc.admin import AdminService, LogService
from router.grpc.calls import CallHandler
from router.grpc.connections import (
    CLOSE_GRACE_S,
    ConnectionLimits,
    Connections,
    Protocol,
    quiet_accept_failures,
)
from router.grpc.health import health_and_reflection
from router.grpc.metadata import authorization, let_in, peer_host
from router.grpc.publish import PublisherService
from router.grpc.status import grpc_error
from router.grpc.stopping import Stopping, next_router
from router.grpc.subscribe import SubscriberService

log = logging.getLogger("router.grpc")
ROUTER_PACKAGE = "router.v1."  # its services are named by their short names in the policy
BACKLOG = 100  # grpclib's: connections the kernel holds before the router accepts them


class Codec(ProtoCodec):
    """Protobuf, with a request that does not parse refused as INVALID_ARGUMENT (not UNKNOWN
    with a traceback in the log): corrupt wire bytes, bad UTF-8 in a string field. A response
    made from stored wire forms (router.core.wire.Encoded) is sent as it is."""

    def encode(self, message: Any, message_type: Any) -> bytes:
        if isinstance(message, Encoded):
            return message.data
        return super().encode(message, message_type)

    def decode(self, data: bytes, message_type: Any) -> Any:
        try:
            return super().decode(data, message_type)
        except DecodeError as error:
            name = message_type.DESCRIPTOR.full_name
            raise GRPCError(
                Status.INVALID_ARGUMENT, f"request: not a valid {name}: {error}"
            ) from None


def _checker(router: Router) -> Any:
    """Every call's token, checked before its handler runs against what router.control.policy says the
    call needs: UNAUTHENTICATED or PERMISSION_DENIED."""

    async def check(event: RecvRequest) -> None:
        _, qualified, method = event.method_name.rsplit("/", 2)
        service = qualified.removeprefix(ROUTER_PACKAGE)  # the others by their full names
        try:
            needed = policy.grpc_rule(service, method)
            if needed == policy.OPEN:  # health and reflection: a token, if sent, is not read
                return
            if needed == policy.ANY_USER:
                let_in(router.auth.authenticate(authorization(event.metadata)))
                return
            if not isinstance(needed, Access):  # not in the table (no gRPC call is open)
                raise PermissionDenied(f"method: {event.method_name} is not served")
            let_in(router.auth.authorize(authorization(event.metadata), needed))
        except RouterError as error:
            if isinstance(error, Unauthenticated):
                router.audit.failed(peer_host(event.peer), str(error))
            raise grpc_error(error) from None

    return check


async def serve_grpc(
    router: Router,
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Listen on ``host:port`` until cancelled; ``task_status`` gets the bound port.

    grpclib runs on the bridge's asyncio loop (its own thread: router.asyncio_thread(), opened
    by ``open_bridge`` around the servers); handlers cross into Trio once per call or batch. On
    cancellation it stops listening, drains publishes, ends the open Subscribe and
    PublishStream streams with UNAVAILABLE (router.grpc.stopping; subscribers sleep with their
    cursors flushed), within the router's shutdown grace.
    """
    h2frames.install()
    bridge = router.asyncio_thread()
    subscribers = SubscriberService(router, bridge)
    publishers = PublisherService(router, bridge)
    services: list[Any] = [
        publishers,
        subscribers,
        AdminService(router, bridge),
        LogService(router, bridge),
    ]
    standard, health = health_and_reflection(serving=True)
    services.extend(standard)

    async def start() -> Server:
        server = ClosingServer(services, codec=Codec(), limits=ConnectionLimits.of(router.settings))
        listen(server, RecvRequest, _checker(router))
        await server.start(host, port, ssl=router.settings.server_ssl())
        return server

    server = await bridge.call(start)
    listener: Any = server._server
    bound = bound_port(server, port)
    log.info(
        "grpc listening address=%s:%d tls=%s",
        host,
        bound,
        "on" if router.settings.tls_cert else "off",
    )
    task_status.started(bound)
    try:
        await trio.sleep_forever()
    finally:
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + router.settings.shutdown_grace_s
            # Drain: health says NOT_SERVING, stop accepting connections, refuse new
            # publishes, let those in flight be committed and acked; then end the streams
            # (subscribers flush their cursors) with UNAVAILABLE, and wait for their statuses
            # to be sent before the connections close.
            stopping = Stopping(next_router(router.cluster))
            await bridge.call(_not_serving, health)
            if listener is not None:
                await bridge.call(_close_listener, listener)
            await bridge.call(publishers.stop, stopping)
            with trio.move_on_at(scope.deadline - 1.0):
                await publishers.drain()
            await subscribers.stop(stopping)
            left_s = scope.deadline - 0.5 - trio.current_time()
            for handlers in (publishers.handlers, subscribers.handlers):
                await bridge.call(handlers.ended, left_s)
            await bridge.call(close_server, server)
            log.info("grpc stopped")


def bound_port(server: Server, asked: int) -> int:
    """The port a started grpclib server listens on (``asked``, or the one given for 0)."""
    listener: Any = server._server
    sockets = listener.sockets if listener is not None else []
    return int(sockets[0].getsockname()[1]) if sockets else asked


async def close_server(server: Server) -> None:
    """On the bridge's loop: stop the server, let its handlers end, then close its connections
    (grpclib's close leaves them open, and a router that steps down keeps its port as a
    standby: a client on an old connection would wait there for an answer that never comes).
    The connections are closed before waiting for the listener: from Python 3.12 on, its
    ``wait_closed`` waits for every connection it accepted to be gone."""
    server.close()
    handlers = [asyncio.ensure_future(handler.wait_closed()) for handler in server._handlers]
    if handlers:
        await asyncio.wait(handlers)
    if isinstance(server, ClosingServer):
        # Closed, a connection is gone when its transport says so (connection_lost); one
        # whose client does not read what is left to send is aborted after CLOSE_GRACE_S.
        await server.close_connections(CLOSE_GRACE_S)
    await server.wait_closed()


class ClosingServer(Server):
    """grpclib's server with each connection bounded (router.grpc.connections) and closed with
    it. A connection accepted just as the server stops is made after the others were closed:
    it closes itself as soon as it is made. A connection's handler is let go of as soon as the
    connection is closed and its calls have ended (grpclib looks only every tenth connection)."""

    def __init__(self, *args: Any, limits: ConnectionLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connections = Connections(limits)
        self._sweeper: asyncio.Task[None] | None = None

    def _protocol_factory(self) -> H2Protocol:  # grpclib's, with the bounded protocol
        return Protocol(self.connections, self._new_handler, self._config, self._h2_config)

    def _new_handler(self) -> CallHandler:
        handler = CallHandler(
            self._mapping,
            self._codec,
            self._status_details_codec,
            self.__dispatch__,
            on_closed=self._forget,
        )
        self._handlers.add(handler)
        return handler

    def _forget(self, handler: CallHandler) -> None:
        # Called back while grpclib may be walking the set (Server.close): later.
        self._loop.call_soon(self._handlers.discard, handler)

    async def start(  # type: ignore[override]
        self, host: str, port: int, *, ssl: SSLContext | None = None
    ) -> None:
        """Listen (as grpclib does), with the TLS handshake bounded by the handshake timeout,
        and start the sweep of idle connections."""
        if self._server is not None:
            raise RuntimeError("Server is already started")
        loop = asyncio.get_running_loop()
        quiet_accept_failures(loop)
        self._server = await loop.create_server(
            self._protocol_factory,
            host,
            port,
            ssl=ssl,
            ssl_handshake_timeout=(
                self.connections.limits.handshake_timeout_s if ssl is not None else None
            ),
            backlog=BACKLOG,
        )
        self._server_closed_fut = loop.create_future()
        self._sweeper = asyncio.ensure_future(self.connections.sweep_forever())

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        super().close()

    async def close_connections(self, grace_s: float) -> None:
        """Close every connection and wait until each is gone; those still flushing after
        ``grace_s`` are aborted (which drops what they had not sent)."""
        self.connections.stopped = True
        protocols = list(self.connections)
        for protocol in protocols:
            protocol.stop()
        lost = [p.lost for p in protocols if not p.lost.done()]
        if lost:
            _, pending = await asyncio.wait(lost, timeout=grace_s)
            for protocol in protocols:
                if not protocol.lost.done():
                    protocol.stop(abort=True)
            if pending:
                await asyncio.wait(pending)  # an abort reports the loss on the loop's next pass


async def _not_serving(health: ServiceStatus) -> None:
    health.set(False)  # on the server's loop: a Watch waits on events of that loop


async def _close_listener(listener: Any) -> None:
    listener.close()
