"""Hostile input at both edges of one running router: wire bytes that are not protobuf (or carry
bad UTF-8 in a string), huge and deeply nested JSON, a flood of connects and disconnects for one
subscriber name, slowloris HTTP clients. No crash, no 500 / UNKNOWN / INTERNAL, nothing stored
changes, memory stays bounded. (Random field values and random JSON shapes: tests/integration/
test_fuzz_edges.py; the OpenAPI document: test_openapi.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from grpclib.client import Channel
from grpclib.const import Cardinality, Status
from grpclib.encoding.proto import ProtoCodec
from grpclib.exceptions import GRPCError, StreamTerminatedError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router._proto.router.v1 import router_pb2 as pb
from router.client import RouterClient
from tests.helpers.orders import ADMIN, sqlite_orders_router
from tests.helpers.report import record, rss_mb
from tests.helpers.server import RouterProcess

REFUSALS = {Status.INVALID_ARGUMENT, Status.NOT_FOUND, Status.FAILED_PRECONDITION}
METHODS = [
    ("/router.v1.Publisher/Publish", pb.PublishResponse),
    ("/router.v1.Admin/CreateExchange", pb.Exchange),
    ("/router.v1.Subscriber/Read", pb.ReadResponse),
    ("/router.v1.Admin/ResetSubscriber", pb.SubscriberInfo),
]


class RawCodec(ProtoCodec):
    """Sends bytes as they are: what a broken or hostile client puts on the wire."""

    def encode(self, message: Any, message_type: Any) -> bytes:
        if isinstance(message, bytes):
            return message
        encoded: bytes = super().encode(message, message_type)
        return encoded


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RouterProcess]:
    with sqlite_orders_router(tmp_path_factory, "hostile", "order.#", published=10) as process:
        yield process


def last_seq(router: RouterProcess) -> int:
    value: int = httpx.get(f"{router.http}/v1/stats", headers=ADMIN).json()["last_seq"]
    return value


async def send_raw(address: str, method: str, reply: Any, body: bytes) -> Status | None:
    host, port = address.rsplit(":", 1)
    channel = Channel(host, int(port), codec=RawCodec())
    try:
        async with channel.request(
            method, Cardinality.UNARY_UNARY, bytes, reply, metadata=ADMIN
        ) as stream:
            await stream.send_message(body, end=True)
            await stream.recv_message()
        return None
    except GRPCError as error:
        assert error.message, error.status
        return error.status
    finally:
        channel.close()


BAD_UTF8_TYPE = b"\x0a\x04\x12\x02\xff\xfe"  # events[0].type = b"\xff\xfe"


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    method=st.sampled_from(METHODS),
    body=st.one_of(st.binary(max_size=200), st.just(BAD_UTF8_TYPE)),
)
def test_bytes_that_are_not_a_message_are_refused_as_invalid(
    served: RouterProcess, method: tuple[str, Any], body: bytes
) -> None:
    before = last_seq(served)
    status = asyncio.run(send_raw(served.address, method[0], method[1], body))
    assert status is None or status in REFUSALS, status
    if method[0].endswith("Publish") and status is not None:
        assert last_seq(served) == before


def test_bad_utf8_in_a_type_names_the_request(served: RouterProcess) -> None:
    async def story() -> None:
        host, port = served.address.rsplit(":", 1)
        channel = Channel(host, int(port), codec=RawCodec())
        try:
            async with channel.request(
                "/router.v1.Publisher/Publish",
                Cardinality.UNARY_UNARY,
                bytes,
                pb.PublishResponse,
                metadata=ADMIN,
            ) as stream:
                await stream.send_message(BAD_UTF8_TYPE, end=True)
                with pytest.raises(GRPCError) as refused:
                    await stream.recv_message()
        finally:
            channel.close()
        assert refused.value.status is Status.INVALID_ARGUMENT
        assert "router.v1.PublishRequest" in str(refused.value.message)
        assert "UTF-8" in str(refused.value.message)

    asyncio.run(story())


def test_huge_and_deeply_nested_json_are_refused(served: RouterProcess) -> None:
    assert served.process is not None
    before_rss = rss_mb(served.process.pid)
    before = last_seq(served)
    url = f"{served.http}/v1/events"
    headers = {**ADMIN, "content-type": "application/json"}
    deep = httpx.post(url, content=b"[" * 200_000, headers=headers, timeout=30)
    nested_event = b'{"events":[{"type":"order.x","data":' + b"[" * 50_000 + b"]" * 50_000 + b"}]}"
    deep_data = httpx.post(url, content=nested_event, headers=headers, timeout=30)
    huge = httpx.post(
        url, content=b'{"events":[' + b" " * 40_000_000 + b"]}", headers=headers, timeout=60
    )
    many = httpx.post(
        url,
        json={"events": [{"type": "order.x", "data": 1}] * 20_000},
        headers=ADMIN,
        timeout=30,
    )
    statuses = [deep.status_code, deep_data.status_code, huge.status_code, many.status_code]
    for response in (deep, deep_data, huge, many):
        assert response.status_code in (400, 413), response.text[:200]
        assert "error" in response.json()
    assert last_seq(served) == before
    grown = rss_mb(served.process.pid) - before_rss
    assert "Traceback" not in served.log()
    record(
        "hostile JSON",
        deep_array_200k=deep.status_code,
        deep_data_50k=deep_data.status_code,
        body_40_mb=huge.status_code,
        events_20k=many.status_code,
        statuses=statuses,
        rss_growth_mb=round(grown, 1),
    )


NEVER_PARK = pb.SubscriberSettings(max_deliveries=0)


def test_a_flood_of_connects_and_disconnects_for_one_name(served: RouterProcess) -> None:
    assert served.process is not None
    outcomes: dict[str, int] = {}

    async def attach_and_leave(client: RouterClient) -> None:
        for _ in range(30):
            try:
                # Every attachment delivers the same events again: never park them here.
                async with client.subscribe(
                    "orders", "contested", "earliest", settings=NEVER_PARK
                ) as subscription:
                    outcomes["attached"] = outcomes.get("attached", 0) + 1
                    if subscription.start_offset <= subscription.head_offset:
                        await subscription.__anext__()  # take one batch, ack nothing, leave
            except GRPCError as error:
                outcomes[error.status.name] = outcomes.get(error.status.name, 0) + 1
            except StreamTerminatedError:
                outcomes["cut"] = outcomes.get("cut", 0) + 1

    async def flood() -> tuple[float, Any]:
        began = time.monotonic()
        clients = [RouterClient(served.address) for _ in range(10)]
        try:
            await asyncio.gather(*(attach_and_leave(c) for c in clients))
        finally:
            for client in clients:
                client.close()
        took = time.monotonic() - began
        async with RouterClient(served.address) as client:
            (view,) = [s for s in await client.list_subscribers("orders") if s.name == "contested"]
        return took, view

    before_rss = rss_mb(served.process.pid)
    took, view = asyncio.run(flood())
    assert set(outcomes) <= {"attached", "FAILED_PRECONDITION"}, outcomes
    assert view.state == "sleeping"
    assert view.acked_offset == 0, "nobody acked: the cursor has not moved"
    grown = rss_mb(served.process.pid) - before_rss
    assert grown < 30
    record(
        "connect/disconnect flood (one subscriber name)",
        attempts=300,
        concurrent=10,
        outcomes=outcomes,
        seconds=round(took, 1),
        final_state=view.state,
        rss_growth_mb=round(grown, 1),
    )


def test_slowloris_clients_do_not_starve_the_others(served: RouterProcess) -> None:
    assert served.process is not None
    host, port = served.http.rsplit(":", 1)
    before_rss = rss_mb(served.process.pid)
    slow: list[socket.socket] = []
    with contextlib.ExitStack() as stack:
        for _ in range(200):
            sock = stack.enter_context(socket.create_connection((host[7:], int(port)), timeout=5))
            sock.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\n")
            slow.append(sock)
        latencies = []
        for second in range(8):
            for sock in slow:
                with contextlib.suppress(OSError):
                    sock.sendall(f"X-Slow-{second}: y\r\n".encode())  # one header a second
            began = time.monotonic()
            health = httpx.get(f"{served.http}/healthz", timeout=5)
            published = httpx.post(
                f"{served.http}/v1/events",
                json={"events": [{"type": "order.slow", "data": second}]},
                headers=ADMIN,
                timeout=5,
            )
            latencies.append(time.monotonic() - began)
            assert health.status_code == 200 and published.status_code == 200
            time.sleep(1.0)  # the slowloris pace: one header per connection per second
        grown = rss_mb(served.process.pid) - before_rss
    assert max(latencies) < 2.0, latencies
    assert grown < 50
    record(
        "slowloris HTTP",
        slow_connections=200,
        seconds=8,
        other_requests_max_s=round(max(latencies), 3),
        rss_growth_mb=round(grown, 1),
    )
