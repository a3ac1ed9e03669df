"""Serving the gRPC services from Trio: grpclib runs on the trio-asyncio loop."""

from __future__ import annotations

import logging
from typing import Any

import trio
import trio_asyncio
from grpclib.server import Server

from router.app import Router
from router.grpc.services import AdminService, PublisherService, SubscriberService

log = logging.getLogger("router.grpc")


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
    server = Server([PublisherService(router), subscribers, AdminService(router)])
    await trio_asyncio.aio_as_trio(server.start)(host, port)
    listener: Any = server._server
    sockets = listener.sockets if listener is not None else []
    bound = sockets[0].getsockname()[1] if sockets else port
    log.info("grpc listening address=%s:%d", host, bound)
    task_status.started(bound)
    try:
        await trio.sleep_forever()
    finally:
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + router.settings.shutdown_grace_s
            server.close()
            for subscription in list(subscribers.open):
                await subscription.close()
            await trio_asyncio.aio_as_trio(server.wait_closed)()
            log.info("grpc stopped")
