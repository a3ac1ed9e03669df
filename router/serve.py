"""``router serve``: the router with its gRPC edge, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import functools
import logging
import signal
import sys
from typing import Any

import trio

from router.app import Router, open_router
from router.bridge import open_bridge
from router.grpc.server import serve_grpc
from router.settings import Settings

log = logging.getLogger("router")


async def serve(
    settings: Settings, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
) -> None:
    """Run until cancelled or signalled; shutdown stops listening, drains, flushes, closes storage."""
    host, port = settings.grpc_host_port()
    async with (
        open_router(settings) as router,
        open_bridge() as bridge,
        trio.open_nursery() as nursery,
    ):
        router.use_bridge(bridge)
        if not settings.auth:
            log.warning("AUTH IS OFF (--dev): anyone who can reach this port can do anything")
        if router.initial_admin_token is not None:
            announce_admin_token(router.initial_admin_token)
        bound = await nursery.start(serve_grpc, router, host, port)
        http = settings.http_host_port()
        if http is not None:
            await nursery.start(serve_http, router, *http)
        if settings.amqp is not None:
            from router.amqp.ingest import Ingest

            router.amqp_ingest = Ingest(
                router.publish, settings.amqp, settings, router.asyncio_thread()
            )
            await nursery.start(router.amqp_ingest.run)
        if settings.role == "route":
            from router.follow import Follower

            assert settings.upstream is not None
            router.follower = Follower(
                router, settings.upstream, settings.upstream_token, settings.upstream_tls_ca
            )
            await nursery.start(router.follower.run)
        nursery.start_soon(_stop_on_signal, nursery.cancel_scope)
        task_status.started(bound)
    log.info("router stopped")


async def serve_http(
    router: Router,
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """The REST API on hypercorn's Trio worker, in the router's own Trio loop (no crossing),
    with the rate sampler behind the page and ``/metrics`` (unless metrics are off)."""
    from hypercorn.config import Config
    from hypercorn.trio import serve as hypercorn_serve

    from router.http.app import make_app
    from router.metrics import Rates, sample_forever

    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.graceful_timeout = router.settings.shutdown_grace_s
    config.keep_alive_timeout = 75
    config.h11_max_incomplete_size = 64 * 1024  # headers; slow or endless ones are cut off
    config.read_timeout = 30
    if router.settings.tls_cert and router.settings.tls_key:
        config.certfile = router.settings.tls_cert
        config.keyfile = router.settings.tls_key
    rates = Rates()
    app: Any = make_app(router, rates)  # ASGI; hypercorn's type names its own protocol classes
    async with trio.open_nursery() as nursery:
        if router.settings.metrics:
            counted = functools.partial(router.stats, with_subscribers=False)
            nursery.start_soon(sample_forever, counted, rates)
        await hypercorn_serve(app, config, task_status=task_status)
        nursery.cancel_scope.cancel()


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
