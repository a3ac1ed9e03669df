"""A small decorator-style app for consumers.

    app = RouterApp("127.0.0.1:50051")            # token: ROUTER_TOKEN, or token=...

    @app.subscriber("orders", name="billing", start="earliest")
    async def bill(event: ReceivedEvent) -> None:
        ...   # returns: acked; raises: delivered again after the back-off;
              # raise Retry(after=5): again in 5 s; raise Park("why"): parked

    asyncio.run(app.run())                        # until cancelled (Ctrl-C)

Each handler gets its own :class:`DurableConsumer`. When a handler returns, its event is acked;
when it raises, the event is nacked and the router delivers it again after the subscriber's
back-off (``Retry(after=...)`` names the delay), until ``max_deliveries``: then it is parked with
the last failure as its reason (the exception's type and message). ``Park(reason)`` parks it at
once. A failure is logged in one line (``RouterApp(log_tracebacks=True)`` adds the traceback).

``start`` and ``settings`` apply when the subscriber is created: when the app starts again (a
deploy, a restart) the subscriber resumes from its saved cursor, and a setting that differs from
the stored one is refused (FAILED_PRECONDITION naming it; change it with ``router subscriber
settings``). Moving the cursor is explicit: ``router subscriber reset``.

Handlers run up to ``concurrency`` events at once (default 1: in offset order, inline with
receiving, the acks of a batch going out together); with a subscriber pinned by a key header,
events of one key run one at a time, in order. ``shared=True`` makes the app one of several
consumers of a shared subscriber. In tests, :meth:`RouterApp.testing` runs the handlers in
memory, without a router, with the same outcomes.
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
from router.client.settings import SubscriberSettings
from router.client.subscription import bounded
from router.client.tracing import ClientTracing
from router.core.patterns import matches, validate_pattern, validate_type

log = logging.getLogger("router.app")
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
class AppSubscriber:
    """An app's declaration of a durable subscriber and the handler its events go to."""

    exchange: str
    name: str
    start: str
    handler: Handler
    shared: bool = False
    prefetch: int = 0
    concurrency: int = 1
    key_header: str = ""  # per-key order: events with the same value run one at a time
    settings: SubscriberSettings | Any = None  # for a subscriber created here (or the generated
    # pb.SubscriberSettings)


