"""``router serve``: the router with its gRPC edge, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import contextlib
import functools
import logging
import signal
from typing import TYPE_CHECKING, Any

import attrs
import trio

from router.app import Router, open_router
from router.bridge import AsyncioThread, open_bridge
from router.core.settings import Settings
from router.grpc.server import serve_grpc
from router.node import admin_token
from router.node.startup import listening
from router.observe.stats import Cluster, RouterNode
from storage.base import StorageUnavailable
from storage.leadership import LEADERSHIP_MIGRATION, Deposed, Elector, Leader, Lease

if TYPE_CHECKING:
    from router.node.standby import LeaderHint

log = logging.getLogger("router")


class _Stop:
    """A signal's request to stop, and the scope of what runs now (standing by or leading)."""

    def __init__(self) -> None:
        self.requested = False
        self.scope: trio.CancelScope | None = None

    def now(self) -> None:
        self.requested = True
        if self.scope is not None:
            self.scope.cancel()


async def serve(
    settings: Settings, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
) -> None:
    """Run until cancelled or signalled; shutdown stops listening, drains, flushes, closes storage.

    On PostgreSQL (roles all and ingest) the router first takes part in leadership
    (storage.leadership): it leads if no other router does, else it stands by (router.node.standby)
    until it can take over, and goes back to standing by if it is ever deposed.
    """
    stop = _Stop()
    # One asyncio thread for the process's life: connections a server closed as the router
    # stepped down are closed by callbacks of that loop, which must go on running.
    async with open_bridge() as bridge, trio.open_nursery() as signals:
        signals.start_soon(_stop_on_signal, stop)
        if settings.elects:
            await _elect_and_serve(settings, bridge, stop, task_status)
        else:
            if settings.db_url.startswith("sqlite:"):
                log.info(
                    "single node: SQLite is one process's file; standby routers need PostgreSQL"
                )
            await _serve(settings, bridge, None, stop, task_status)
        signals.cancel_scope.cancel()
    log.info("router stopped")


async def _elect_and_serve(
    settings: Settings, bridge: AsyncioThread, stop: _Stop, task_status: Any
) -> None:
    elector = Elector(
        settings.db_url,
        settings.leader_name(),
        settings.grpc_advertised(),
        settings.http_advertised(),
        settings.lease_s,
    )
    try:
        await trio.to_thread.run_sync(prepare_schema, settings.db_url)
        while not stop.requested:
            lease = await _take(elector)
            if lease is None:
                lease = await _stand_by(settings, bridge, elector, stop, task_status)
                task_status = trio.TASK_STATUS_IGNORED  # started once, by the standby servers
                if lease is None:
                    return
            log.info("leading epoch=%d name=%s", lease.epoch, elector.name)
            deposed = await _serve(settings, bridge, (elector, lease), stop, task_status)
            task_status = trio.TASK_STATUS_IGNORED
            if not deposed:
                with trio.CancelScope(shield=True), trio.move_on_after(5):
                    await _quietly(elector.resign, lease.epoch)
    finally:
        elector.close()


def prepare_schema(url: str) -> None:
    """Before taking part in leadership: refuse a store whose schema is newer than this router
    knows (SchemaNewer), and make the leadership tables on a store that has none. Other
    migrations wait until this router leads (the leader applies them as it starts, through its
    writer connection), so a standby of a newer version never changes the schema under the
    leader it stands by for."""
    from storage import open_storage

    storage = open_storage(url)
    try:
        schema = storage.schema_state()
        schema.check()
        if schema.applied < LEADERSHIP_MIGRATION:
            applied = storage.migrate(upto=LEADERSHIP_MIGRATION)
            log.info("schema: applied versions=%s (up to the leadership tables)", applied)
        elif schema.pending:
            log.info(
                "schema: the store is at version %d, this router knows %d: migrating once it"
                " leads (or by `router migrate-schema`)",
                schema.applied,
                schema.known,
            )
    finally:
        storage.close()


async def _take(elector: Elector) -> Lease | None:
    try:
        return await trio.to_thread.run_sync(elector.take)
    except StorageUnavailable as error:
        log.warning("leadership: cannot reach the database: %s", error)
        return None


async def _quietly(call: Any, *args: Any) -> None:
    try:
        await trio.to_thread.run_sync(call, *args)
    except StorageUnavailable as error:
        log.warning("leadership: %s", error)


async def _read_leader(elector: Elector, hint: LeaderHint) -> Leader:
    """Read who leads into ``hint`` (logged when the epoch changes), and return it."""
    leader = await trio.to_thread.run_sync(elector.leader)
    if leader.epoch != hint.epoch:
        log.info("leader epoch=%d name=%s grpc=%s", leader.epoch, leader.name, leader.grpc_address)
    hint.grpc_address, hint.http_address = leader.grpc_address, leader.http_address
    hint.epoch = leader.epoch
    return leader


