"""OpenTelemetry traces through the router: off unless configured, and then per batch, not per
event, on the publish path.

Configured by the standard environment variables: the router traces when ``OTEL_TRACES_EXPORTER``
names an exporter (``otlp``, the default one, or ``console``) or an OTLP endpoint is set
(``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``), and not when
``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none``. The SDK then reads the rest as it
always does: ``OTEL_SERVICE_NAME`` (default here ``event-router``), ``OTEL_TRACES_SAMPLER`` and
its argument (``parentbased_traceidratio`` with ``0.01`` keeps 1% of new traces and follows a
caller's decision), ``OTEL_BSP_*``. The SDK and the OTLP exporter are the ``otel`` extra
(``pip install 'event-router[otel]'``); configured without them, the router refuses to start.

What a trace holds (W3C trace context, ``traceparent`` / ``tracestate``):

- **publish** (server kind): one span a publish call, the child of the caller's context, taken
  from the call (gRPC metadata, HTTP headers, AMQP message headers) or else from the first
  event's headers. Its ``committed`` event marks the commit; refused publishes end it with an
  error status. When it is recorded, each event of the batch without a trace of its own, or in
  the same trace, is stored with this span's ``traceparent`` header: whoever consumes the event
  continues the trace from here.
- **route** (internal): from the commit to the acks, while the deliveries go to the exchanges
  (their names and the count of offsets given as attributes).
- **deliver <exchange>** (producer kind): one span an event sent to a consumer over gRPC, the
  child of the event's ``traceparent`` when that trace is sampled.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from router._proto.router.v1 import router_pb2 as pb
from router.core.errors import InvalidArgument, RouterError
from router.core.model import Headers, NewEvent
from router.core.validation import MAX_HEADERS

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
_EXPORTERS = ("otlp", "console")


def requested(environ: Mapping[str, str]) -> bool:
    """Whether the OTEL_* variables ask for traces."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporters:
        return exporters != "none"
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def exporters(environ: Mapping[str, str]) -> list[str]:
    """The exporters the OTEL_* variables ask for (none: no tracing), or InvalidArgument naming
    the variable when the router cannot do what they ask."""
    if not requested(environ):
        return []
    names = [n.strip() for n in environ.get("OTEL_TRACES_EXPORTER", "otlp").lower().split(",")]
    for name in names:
        if name not in _EXPORTERS:
            raise InvalidArgument(
                f"OTEL_TRACES_EXPORTER: {name!r} is not one of {', '.join(_EXPORTERS)}"
            )
    protocol = environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "")
    )
    if "otlp" in names and protocol not in ("", "http/protobuf"):
        raise InvalidArgument(
            f"OTEL_EXPORTER_OTLP_PROTOCOL: {protocol!r}; the router exports http/protobuf"
        )
    modules = ["opentelemetry.sdk.trace"]
    if "otlp" in names:
        modules.append("opentelemetry.exporter.otlp.proto.http.trace_exporter")
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            raise InvalidArgument(
                "OTEL_TRACES_EXPORTER: tracing is configured but OpenTelemetry's SDK or OTLP"
                f" exporter is not installed ({module}): pip install 'event-router[otel]'"
            ) from None
    return names


def carrier_of(pairs: Iterable[tuple[str, Any]]) -> dict[str, str]:
    """The trace context among headers or metadata (names in any case)."""
    found: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        if key in (TRACEPARENT, TRACESTATE):
            found[key] = value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return found


