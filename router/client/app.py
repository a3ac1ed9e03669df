"""A small decorator-style app for consumers.

    app = RouterApp("127.0.0.1:50051")            # token: ROUTER_TOKEN, or token=...

    @app.subscriber("orders", name="billing", start="earliest")
    async def bill(event: ReceivedEvent) -> None:
        ...                                       # returns: acked; raises: delivered again

    asyncio.run(app.run())                        # until cancelled (Ctrl-C)

Each handler gets its own :class:`DurableConsumer`. When a handler returns, its event is acked;
when it raises, the consumer drops its connection and reconnects from the saved cursor, so the
event comes again (after ``retry_s``). In tests, :meth:`RouterApp.testing` runs the handlers in
memory, without a router: publish events and see what each handler received.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import attrs

from router.client import ReceivedEvent, RouterClient
from router.client.consumer import DurableConsumer
from router.patterns import matches, validate_pattern, validate_type

log = logging.getLogger("router.app")
Handler = Callable[[ReceivedEvent], Awaitable[None]]


@attrs.define
class Subscription:
    exchange: str
    name: str
    start: str
    handler: Handler


@attrs.define(eq=False)
class RouterApp:
    address: str = "127.0.0.1:50051"
    token: str | None = None
    tls: Any = None
    retry_s: float = 1.0
    subscriptions: list[Subscription] = attrs.Factory(list)

    def subscriber(
        self, exchange: str, *, name: str, start: str = "stored"
    ) -> Callable[[Handler], Handler]:
        """Register ``handler`` as the durable subscriber ``name`` of ``exchange``."""

        def register(handler: Handler) -> Handler:
            self.subscriptions.append(Subscription(exchange, name, start, handler))
            return handler

        return register

    async def run(self) -> None:
        """Consume with every registered handler until cancelled."""
        if not self.subscriptions:
            raise RuntimeError("RouterApp.run: no @app.subscriber handlers registered")
        async with RouterClient(self.address, self.token, self.tls) as client:
            await asyncio.gather(*(self._consume(client, s) for s in self.subscriptions))

    async def _consume(self, client: RouterClient, subscription: Subscription) -> None:
        async with DurableConsumer(
            client, subscription.exchange, subscription.name, subscription.start
        ) as consumer:
            async for event in consumer:
                try:
                    await subscription.handler(event)
                except Exception:
                    log.exception(
                        "handler %s failed at offset %d; it will get the event again",
                        subscription.handler.__name__,
                        event.offset,
                    )
                    await asyncio.sleep(self.retry_s)  # a pause before the event comes again
                    await consumer.reconnect("the handler failed")
                    continue
                await consumer.ack(event)

    @asynccontextmanager
    async def testing(self, exchanges: dict[str, list[str]]) -> Any:
        """The handlers without a router: ``exchanges`` maps each exchange to its patterns."""
        yield InMemory(self, {name: list(patterns) for name, patterns in exchanges.items()})


@attrs.define(eq=False)
class InMemory:
    """Delivers published events to the app's handlers in order, as the router would.

    A handler that raises makes :meth:`publish` raise (the router would deliver it again).
    """

    app: RouterApp
    exchanges: dict[str, list[str]]
    offsets: dict[str, int] = attrs.Factory(dict)
    received: dict[str, list[ReceivedEvent]] = attrs.Factory(dict)
    seq: int = 0

    def __attrs_post_init__(self) -> None:
        for patterns in self.exchanges.values():
            for pattern in patterns:
                validate_pattern(pattern)
        for subscription in self.app.subscriptions:
            if subscription.exchange not in self.exchanges:
                raise KeyError(f"exchange: {subscription.exchange!r} is not in testing(...)")

    async def publish(
        self, type_: str, payload: bytes = b"", headers: dict[str, str] | None = None
    ) -> None:
        validate_type(type_)
        self.seq += 1
        for exchange, patterns in self.exchanges.items():
            if not any(matches(p, type_) for p in patterns):
                continue
            offset = self.offsets[exchange] = self.offsets.get(exchange, 0) + 1
            event = ReceivedEvent(
                offset, f"test-{self.seq}", type_, payload, dict(headers or {}), self.seq, 0
            )
            for subscription in self.app.subscriptions:
                if subscription.exchange == exchange:
                    await subscription.handler(event)
                    self.received.setdefault(subscription.name, []).append(event)
