"""Serving the gRPC services from Trio: grpclib runs on the trio-asyncio loop."""

from __future__ import annotations

import logging
from typing import Any

import trio
import trio_asyncio
from google.protobuf.message import DecodeError
from grpclib import GRPCError
from grpclib.const import Status
from grpclib.encoding.proto import ProtoCodec
from grpclib.events import RecvRequest, listen
from grpclib.server import Server

from router.app import Router
from router.errors import PermissionDenied, RouterError
from router.grpc.services import (
    AdminService,
    LogService,
    PublisherService,
    SubscriberService,
    authorization,
)
from router.model import Role

log = logging.getLogger("router.grpc")
ROLES = {
    "Publisher": Role.PUBLISHER,
    "Subscriber": Role.CONSUMER,
    "Admin": Role.ADMIN,
    "Log": Role.ADMIN,  # the whole log, every type: what route nodes follow
}


class _Codec(ProtoCodec):
    """Protobuf, with a request that does not parse refused as INVALID_ARGUMENT (not UNKNOWN
    with a traceback in the log): corrupt wire bytes, bad UTF-8 in a string field."""

    def decode(self, data: bytes, message_type: Any) -> Any:
        try:
            return super().decode(data, message_type)
        except DecodeError as error:
            name = message_type.DESCRIPTOR.full_name
            raise GRPCError(
                Status.INVALID_ARGUMENT, f"request: not a valid {name}: {error}"
            ) from None


def _checker(router: Router) -> Any:
    """Every call's token, checked before its handler runs: UNAUTHENTICATED or PERMISSION_DENIED."""

    async def check(event: RecvRequest) -> None:
        service = event.method_name.rsplit("/", 2)[-2].rsplit(".", 1)[-1]
        try:
            needed = ROLES.get(service)
            if needed is None:
                raise PermissionDenied(f"method: {event.method_name} is not served")
            router.auth.authorize(authorization(event.metadata), needed)
        except RouterError as error:
            raise GRPCError(Status[error.grpc_status], str(error)) from None

    return check


async def serve_grpc(
    router: Router,
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Listen on ``host:port`` until cancelled; ``task_status`` gets the bound port.

    Must run inside ``trio_asyncio.open_loop()``. On cancellation it stops listening, ends the
    open subscribe streams (their subscribers sleep with their cursors flushed) and lets in-flight
    publishes finish, within the router's shutdown grace.
    """
    subscribers = SubscriberService(router)
    publishers = PublisherService(router)
    server = Server(
        [publishers, subscribers, AdminService(router), LogService(router)], codec=_Codec()
    )
    listen(server, RecvRequest, _checker(router))
    await trio_asyncio.aio_as_trio(server.start)(host, port, ssl=router.settings.server_ssl())
    listener: Any = server._server
    sockets = listener.sockets if listener is not None else []
    bound = sockets[0].getsockname()[1] if sockets else port
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
            # Drain: stop accepting connections, refuse new publishes, let those in flight be
            # committed and acked; then end the streams (subscribers flush their cursors).
            if listener is not None:
                listener.close()
            with trio.move_on_at(scope.deadline - 1.0):
                await publishers.drain()
            server.close()
            for subscription in list(subscribers.open):
                await subscription.close()
            await trio_asyncio.aio_as_trio(server.wait_closed)()
            log.info("grpc stopped")
