"""A small decorator-style app for consumers.

    app = RouterApp("127.0.0.1:50051")            # token: ROUTER_TOKEN, or token=...

    @app.subscriber("orders", name="billing", start="earliest")
    async def bill(event: ReceivedEvent) -> None:
        ...   # returns: acked; raises: delivered again after the back-off;
              # raise Retry(after=5): again in 5 s; raise Park("why"): parked

    asyncio.run(app.run())                        # until cancelled (Ctrl-C)

Each handler gets its own :class:`DurableConsumer`. When a handler returns, its event is acked;
when it raises, the event is nacked and the router delivers it again after the subscriber's
back-off (``Retry(after=...)`` names the delay), until ``max_deliveries`` (then it is parked);
``Park(reason)`` parks it at once. Handlers run up to ``concurrency`` events at once; with a
pinned subscriber, events of one key run one at a time, in order. ``shared=True`` makes the app
one of several consumers of a shared subscriber. In tests, :meth:`RouterApp.testing` runs the
handlers in memory, without a router, with the same outcomes.
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
from router.client.tracing import ClientTracing
from router.patterns import matches, validate_pattern, validate_type

log = logging.getLogger("router.app")
_UNTRACED = ClientTracing(None)
Handler = Callable[[ReceivedEvent], Awaitable[None]]


class Park(Exception):
    """Raised by a handler: give up on this event; the router keeps it in the parked list."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


class Retry(Exception):
    """Raised by a handler: deliver this event again after ``after`` seconds (None: the
    subscriber's back-off)."""

    def __init__(self, after: float | None = None) -> None:
        super().__init__(f"retry after {after}s" if after is not None else "retry")
        self.after = after


@attrs.define
class Subscription:
    exchange: str
    name: str
    start: str
    handler: Handler
    shared: bool = False
    prefetch: int = 0
    concurrency: int = 1
    key_header: str = ""  # per-key order: events with the same value run one at a time
    settings: Any = None  # a pb.SubscriberSettings for a subscriber created here


@attrs.define(eq=False)
class RouterApp:
    address: str = "127.0.0.1:50051"
    token: str | None = None
    tls: Any = None
    subscriptions: list[Subscription] = attrs.Factory(list)
    # OpenTelemetry: handlers run in spans continuing the events' traces (router.client.tracing)
    # when this provider, or a global one, is set.
    tracer_provider: Any = None

    def subscriber(
        self,
        exchange: str,
        *,
        name: str,
        start: str = "stored",
        shared: bool = False,
        prefetch: int = 0,
        concurrency: int = 1,
        settings: Any = None,
    ) -> Callable[[Handler], Handler]:
        """Register ``handler`` as the durable subscriber ``name`` of ``exchange``; up to
        ``concurrency`` events are handled at once (per-key order kept when ``settings`` pin
        by a key header)."""
        if concurrency < 1:
            raise ValueError(f"concurrency: {concurrency} is below 1")
        key = settings.key_header if settings is not None and settings.dispatch == "pinned" else ""

        def register(handler: Handler) -> Handler:
            self.subscriptions.append(
                Subscription(
                    exchange, name, start, handler, shared, prefetch, concurrency, key, settings
                )
            )
            return handler

        return register

    async def run(self) -> None:
        """Consume with every registered handler until cancelled."""
        if not self.subscriptions:
            raise RuntimeError("RouterApp.run: no @app.subscriber handlers registered")
        async with RouterClient(
            self.address, self.token, self.tls, tracer_provider=self.tracer_provider
        ) as client:
            await asyncio.gather(*(self._consume(client, s) for s in self.subscriptions))

    async def _consume(self, client: RouterClient, subscription: Subscription) -> None:
        slots = asyncio.Semaphore(subscription.concurrency)
        keys: dict[str, asyncio.Lock] = {}
        running: set[asyncio.Task[None]] = set()

        async def handle(event: ReceivedEvent, consumer: DurableConsumer) -> None:
            try:
                key = (
                    event.headers.get(subscription.key_header) if subscription.key_header else None
                )
                if key is None:
                    await settle(subscription.handler, event, consumer, client.tracing)
                    return
                lock = keys.setdefault(key, asyncio.Lock())
                async with lock:
                    await settle(subscription.handler, event, consumer, client.tracing)
                if not lock.locked() and keys.get(key) is lock:
                    del keys[key]
            finally:
                slots.release()

        async with DurableConsumer(
            client,
            subscription.exchange,
            subscription.name,
            subscription.start,
            shared=subscription.shared,
            prefetch=subscription.prefetch,
            settings=subscription.settings,
        ) as consumer:
            try:
                async for event in consumer:
                    await slots.acquire()
                    task = asyncio.ensure_future(handle(event, consumer))
                    running.add(task)
                    task.add_done_callback(running.discard)
            finally:
                for task in running:
                    task.cancel()

    @asynccontextmanager
    async def testing(self, exchanges: dict[str, list[str]]) -> Any:
        """The handlers without a router: ``exchanges`` maps each exchange to its patterns."""
        yield InMemory(self, {name: list(patterns) for name, patterns in exchanges.items()})


