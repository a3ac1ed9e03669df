"""``router serve``: the router with its gRPC edge, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import logging
import signal
import sys

import trio
import trio_asyncio

from router.app import open_router
from router.grpc.server import serve_grpc
from router.settings import Settings

log = logging.getLogger("router")


async def serve(
    settings: Settings, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
) -> None:
    """Run until cancelled or signalled; shutdown stops listening, drains, flushes, closes storage."""
    host, port = settings.grpc_host_port()
    async with (
        trio_asyncio.open_loop(),
        open_router(settings) as router,
        trio.open_nursery() as nursery,
    ):
        if not settings.auth:
            log.warning("AUTH IS OFF (--dev): anyone who can reach this port can do anything")
        if router.initial_admin_token is not None:
            announce_admin_token(router.initial_admin_token)
        bound = await nursery.start(serve_grpc, router, host, port)
        nursery.start_soon(_stop_on_signal, nursery.cancel_scope)
        task_status.started(bound)
    log.info("router stopped")


def announce_admin_token(token: str) -> None:
    """Shown once, on the start that created user ``admin``: only its hash is stored."""
    print(
        "\n  First start: created user 'admin'. Its token (shown only now):\n"
        f"\n    {token}\n\n  export ROUTER_TOKEN={token}\n",
        file=sys.stderr,
        flush=True,
    )


async def _stop_on_signal(scope: trio.CancelScope) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for received in signals:
            log.info("signal=%s: shutting down", signal.Signals(received).name)
            scope.cancel()
            return
