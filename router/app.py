"""Wiring: the Router opens storage, restores state and runs the actor tree under one nursery.

    async with open_router(settings) as router:
        await router.create_exchange("orders", ["order.*"])
        acks = await router.publish([...])

Start-up restores exchanges, queues and subscribers (all sleeping) before ``open_router`` yields,
so edges start listening only on a ready router. Leaving the block cancels the tree: subscribers
flush their cursors, the running commit completes, storage closes.

The Router is composed of its parts, one job each (router.facade): publishing, the log,
exchanges and their history, subscribing, subscribers, settling and parked lists, event types,
observing. It holds their state and the asyncio thread the edges run on.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

from actors.dispatcher import Dispatcher
from actors.manager import ConsumerManager
from actors.runtime import Policy, supervise
from actors.state import StateActor
from router.control.audit import Audit
from router.control.auth import Auth
from router.control.contracts import Contracts
from router.core.model import now_us
from router.core.settings import Settings
from router.core.urls import redact as redact  # re-exported: the edges show URLs redacted
from router.facade.event_types import EventTypes
from router.facade.exchanges import Exchanges
from router.facade.log import Log
from router.facade.observing import Observing
from router.facade.publishing import Publishing
from router.facade.settling import Settling
from router.facade.subscribing import Subscribing
from router.observe.stats import Cluster
from router.observe.tracing import Tracing
from storage import open_storage
from storage.leadership import Lease

log = logging.getLogger("router")


@attrs.define(eq=False)
class Router(Publishing, Log, Exchanges, Subscribing, Settling, EventTypes, Observing):
    """The facade the edges call. Every method validates its input before any actor sees it."""

    # Parts (router.facade.base) holds the fields every part reads: settings, state, dispatcher,
    # manager, auth, audit, contracts; these follow them.
    tracing: Tracing | None = None  # router.observe.tracing: OpenTelemetry, when configured
    # The first admin's token when this start created it (to show once), else None.
    initial_admin_token: str | None = None
    started_at: int = attrs.Factory(now_us)
    amqp_ingest: Any = None  # router.amqp.ingest.Ingest when --amqp-url is given
    follower: Any = None  # router.node.follow.Follower on a route node
    # Who leads the routers sharing this PostgreSQL, refreshed with each lease renewal; None on
    # SQLite and route nodes, which do not take part in leadership.
    cluster: Cluster | None = None
    _asyncio_thread: Any = None  # router.bridge.AsyncioThread: grpclib and aiormq run on it
    _own_thread: bool = False

    def use_bridge(self, bridge: Any) -> None:
        """The bridge ``serve`` opened (it outlives the servers' cancellation, for draining)."""
        self._asyncio_thread = bridge

    def asyncio_thread(self) -> Any:
        """The asyncio loop in its own thread that hosts grpclib and aiormq."""
        if self._asyncio_thread is None:
            from router.bridge import AsyncioThread

            self._asyncio_thread = AsyncioThread()
            self._own_thread = True
        return self._asyncio_thread

    def close(self) -> None:
        if self._own_thread:
            self._asyncio_thread.close()


@asynccontextmanager
async def open_router(
    settings: Settings,
    lease: Lease | None = None,
    keep_admin_token: Callable[[str], None] | None = None,
) -> AsyncIterator[Router]:
    """The router's actors over its store; with ``lease``, as the leader of that epoch
    (storage.leadership): its store writes through the connection holding the lock. On a store
    with no users, a token made for the first user ``admin`` goes to ``keep_admin_token``
    before it is stored (router.node.admin_token)."""
    tracing = Tracing.from_environment()
    if tracing is not None:
        log.info("tracing: OpenTelemetry spans for publish, route and deliver")
    storage = open_storage(
        settings.db_url, settings.node if settings.role == "route" else None, lease
    )
    try:
        state = StateActor(storage, settings)
        restored = await state.restore()
        dispatcher = Dispatcher(state, settings)
        manager = ConsumerManager(state, dispatcher, settings)
        async with trio.open_nursery() as outer:
            # Policy: the state actor, dispatcher and manager are the router; if one fails the
            # router stops (everything acknowledged is already in storage).
            await outer.start(_escalating, "state", state.run)
            async with trio.open_nursery() as inner:
                await inner.start(_escalating, "dispatcher", dispatcher.run, restored.exchanges)
                await inner.start(
                    _escalating, "manager", manager.run, restored.queues, restored.subscribers
                )
                auth = Auth(state, enabled=settings.auth)
                auth.load(restored.users, restored.tokens, restored.owners)
                initial = await auth.bootstrap(settings.admin_token, keep_admin_token)
                await inner.start(_escalating, "auth", auth.run)
                log.info(
                    "router ready role=%s db=%s exchanges=%d events=%d users=%d auth=%s",
                    settings.role,
                    redact(settings.db_url),
                    len(restored.exchanges),
                    restored.positions.last_seq,
                    len(auth.users),
                    "on" if settings.auth else "OFF",
                )
                contracts = Contracts(
                    state,
                    await state.write(lambda storage: storage.type_schemas())
                    if settings.role != "route"
                    else (),
                )
                router = Router(
                    settings,
                    state,
                    dispatcher,
                    manager,
                    auth,
                    Audit(state),
                    contracts,
                    tracing,
                    initial,
                )
                try:
                    yield router
                finally:
                    router.close()
                    if tracing is not None:
                        tracing.shutdown()
                # Shutdown, outside in: subscribers flush their cursors through the state
                # actor, which stops last, after the commit it is running.
                inner.cancel_scope.cancel()
            outer.cancel_scope.cancel()
    finally:
        storage.close()


async def _escalating(
    name: str, run: object, *args: object, task_status: trio.TaskStatus[None]
) -> None:
    async def go() -> None:
        await run(*args, task_status=task_status)  # type: ignore[operator]

    await supervise(name, go, Policy.ESCALATE)