class Tracing:
    """The router's tracer, its W3C propagator and the spans of the publish and delivery paths."""

    def __init__(self, provider: Any, max_headers: int = MAX_HEADERS) -> None:
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self._trace = trace
        self._provider = provider
        self._tracer = provider.get_tracer("router")
        self._propagator = TraceContextTextMapPropagator()
        self._max_headers = max_headers

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] = os.environ, max_headers: int = MAX_HEADERS
    ) -> Tracing | None:
        """The router's tracing as the OTEL_* variables configure it; None when they do not."""
        names = exporters(environ)
        if not names:
            return None
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

        service = {} if environ.get("OTEL_SERVICE_NAME") else {"service.name": "event-router"}
        provider = TracerProvider(resource=Resource.create(service))
        for name in names:
            if name == "console":
                exporter: Any = ConsoleSpanExporter()
            else:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                    OTLPSpanExporter,
                )

                exporter = OTLPSpanExporter()
            provider.add_span_processor(BatchSpanProcessor(exporter))
        return cls(provider, max_headers)

    def shutdown(self) -> None:
        """Export what is pending and stop (at the router's shutdown)."""
        shutdown = getattr(self._provider, "shutdown", None)
        if shutdown is not None:
            shutdown()

    # --- publishing ---

    def publishing(
        self, events: Sequence[NewEvent], carrier: Mapping[str, str] | None
    ) -> tuple[Sequence[NewEvent], Any]:
        """The span of one publish call, and the events as they are to be stored: with the
        span's trace context in their headers when it is recorded."""
        if not carrier or TRACEPARENT not in carrier:
            carrier = carrier_of(events[0].headers) if events else {}
        parent = self._propagator.extract(carrier) if carrier else None
        span = self._tracer.start_span(
            "publish",
            context=parent,
            kind=self._trace.SpanKind.SERVER,
            attributes={
                "messaging.system": "event-router",
                "messaging.operation.type": "publish",
                "messaging.batch.message_count": len(events),
            },
        )
        if span.is_recording() and events:
            events = self._stamped(events, span)
        return events, span

    def _stamped(self, events: Sequence[NewEvent], span: Any) -> list[NewEvent]:
        context = span.get_span_context()
        header: dict[str, str] = {}
        self._propagator.inject(header, self._trace.set_span_in_context(span))
        trace_id = f"{context.trace_id:032x}"
        alone = tuple(sorted(header.items()))  # the headers of an event that had none
        stamped = []
        for event in events:
            if not event.headers:
                event = NewEvent(event.id, event.type, event.payload, alone)
            else:
                own = carrier_of(event.headers).get(TRACEPARENT)
                if own is None or own[3:35] == trace_id:
                    headers = _with(event.headers, header, self._max_headers)
                    if headers is not None:
                        event = NewEvent(event.id, event.type, event.payload, headers)
            stamped.append(event)
        return stamped

    def finished(self, span: Any, result: Any, failed: bool) -> None:
        """End a publish span: with the commit as an event and the routing as a child span, or
        with the error that refused it. A span not sampled is only ended: nothing of the
        acks is looked at (that would be work per event)."""
        if not span.is_recording():
            span.end()
            return
        if failed:
            status = self._trace.Status(self._trace.StatusCode.ERROR, str(result))
            span.set_status(status)
            if isinstance(result, RouterError):
                span.set_attribute("rpc.grpc.status", result.grpc_status)
            span.end()
            return
        committed = getattr(result, "committed_ns", 0) or None
        seqs = [outcome.seq for outcome in getattr(result, "outcomes", ())]
        span.add_event(
            "committed",
            {"router.seq.first": min(seqs, default=0), "router.seq.last": max(seqs, default=0)},
            timestamp=committed,
        )
        names = getattr(result, "names", {})
        offsets = getattr(result, "outcomes", ())
        exchanges = sorted({names[x] for o in offsets for x, _ in o.offsets if x in names})
        route = self._tracer.start_span(
            "route",
            context=self._trace.set_span_in_context(span),
            start_time=committed,
            attributes={
                "router.exchanges": exchanges,
                "router.offsets": sum(len(o.offsets) for o in offsets),
            },
        )
        route.end()
        span.end()

    def told(self, span: Any, told: Callable[[Any, bool], None]) -> Callable[[Any, bool], None]:
        """``told`` (a publish's answer callback), ending ``span`` first."""

        def ending(result: Any, failed: bool) -> None:
            self.finished(span, result, failed)
            told(result, failed)

        return ending

    # --- delivering ---

    def delivering(self, exchange: str, subscriber: str, frames: Sequence[bytes]) -> list[Any]:
        """Started spans, one for each framed event that carries a sampled trace context; the
        caller ends them once the frames are sent."""
        spans = []
        for frame in frames:
            if b"traceparent" not in frame:  # most events: no parsing at all
                continue
            for delivery in pb.EventBatch.FromString(frame).deliveries:
                context = self._propagator.extract(dict(delivery.event.headers))
                if not self._trace.get_current_span(context).get_span_context().trace_flags.sampled:
                    continue
                spans.append(
                    self._tracer.start_span(
                        f"deliver {exchange}",
                        context=context,
                        kind=self._trace.SpanKind.PRODUCER,
                        attributes={
                            "messaging.system": "event-router",
                            "messaging.operation.type": "send",
                            "messaging.destination.name": exchange,
                            "messaging.consumer.group.name": subscriber,
                            "messaging.message.id": delivery.event.id,
                            "router.offset": delivery.offset,
                        },
                    )
                )
        return spans


def _with(headers: Headers, added: Mapping[str, str], most: int) -> Headers | None:
    """``headers`` with ``added`` in place of any of the same names (None: it would pass the
    router's limit on headers, and the event goes as it came)."""
    kept = [(name, value) for name, value in headers if name.lower() not in added]
    if len(kept) + len(added) > most:
        return None
    return tuple(sorted([*kept, *added.items()]))