@attrs.define(eq=False)
class RouterApp:
    address: str = "127.0.0.1:50051"
    token: str | None = None
    tls: Any = None
    subscriptions: list[AppSubscriber] = attrs.Factory(list)
    # OpenTelemetry: handlers run in spans continuing the events' traces (router.client.tracing)
    # when this provider, or a global one, is set as the app starts.
    tracer_provider: Any = None
    log_tracebacks: bool = False  # a handler's failure: one log line, or with its traceback

    def subscriber(
        self,
        exchange: str,
        *,
        name: str,
        start: str = "stored",
        shared: bool = False,
        prefetch: int = 0,
        concurrency: int = 1,
        settings: SubscriberSettings | Any = None,
    ) -> Callable[[Handler], Handler]:
        """Register ``handler`` as the durable subscriber ``name`` of ``exchange``; up to
        ``concurrency`` events are handled at once (per-key order kept when ``settings`` pin
        by a key header). ``start`` and ``settings`` apply when the subscriber is created;
        an existing one resumes from its saved cursor."""
        if concurrency < 1:
            raise ValueError(f"concurrency: {concurrency} is below 1")
        pinned = settings is not None and settings.dispatch == "pinned"
        key = (settings.key_header or "") if pinned else ""

        def register(handler: Handler) -> Handler:
            self.subscriptions.append(
                AppSubscriber(
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

    async def _consume(self, client: RouterClient, subscription: AppSubscriber) -> None:
        async with DurableConsumer(
            client,
            subscription.exchange,
            subscription.name,
            subscription.start,
            shared=subscription.shared,
            prefetch=subscription.prefetch,
            settings=subscription.settings,
        ) as consumer:
            if subscription.concurrency == 1:
                await self._one_at_a_time(client, subscription, consumer)
            else:
                await self._side_by_side(client, subscription, consumer)

    async def _one_at_a_time(
        self, client: RouterClient, subscription: AppSubscriber, consumer: DurableConsumer
    ) -> None:
        """Each event handled as it is received, in order: no task per event, and the acks
        made while a received batch is handled go out together."""
        handler, tracing, tracebacks = subscription.handler, _tracing(client), self.log_tracebacks
        async for event in consumer:
            await settle(handler, event, consumer, tracing, tracebacks)

    async def _side_by_side(
        self, client: RouterClient, subscription: AppSubscriber, consumer: DurableConsumer
    ) -> None:
        """``concurrency`` workers; with a key header, each key goes to one worker (by its
        hash), so that events of one key run one at a time, in order."""
        handler, tracing, tracebacks = subscription.handler, _tracing(client), self.log_tracebacks
        count = subscription.concurrency
        inboxes: list[asyncio.Queue[ReceivedEvent]] = [asyncio.Queue(1) for _ in range(count)]
        shared: asyncio.Queue[ReceivedEvent] = asyncio.Queue(count)

        async def work(inbox: asyncio.Queue[ReceivedEvent]) -> None:
            while True:
                event = await inbox.get()
                await settle(handler, event, consumer, tracing, tracebacks)

        key_header = subscription.key_header
        workers = [
            asyncio.ensure_future(work(inbox if key_header else shared)) for inbox in inboxes
        ]
        try:
            turn = 0
            async for event in consumer:
                if not key_header:
                    await shared.put(event)
                    continue
                key = event.headers.get(key_header)
                turn += 1
                inbox = inboxes[(hash(key) if key is not None else turn) % count]
                await inbox.put(event)
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    @asynccontextmanager
    async def testing(self, exchanges: dict[str, list[str]]) -> Any:
        """The handlers without a router: ``exchanges`` maps each exchange to its patterns."""
        yield InMemory(self, {name: list(patterns) for name, patterns in exchanges.items()})


def _tracing(client: RouterClient) -> ClientTracing | None:
    """The client's tracing when a provider is set as the app starts (None: no spans, and no
    look for a provider on each event)."""
    return client.tracing if client.tracing.on() else None


async def settle(
    handler: Handler,
    event: ReceivedEvent,
    settler: Any,
    tracing: ClientTracing | None = None,
    tracebacks: bool = False,
) -> str:
    """Run ``handler`` on ``event`` (in a span continuing its trace, when tracing) and settle it
    by the outcome: ack, nack (with the failure as its reason) or park. A failure is logged in
    one line, with its traceback when ``tracebacks``."""
    if tracing is None or not tracing.on():  # no span to open: the common case, kept cheap
        return await _settle(handler, event, settler, None, tracebacks)
    with tracing.processing(event) as span:
        return await _settle(handler, event, settler, span, tracebacks)


async def _settle(
    handler: Handler, event: ReceivedEvent, settler: Any, span: Any, tracebacks: bool
) -> str:
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
        reason = failure(error)
        log.warning(
            "handler %s failed at offset %d (delivery %d): %s",
            getattr(handler, "__name__", "handler"),
            event.offset,
            event.delivery_count,
            reason,
            exc_info=tracebacks,
        )
        await settler.nack(event, None, reason)
        return "retried"
    ClientTracing.outcome(span, "acked")
    await settler.ack(event)
    return "acked"


def failure(error: BaseException) -> str:
    """A handler's failure as a parked reason: the exception's type and message, on one line,
    cut to what the router keeps."""
    message = " ".join(str(error).split())
    return bounded(f"{type(error).__name__}: {message}" if message else type(error).__name__)


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

    async def _deliver(self, subscription: AppSubscriber, event: ReceivedEvent) -> None:
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
                if outcome.failure:
                    reason = f"{reason}: {outcome.failure}"
                self.parked.setdefault(name, []).append((event, reason))
                return
            event = attrs.evolve(event, delivery_count=event.delivery_count + 1)


@attrs.define
class _Outcome:
    """Stands in for the consumer in memory: remembers the park reason and the last failure."""

    reason: str = ""
    failure: str = ""

    async def ack(self, event: ReceivedEvent) -> None:
        pass

    async def nack(
        self, event: ReceivedEvent, delay: float | None = None, reason: str = ""
    ) -> None:
        self.failure = reason

    async def park(self, event: ReceivedEvent, reason: str = "") -> None:
        self.reason = reason
