"""W3C trace context in the client and RouterApp: spans when the application uses
OpenTelemetry (a tracer provider given, or one set globally), nothing otherwise.

- ``RouterClient.publish`` runs in a ``publish`` span (producer kind), a child of the current
  span; its context goes with the call (``traceparent`` metadata) and into the headers of each
  event that has none, so the router (router.observe.tracing) and the consumers continue the trace.
- The batching publisher gives each event the context current where it was handed in, so it
  continues its caller's trace whatever batch it goes out in.
- RouterApp runs each handler in a ``process <type>`` span (consumer kind), a child of the
  context the delivered event carries in its headers: the router's publish span when the router
  traces, else the publisher's. Handler failures end it with an error status; its outcome
  (acked, retried, parked) is an attribute.

Only OpenTelemetry's API is needed (``opentelemetry-api``); the SDK is the application's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs

try:
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError:  # the application does not use OpenTelemetry
    trace = None  # type: ignore[assignment]

from router.client.values import OutgoingEvent, ReceivedEvent

_PROPAGATOR = TraceContextTextMapPropagator() if trace is not None else None


class ClientTracing:
    """Spans of one client (or app): ``provider`` or, when None, OpenTelemetry's global one."""

    def __init__(self, provider: Any = None) -> None:
        self._provider = provider

    def _tracer(self) -> Any:
        """The tracer, or None while no provider is set (spans would record nothing)."""
        if trace is None:
            return None
        provider = self._provider or trace.get_tracer_provider()
        if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
            return None
        return provider.get_tracer("router.client")

    def on(self) -> bool:
        """Whether spans are recorded now (a provider is set)."""
        if trace is None:
            return False
        provider = self._provider or trace.get_tracer_provider()
        return not isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)

    @contextlib.contextmanager
    def publishing(
        self, events: Sequence[OutgoingEvent], metadata: Mapping[str, str] | None
    ) -> Iterator[tuple[list[dict[str, str]], Mapping[str, str] | None]]:
        """Around a publish call: each event's headers and the call's metadata, with the
        publish span's context added (as they are when not tracing)."""
        tracer = self._tracer()
        if tracer is None:
            yield [e.headers for e in events], metadata
            return
        with tracer.start_as_current_span(
            "publish",
            kind=trace.SpanKind.PRODUCER,
            attributes={
                "messaging.system": "event-router",
                "messaging.operation.type": "send",
                "messaging.batch.message_count": len(events),
            },
        ):
            carrier: dict[str, str] = {}
            assert _PROPAGATOR is not None
            _PROPAGATOR.inject(carrier)
            headers = [
                e.headers if "traceparent" in e.headers else {**e.headers, **carrier}
                for e in events
            ]
            yield headers, {**(metadata or {}), **carrier}

    def stamped(self, event: OutgoingEvent) -> OutgoingEvent:
        """``event`` carrying the caller's current trace context (a copy), for a publish that
        goes out later in another task's batch (the batching publisher)."""
        tracer = self._tracer()
        if tracer is None or "traceparent" in event.headers:
            return event
        carrier: dict[str, str] = {}
        assert _PROPAGATOR is not None
        _PROPAGATOR.inject(carrier)
        if not carrier:  # no span is current
            return event
        return attrs.evolve(event, headers={**event.headers, **carrier})

    @contextlib.contextmanager
    def processing(self, event: ReceivedEvent) -> Iterator[Any]:
        """A handler's span for ``event`` (None when not tracing)."""
        tracer = self._tracer()
        if tracer is None:
            yield None
            return
        assert _PROPAGATOR is not None
        parent = _PROPAGATOR.extract(event.headers) if "traceparent" in event.headers else None
        with tracer.start_as_current_span(
            f"process {event.type}",
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            record_exception=False,
            set_status_on_exception=False,
            attributes={
                "messaging.system": "event-router",
                "messaging.operation.type": "process",
                "messaging.message.id": event.id,
                "router.offset": event.offset,
                "router.delivery_count": event.delivery_count,
            },
        ) as span:
            yield span

    @staticmethod
    def outcome(span: Any, outcome: str, error: BaseException | None = None) -> None:
        if span is None:
            return
        span.set_attribute("router.outcome", outcome)
        if error is not None:
            span.record_exception(error)
            span.set_status(trace.Status(trace.StatusCode.ERROR, str(error)))
