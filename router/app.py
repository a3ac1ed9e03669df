"""Wiring: the Router opens storage, restores state and runs the actor tree under one nursery.

    async with open_router(settings) as router:
        await router.create_exchange("orders", ["order.*"])
        acks = await router.publish([...])

Start-up restores exchanges, queues and subscribers (all sleeping) before ``open_router`` yields,
so edges start listening only on a ready router. Leaving the block cancels the tree: subscribers
flush their cursors, the running commit completes, storage closes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import attrs
import trio

from actors.dispatcher import Dispatcher
from actors.manager import ConsumerManager
from actors.runtime import Policy, supervise
from actors.state import StateActor
from actors.subscriber import Subscription
from router import validation
from router.model import ExchangeRecord, NewEvent, PublishAck, StartPoint
from router.settings import Settings
from storage import open_storage

log = logging.getLogger("router")


@attrs.define(eq=False)
class Router:
    """The facade the edges call. Every method validates its input before any actor sees it."""

    settings: Settings
    state: StateActor
    dispatcher: Dispatcher
    manager: ConsumerManager

    async def publish(self, events: Sequence[NewEvent]) -> list[PublishAck]:
        validation.batch_size(len(events), self.settings)
        return await self.dispatcher.publish(tuple(events))

    async def create_exchange(self, name: str, patterns: Sequence[str]) -> ExchangeRecord:
        return await self.dispatcher.add_exchange(
            validation.name(name, "name"), validation.patterns(patterns)
        )

    async def delete_exchange(self, name: str) -> None:
        await self.dispatcher.remove_exchange(validation.name(name, "name"))

    async def list_exchanges(self) -> list[ExchangeRecord]:
        return await self.dispatcher.list_exchanges()

    async def subscribe(
        self, exchange: str, name: str, start: StartPoint, limit_size: int = 0
    ) -> Subscription:
        return await self.manager.subscribe(
            validation.name(exchange, "exchange"),
            validation.name(name, "subscriber"),
            validation.limit_size(limit_size, self.settings),
            start,
        )


@asynccontextmanager
async def open_router(settings: Settings) -> AsyncIterator[Router]:
    storage = open_storage(settings.db_url)
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
                log.info(
                    "router ready db=%s exchanges=%d events=%d",
                    _redact(settings.db_url),
                    len(restored.exchanges),
                    restored.positions.last_seq,
                )
                yield Router(settings, state, dispatcher, manager)
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


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        return (
            f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}" if ":" in credentials else url
        )
    return url