async def settle(
    handler: Handler, event: ReceivedEvent, settler: Any, tracing: ClientTracing | None = None
) -> str:
    """Run ``handler`` on ``event`` (in a span continuing its trace, when tracing) and settle it
    by the outcome: ack, nack or park."""
    with (tracing or _UNTRACED).processing(event) as span:
        try:
            await handler(event)
        except Park as parked:
            ClientTracing.outcome(span, "parked")
            await settler.park(event, parked.reason or "parked by the handler")
            return "parked"
        except Retry as retry:
            ClientTracing.outcome(span, "retried")
            await settler.nack(event, retry.after)
            return "retried"
        except Exception as error:
            ClientTracing.outcome(span, "retried", error)
            log.exception(
                "handler %s failed at offset %d (delivery %d); it will get the event again",
                getattr(handler, "__name__", "handler"),
                event.offset,
                event.delivery_count,
            )
            await settler.nack(event, None)
            return "retried"
        ClientTracing.outcome(span, "acked")
        await settler.ack(event)
        return "acked"


@attrs.define(eq=False)
class InMemory:
    """Delivers published events to the app's handlers, as the router would: an event whose
    handler raises (or raises Retry) is delivered again at once with its count raised, until
    ``max_deliveries``; then, or on Park, it goes to ``parked[name]`` with its reason.
    """

    app: RouterApp
    exchanges: dict[str, list[str]]
    offsets: dict[str, int] = attrs.Factory(dict)
    received: dict[str, list[ReceivedEvent]] = attrs.Factory(dict)
    parked: dict[str, list[tuple[ReceivedEvent, str]]] = attrs.Factory(dict)
    retried: dict[str, list[ReceivedEvent]] = attrs.Factory(dict)
    seq: int = 0
    max_deliveries: int = 10

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
                    await self._deliver(subscription, attrs.evolve(event))

    async def _deliver(self, subscription: Subscription, event: ReceivedEvent) -> None:
        name = subscription.name
        outcome = _Outcome()
        while True:
            result = await settle(subscription.handler, event, outcome)
            if result == "acked":
                self.received.setdefault(name, []).append(event)
                return
            if result == "parked":
                self.parked.setdefault(name, []).append((event, outcome.reason))
                return
            self.retried.setdefault(name, []).append(event)
            if event.delivery_count >= self.max_deliveries:
                reason = (
                    f"delivered {event.delivery_count} times (max_deliveries {self.max_deliveries})"
                )
                self.parked.setdefault(name, []).append((event, reason))
                return
            event = attrs.evolve(event, delivery_count=event.delivery_count + 1)


@attrs.define
class _Outcome:
    """Stands in for the consumer in memory: remembers the park reason."""

    reason: str = ""

    async def ack(self, event: ReceivedEvent) -> None:
        pass

    async def nack(self, event: ReceivedEvent, delay: float | None = None) -> None:
        pass

    async def park(self, event: ReceivedEvent, reason: str = "") -> None:
        self.reason = reason
