"""OpenTelemetry through the router: a trace runs from a publisher (its client span) through
the router (publish, route, deliver: exported over OTLP/HTTP to a receiver in the test) to a
RouterApp handler (its process span), with the expected parent-child links. The test process's
spans are collected with the SDK's in-memory exporter."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import httpx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from router.client import OutgoingEvent, ReceivedEvent, RouterClient
from router.client.app import RouterApp
from tests.helpers import rabbit
from tests.helpers.otlp import OtlpReceiver
from tests.helpers.polling import until
from tests.helpers.server import ADMIN_TOKEN, RouterProcess

SERVER, PRODUCER, INTERNAL = 2, 4, 1  # OTLP's span kinds
REST_PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_trace_runs_from_publisher_through_the_router_to_a_handler(
    db_url: str, tmp_path: object
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with OtlpReceiver() as receiver:
        router = RouterProcess(
            db_url,
            f"{tmp_path}/router.log",
            environment={
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.url,
                "OTEL_BSP_SCHEDULE_DELAY": "50",
                "OTEL_SERVICE_NAME": "router-under-test",
            },
        ).start()
        received: list[ReceivedEvent] = []

        async def flow() -> None:
            async with RouterClient(router.address, tracer_provider=provider) as client:
                await client.create_exchange("orders", ["order.*"])
                with provider.get_tracer("shop").start_as_current_span("checkout"):
                    await client.publish([OutgoingEvent("order.created", b"{}")])
            app = RouterApp(router.address, tracer_provider=provider)

            @app.subscriber("orders", name="billing", start="earliest")
            async def bill(event: ReceivedEvent) -> None:
                received.append(event)

            running = asyncio.ensure_future(app.run())

            async def handled() -> bool:
                return bool(received) and any(
                    s.name == "process order.created" for s in exporter.get_finished_spans()
                )

            try:
                await until(handled, timeout=20)
            finally:
                running.cancel()
                await asyncio.gather(running, return_exceptions=True)

            # The batching publisher: an event continues the trace of the span it was handed in
            # from, whatever batch it goes out in.
            async with (
                RouterClient(router.address, tracer_provider=provider) as client,
                client.batching_publisher() as publisher,
            ):
                with provider.get_tracer("shop").start_as_current_span("refund") as refund:
                    await publisher.publish(OutgoingEvent("order.refunded", b"{}"))
                (page, _, _) = await client.read("orders", "offset:2", 1)
                carried = page[0].headers["traceparent"].split("-")[1]
                assert carried == f"{refund.get_span_context().trace_id:032x}"

            # REST: the trace context comes in the HTTP headers.
            async with httpx.AsyncClient(base_url=router.http) as http:
                answer = await http.post(
                    "/v1/events",
                    json={"events": [{"type": "order.paid", "data": {}}]},
                    headers={"authorization": f"Bearer {ADMIN_TOKEN}", "traceparent": REST_PARENT},
                )
                assert answer.status_code == 200, answer.text

            async def exported() -> bool:  # the router's batch processor sends every 50 ms
                return any(s.name.startswith("deliver") for s in receiver.spans) and any(
                    s.parent_id == REST_PARENT.split("-")[2] for s in receiver.spans
                )

            await until(exported, timeout=20)

        try:
            asyncio.run(flow())
        finally:
            router.stop()

    finished = exporter.get_finished_spans()
    local = {s.name: s for s in finished}
    checkout, process = local["checkout"], local["process order.created"]
    (publish,) = [
        s for s in finished if s.parent is not None and s.parent.span_id == checkout.context.span_id
    ]
    assert publish.name == "publish" and publish.kind is SpanKind.PRODUCER
    assert process.kind is SpanKind.CONSUMER
    trace_id = f"{checkout.context.trace_id:032x}"
    remote = {s.name: s for s in receiver.spans if s.trace_id == trace_id}
    served, route, deliver = remote["publish"], remote["route"], remote["deliver orders"]
    assert served.service == "router-under-test"
    assert served.parent_id == f"{publish.context.span_id:016x}"  # continued from the client
    assert served.kind == SERVER and "committed" in served.events
    assert route.parent_id == served.span_id and route.kind == INTERNAL
    assert route.attributes["router.exchanges"] == ["orders"]
    assert deliver.parent_id == served.span_id and deliver.kind == PRODUCER
    assert deliver.attributes["messaging.consumer.group.name"] == "billing"
    # The delivered event carries the router's span: the handler's span is its child.
    assert received[0].headers["traceparent"].split("-")[2] == served.span_id
    assert process.parent is not None and f"{process.parent.span_id:016x}" == served.span_id
    assert process.context.trace_id == checkout.context.trace_id
    assert process.attributes is not None and process.attributes["router.outcome"] == "acked"
    rest = {s.name: s for s in receiver.spans if s.trace_id == REST_PARENT.split("-")[1]}
    assert rest["publish"].parent_id == "00f067aa0ba902b7"
    assert rest["route"].parent_id == rest["publish"].span_id


def test_tracing_the_router_cannot_do_is_refused_at_start(tmp_path: object) -> None:
    for variables, said in (
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER: 'zipkin'"),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ),
    ):
        started = subprocess.run(
            [
                *(sys.executable, "-m", "router", "serve"),
                *("--db", f"sqlite:///{tmp_path}/x.db", "--grpc", "127.0.0.1:0", "--http", "off"),
            ],
            env={**os.environ, **variables},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert started.returncode == 2 and said in started.stderr, started.stderr


def test_without_otel_variables_nothing_is_traced(sqlite_url: str, tmp_path: object) -> None:
    """Off by default: events keep the headers they were published with."""
    router = RouterProcess(sqlite_url, f"{tmp_path}/router.log").start()

    async def flow() -> dict[str, str]:
        async with RouterClient(router.address) as client:
            await client.create_exchange("orders", ["order.*"])
            await client.publish([OutgoingEvent("order.created", b"{}", {"k": "v"})])
            (batch, _, _) = await client.read("orders", "earliest", 10)
            return batch[0].headers

    try:
        assert asyncio.run(flow()) == {"k": "v"}
        assert "tracing" not in router.log()
    finally:
        router.stop()


AMQP_PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_a_rabbitmq_message_s_traceparent_is_continued(sqlite_url: str, tmp_path: object) -> None:
    rabbit.require_rabbitmq()
    exchange = f"test.{uuid.uuid4().hex[:10]}"
    with OtlpReceiver() as receiver:
        router = RouterProcess(
            sqlite_url,
            f"{tmp_path}/router.log",
            None,
            *("--amqp-url", rabbit.AMQP_URL, "--amqp-exchange", exchange),
            environment={
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.url,
                "OTEL_BSP_SCHEDULE_DELAY": "50",
            },
        ).start()

        async def flow() -> None:
            async def connected() -> bool:
                return bool((await asyncio.to_thread(amqp_links, router))["connected"])

            async def continued() -> bool:
                return any(s.parent_id == AMQP_PARENT.split("-")[2] for s in receiver.spans)

            await until(connected, timeout=30)
            message = ("order.created", b"{}", str(uuid.uuid4()))
            await rabbit.publish(exchange, [message], headers={"traceparent": AMQP_PARENT})
            await until(continued, timeout=20)

        try:
            asyncio.run(flow())
        finally:
            router.stop()
            asyncio.run(rabbit.delete(f"router.{exchange}", exchange, f"{exchange}.dead"))
    (served,) = [s for s in receiver.spans if s.parent_id == AMQP_PARENT.split("-")[2]]
    assert served.name == "publish" and served.trace_id == AMQP_PARENT.split("-")[1]


def amqp_links(router: RouterProcess) -> dict[str, int]:
    answer = httpx.get(
        f"{router.http}/v1/stats", headers={"authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=5
    )
    found: dict[str, int] = answer.json()["links"]["amqp"]
    return found