async def _stand_by(
    settings: Settings, bridge: AsyncioThread, elector: Elector, stop: _Stop, task_status: Any
) -> Lease | None:
    """Serve refusals that name the leader until this router takes the lock; None if stopped."""
    from router.node.standby import LeaderHint, serve_standby_grpc, serve_standby_http

    hint = LeaderHint()
    lease = None
    if stop.requested:  # signalled while it stepped down or tried the lock
        return None
    with contextlib.suppress(StorageUnavailable):  # the loop below says why, and retries
        await _read_leader(elector, hint)  # so that its first refusal already names the leader
    async with trio.open_nursery() as nursery:
        stop.scope = nursery.cancel_scope
        with listening("--grpc", settings.grpc_address):
            bound = await nursery.start(serve_standby_grpc, bridge, hint, settings)
        if settings.http_address is not None:
            with listening("--http", settings.http_address):
                await nursery.start(serve_standby_http, hint, settings)
        task_status.started(bound)
        log.info("standing by name=%s", elector.name)
        last_error = ""
        while lease is None:
            try:
                leader = await _read_leader(elector, hint)
                if await trio.to_thread.run_sync(elector.end_lapsed, leader):
                    log.warning(
                        "leadership: the lease of epoch %d ran out; ended its connection",
                        leader.epoch,
                    )
                lease = await trio.to_thread.run_sync(elector.take)
                last_error = ""
            except StorageUnavailable as error:
                if str(error) != last_error:
                    log.warning("leadership: cannot reach the database: %s", error)
                last_error = str(error)
            if lease is None:
                await trio.sleep(settings.standby_poll_s)  # the poll's pace: nothing to wait on
        nursery.cancel_scope.cancel()
    stop.scope = None
    if stop.requested:
        if lease is not None and lease.connection is not None:
            lease.connection.close()  # the lock goes with it
        return None
    return lease


async def _keep_lease(
    router: Router,
    elector: Elector,
    epoch: int,
    every_s: float,
    deposed: list[bool],
    scope: trio.CancelScope,
) -> None:
    """Renew the lease until cancelled, refreshing ``router.cluster`` (router info, the page);
    once another router leads, stop leading."""
    while True:
        try:
            await trio.to_thread.run_sync(elector.renew, epoch)
            nodes = await trio.to_thread.run_sync(elector.nodes, 3 * elector.lease_s)
            host = await trio.to_thread.run_sync(elector.database_host)
            router.cluster = Cluster(
                elector.name,
                epoch,
                tuple(RouterNode(*attrs.astuple(node)) for node in nodes),
                host,
            )
        except Deposed as error:
            log.warning("deposed: %s; stepping down", error)
            deposed.append(True)
            scope.cancel()
            return
        except StorageUnavailable as error:
            log.warning("leadership: cannot renew the lease: %s", error)
        await trio.sleep(every_s)  # the renewal's pace


async def _serve(
    settings: Settings,
    bridge: AsyncioThread,
    leading: tuple[Elector, Lease] | None,
    stop: _Stop,
    task_status: Any,
) -> bool:
    """The router itself, until stopped (False) or deposed (True)."""
    host, port = settings.grpc_host_port()
    deposed: list[bool] = []
    async with (
        open_router(
            settings,
            leading[1] if leading else None,
            functools.partial(admin_token.keep, admin_token.token_path(settings)),
        ) as router,
        trio.open_nursery() as nursery,
    ):
        stop.scope = nursery.cancel_scope
        if stop.requested:
            nursery.cancel_scope.cancel()
        if leading is not None:
            elector, lease = leading
            router.cluster = Cluster(elector.name, lease.epoch, (), "")
            nursery.start_soon(
                _keep_lease,
                router,
                elector,
                lease.epoch,
                settings.lease_s / 4,
                deposed,
                nursery.cancel_scope,
            )
        router.use_bridge(bridge)
        if not settings.auth:
            log.warning("AUTH IS OFF (--dev): anyone who can reach this port can do anything")
        if router.initial_admin_token is not None:
            admin_token.announce(admin_token.token_path(settings))
        with listening("--grpc", settings.grpc_address):
            bound = await nursery.start(serve_grpc, router, host, port)
        http = settings.http_host_port()
        if http is not None:
            with listening("--http", str(settings.http_address)):
                await nursery.start(serve_http, router, *http)
        if settings.amqp is not None:
            from router.amqp.ingest import Ingest

            router.amqp_ingest = Ingest(
                router.publish, settings.amqp, settings, router.asyncio_thread()
            )
            await nursery.start(router.amqp_ingest.run)
        if settings.role == "route":
            from router.node.follow import Follower

            assert settings.upstream is not None
            router.follower = Follower(
                router, settings.upstream, settings.upstream_token, settings.upstream_tls_ca
            )
            await nursery.start(router.follower.run)
        task_status.started(bound)
    stop.scope = None
    return bool(deposed)


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
    from router.observe.metrics import Rates, sample_forever

    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")  # through the router's handlers, once
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


async def _stop_on_signal(stop: _Stop) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for received in signals:
            log.info("signal=%s: shutting down", signal.Signals(received).name)
            stop.now()
            return
