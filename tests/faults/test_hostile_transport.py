"""The gRPC port under attack, with raw HTTP/2 frames (h2) as an attacker sends them, against a
real router: rapid reset, connections that say nothing or hold on idle, more connections than
descriptors, oversized and compressed messages. Each time the router's memory and descriptors
stay bounded, it says why it closes or refuses, its log does not fill, and a legitimate call
still gets through. Attackers use other loopback addresses (127.0.0.2, ...) than the legitimate
client, so that the per-source bounds can be seen to leave it alone."""

from __future__ import annotations

import asyncio
import os
import resource
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from grpclib.client import Channel
from grpclib.const import Cardinality, Status
from grpclib.exceptions import GRPCError
from h2.errors import ErrorCodes

from router._proto.router.v1 import router_pb2 as pb
from router.client import OutgoingEvent, RouterClient
from tests.helpers.h2raw import RawH2, closed_now, message_prefix
from tests.helpers.polling import until
from tests.helpers.proc import DescriptorPeak, connections_from, descriptors, wait_until
from tests.helpers.report import record, rss_mb
from tests.helpers.server import ADMIN_TOKEN, RouterProcess, assert_start_refused, running_router

ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}
HANDSHAKE_S = 2.0
IDLE_S = 3.0
PER_SOURCE = 40
MAX_CONNECTIONS = 150
MAX_MESSAGE = 16 * 1024 * 1024
LIST_TYPES = "/router.v1.Admin/ListTypes"


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RouterProcess]:
    folder = tmp_path_factory.mktemp("transport")
    with running_router(
        f"sqlite:///{folder}/transport.db",
        str(folder),
        "--grpc-handshake-timeout",
        f"{HANDSHAKE_S}s",
        "--grpc-idle-timeout",
        f"{IDLE_S}s",
        "--grpc-max-connections-per-source",
        str(PER_SOURCE),
        "--grpc-max-connections",
        str(MAX_CONNECTIONS),
    ) as process:
        asyncio.run(_prepare(process.address))
        yield process


async def _prepare(address: str) -> None:
    async with RouterClient(address) as client:
        await client.create_exchange("orders", ["order.#"])


async def legitimate_calls(router: RouterProcess, until: float) -> list[float]:
    """Publishes one event at a time and reads /healthz until ``until``: each one's seconds.
    Each must succeed (a refusal or a timeout fails the test)."""
    seconds: list[float] = []
    async with RouterClient(router.address) as client, httpx.AsyncClient() as http:
        while time.monotonic() < until or not seconds:
            began = time.monotonic()
            await asyncio.wait_for(client.publish([OutgoingEvent("order.paid", b"{}")]), 10)
            health = await http.get(f"{router.http}/healthz", timeout=10)
            assert health.status_code == 200
            seconds.append(time.monotonic() - began)
            await asyncio.sleep(0.05)  # a steady caller's pace
    return seconds


def log_lines(router: RouterProcess, text: str) -> int:
    return sum(text in line for line in router.log().splitlines())


def test_rapid_reset_is_cut_off_with_goaway_and_holds_nothing(router: RouterProcess) -> None:
    """HEADERS then RST_STREAM in a loop, no token: each connection is closed with GOAWAY
    ENHANCE_YOUR_CALM after its allowance of resets, its calls are released, and the router's
    memory does not grow with the resets, while another client keeps publishing."""
    assert router.process is not None
    pid = router.process.pid
    # One burst, then read: the router's answer is a GOAWAY that names the reason.
    probe = RawH2(router.address, source="127.0.0.2")
    for _ in range(1_500):
        probe.reset(probe.headers(LIST_TYPES, token=None))
    probe.flush()
    probe.read(5)
    goaway = probe.goaway()
    assert goaway is not None and goaway.error_code == ErrorCodes.ENHANCE_YOUR_CALM
    probe.close()

    before_rss, before_fds = rss_mb(pid), descriptors(pid)
    stop = time.monotonic() + 3
    tally = {"connections": 0, "resets": 0}
    peak = [before_rss]

    def attack() -> None:
        while time.monotonic() < stop:
            attacker = RawH2(router.address, source="127.0.0.2")
            tally["connections"] += 1
            try:
                while time.monotonic() < stop:
                    for _ in range(100):
                        attacker.reset(attacker.headers(LIST_TYPES, token=None))
                    attacker.flush()
                    tally["resets"] += 100
            except OSError:
                pass  # closed by the router: connect again, as the attacker would
            finally:
                attacker.close()
            peak[0] = max(peak[0], rss_mb(pid))

    thread = threading.Thread(target=attack)
    thread.start()
    seconds = asyncio.run(legitimate_calls(router, stop))
    thread.join()
    wait_until(lambda: descriptors(pid) <= before_fds + 2, 10)
    grown = peak[0] - before_rss
    record(
        "rapid reset (gRPC port)",
        seconds=3,
        resets_sent=tally["resets"],
        connections=tally["connections"],
        rss_before_mb=round(before_rss, 1),
        rss_growth_peak_mb=round(grown, 1),
        legitimate_calls=len(seconds),
        legitimate_max_s=round(max(seconds), 3),
    )
    assert tally["connections"] > 1  # each connection was cut off
    assert grown < 40, f"RSS grew {grown:.0f} MB over {tally['resets']} resets"


def silent_connections(router: RouterProcess, sources: range, each: int) -> list[RawH2]:
    """``each`` TCP connections from each 127.0.0.N of ``sources`` that send nothing."""
    return [
        RawH2(router.address, source=f"127.0.0.{n}", preface=False)
        for n in sources
        for _ in range(each)
    ]


def wait_for_refusals_logged(router: RouterProcess, reason: str) -> int:
    """The log lines counting refusals, once one names ``reason`` (logged at most every 10 s)."""
    wait_until(lambda: log_lines(router, reason) > 0, 15)
    return log_lines(router, "grpc connections refused or closed")


def test_connections_that_say_nothing_are_bounded_per_source_and_closed(
    router: RouterProcess,
) -> None:
    """Plain TCP connections that send nothing, 100 from each of three addresses: those past
    a source's bound are closed at once, the rest when the handshake timeout passes. The
    router's descriptors stay within the bounds, refusals are logged as counts, not one line
    each, and a client from another address publishes all along."""
    assert router.process is not None
    pid = router.process.pid
    before_fds = descriptors(pid)
    logged_before = log_lines(router, "grpc connections refused or closed")
    with DescriptorPeak(pid) as sampled:
        held = silent_connections(router, range(2, 5), 100)
        refused = closed_now(held, 0.5)
        seconds = asyncio.run(legitimate_calls(router, time.monotonic() + 0.5))
        wait_until(lambda: descriptors(pid) <= before_fds + 2, HANDSHAKE_S + 5)
    closed = closed_now(held, 2)
    for connection in held:
        connection.close()
    logged = wait_for_refusals_logged(router, "max_connections_per_source=") - logged_before
    record(
        "idle connections, per source (gRPC port, no preface)",
        connections=len(held),
        per_source_bound=PER_SOURCE,
        refused_at_once=refused,
        closed_in_the_end=closed,
        descriptors_before=before_fds,
        descriptors_peak=sampled.peak,
        refusal_log_lines=logged,
        legitimate_calls=len(seconds),
        legitimate_max_s=round(max(seconds), 3),
    )
    assert refused == len(held) - 3 * PER_SOURCE
    assert sampled.peak <= before_fds + 3 * PER_SOURCE + 100  # one accept round in flight
    assert closed == len(held)
    assert logged <= 3


def test_connections_past_the_total_bound_are_refused(router: RouterProcess) -> None:
    """Silent connections from six addresses, more than the total bound together: no more than
    the bound are held; once the handshake timeout has closed them, calls get through again."""
    assert router.process is not None
    pid = router.process.pid
    before_fds = descriptors(pid)
    with DescriptorPeak(pid) as sampled:
        held = silent_connections(router, range(10, 16), PER_SOURCE)
        refused = closed_now(held, 0.5)
        wait_until(lambda: descriptors(pid) <= before_fds + 2, HANDSHAKE_S + 5)
    for connection in held:
        connection.close()
    seconds = asyncio.run(legitimate_calls(router, time.monotonic() + 0.2))
    wait_for_refusals_logged(router, "max_connections=")
    record(
        "idle connections, in all (gRPC port, no preface)",
        connections=len(held),
        total_bound=MAX_CONNECTIONS,
        refused_at_once=refused,
        descriptors_before=before_fds,
        descriptors_peak=sampled.peak,
        legitimate_max_s_after=round(max(seconds), 3),
    )
    assert refused == len(held) - MAX_CONNECTIONS
    assert sampled.peak <= before_fds + MAX_CONNECTIONS + 100


def test_a_connection_idle_after_its_preface_gets_goaway(router: RouterProcess) -> None:
    """A client that completes the HTTP/2 preface and then opens no call is sent GOAWAY
    (NO_ERROR) once the idle timeout passes, and closed; a call in between keeps it open."""
    idle = RawH2(router.address, source="127.0.0.7")
    busy = RawH2(router.address, source="127.0.0.7")
    began = time.monotonic()
    busy.read(IDLE_S * 0.6)
    stream_id = busy.headers(LIST_TYPES)
    busy.data(stream_id, message_prefix(0), end=True)
    busy.flush()
    assert busy.status(stream_id)[0] == str(Status.OK.value)
    assert idle.read(IDLE_S + 5)
    closed_after = time.monotonic() - began
    goaway = idle.goaway()
    assert goaway is not None and goaway.error_code == ErrorCodes.NO_ERROR
    assert not busy.closed  # its call reset the clock
    assert busy.read(IDLE_S + 5)
    idle.close()
    busy.close()
    record("idle connection after preface", idle_timeout_s=IDLE_S, closed_after_s=closed_after)


def test_a_client_whose_connection_went_idle_calls_again_on_a_new_one(
    router: RouterProcess,
) -> None:
    """The idle timeout closes a real client's connection between its calls; its next call
    connects again and succeeds."""

    async def scenario() -> None:
        async with RouterClient(router.address) as client:
            await client.publish([OutgoingEvent("order.paid", b"{}")])
            protocol = client._connection.channel._protocol
            assert protocol is not None

            async def closed() -> bool:
                return bool(protocol.handler.connection_lost)

            await until(closed, IDLE_S + 5)
            acks = await client.publish([OutgoingEvent("order.paid", b"{}")])
            assert len(acks) == 1 and client._connection.channel._protocol is not protocol

    asyncio.run(scenario())


def test_a_client_that_reads_nothing_it_is_sent_is_cut_off(router: RouterProcess) -> None:
    """A client that opens a wide flow-control window, asks for megabytes and never reads: once
    the router's send buffer has stayed full for the idle timeout, the connection is aborted
    and its descriptor freed, though the client still holds its end."""
    assert router.process is not None
    pid = router.process.pid

    async def publish_bulk() -> None:
        async with RouterClient(router.address) as client:
            await client.create_exchange("bulk", ["bulk.#"])
            for _ in range(4):
                await client.publish(
                    [OutgoingEvent("bulk.item", b"z" * (1 << 20)) for _ in range(4)]
                )

    asyncio.run(publish_bulk())
    reader = RawH2(router.address, source="127.0.0.8", receive_buffer=65_536, window=2**31 - 1)
    earliest = pb.StartPoint(kind=pb.StartPoint.EARLIEST)
    request = pb.ReadRequest(exchange="bulk", max=1000, start=earliest).SerializeToString()
    for _ in range(10):
        stream_id = reader.headers("/router.v1.Subscriber/Read")
        reader.data(stream_id, message_prefix(len(request)) + request, end=True)
    reader.flush()
    began = time.monotonic()
    wait_until(lambda: connections_from(pid, "127.0.0.8") == 1, 5)
    wait_until(lambda: connections_from(pid, "127.0.0.8") == 0, IDLE_S + 10)
    cut_after = time.monotonic() - began
    reader.close()
    record("client that reads nothing", idle_timeout_s=IDLE_S, cut_off_after_s=round(cut_after, 2))
    assert cut_after > IDLE_S * 0.9


def call_with(
    router: RouterProcess, path: str, prefix: bytes, body: bytes
) -> tuple[str | None, str | None]:
    """One call whose request is ``prefix`` + ``body`` as they are: its status and message."""
    connection = RawH2(router.address)
    stream_id = connection.headers(path)
    connection.data(stream_id, prefix + body)
    connection.flush()
    try:
        return connection.status(stream_id)
    finally:
        connection.close()


@pytest.mark.parametrize(
    "path",
    [
        "/router.v1.Publisher/Publish",
        "/router.v1.Publisher/PublishStream",
        "/router.v1.Admin/GetType",
    ],
)
def test_a_message_announced_over_the_limit_is_refused_before_it_is_read(
    router: RouterProcess, path: str
) -> None:
    """A 400 MB Publish or a 300 MB GetType, announced by its prefix: RESOURCE_EXHAUSTED naming
    the limit, answered after the first megabyte, with nothing of it kept."""
    assert router.process is not None
    before = rss_mb(router.process.pid)
    announced = 400_000_000 if "Publish" in path else 300_000_000
    status, message = call_with(router, path, message_prefix(announced), b"\0" * 1_000_000)
    assert status == str(Status.RESOURCE_EXHAUSTED.value), (status, message)
    assert message is not None and str(MAX_MESSAGE) in message and str(announced) in message
    assert rss_mb(router.process.pid) - before < 20


def test_a_whole_message_over_the_limit_is_refused_without_being_buffered(
    router: RouterProcess,
) -> None:
    """A 64 MiB Publish sent whole by a real client: refused with RESOURCE_EXHAUSTED, the
    router holds at most a stream's flow-control window of it; one under the limit (a batch of
    ten 1 MiB events) is stored."""
    assert router.process is not None
    pid = router.process.pid
    before = rss_mb(pid)
    big = pb.PublishRequest(events=[pb.Event(type="order.big", payload=b"x" * (64 << 20))])

    async def send(request: pb.PublishRequest) -> Status | None:
        channel = Channel("127.0.0.1", router.port)
        try:
            async with channel.request(
                "/router.v1.Publisher/Publish",
                Cardinality.UNARY_UNARY,
                pb.PublishRequest,
                pb.PublishResponse,
                metadata=ADMIN,
            ) as stream:
                await stream.send_message(request, end=True)
                await stream.recv_message()
            return None
        except GRPCError as error:
            assert "16777216" in (error.message or ""), error.message
            return error.status
        finally:
            channel.close()

    assert asyncio.run(send(big)) == Status.RESOURCE_EXHAUSTED
    grown = rss_mb(pid) - before
    ten = pb.PublishRequest(
        events=[pb.Event(type="order.big", payload=b"y" * (1 << 20)) for _ in range(10)]
    )
    assert asyncio.run(send(ten)) is None
    record("oversized gRPC message", message_mib=64, refused=True, rss_growth_mb=round(grown, 1))
    assert grown < 32, f"RSS grew {grown:.0f} MB for a refused 64 MiB message"


def test_a_compressed_message_is_refused_by_name_without_a_traceback(
    router: RouterProcess,
) -> None:
    """The compressed flag set (no codec is offered): UNIMPLEMENTED saying so, nothing in the
    log's tracebacks."""
    tracebacks = log_lines(router, "Traceback")
    body = pb.PublishRequest(events=[pb.Event(type="order.paid", payload=b"{}")])
    encoded = body.SerializeToString()
    status, message = call_with(
        router,
        "/router.v1.Publisher/Publish",
        message_prefix(len(encoded), compressed=True),
        encoded,
    )
    assert status == str(Status.UNIMPLEMENTED.value), (status, message)
    assert message is not None and "compressed messages are not accepted" in message
    assert log_lines(router, "Traceback") == tracebacks


def test_running_out_of_descriptors_does_not_fill_the_log(tmp_path: Any) -> None:
    """The router's descriptor limit lowered under its connection bound: connections past it
    fail in accept (EMFILE). The failures are logged as a count, a line at most every 10 s
    (asyncio alone logs a traceback per waiting connection per second), and once the idle
    connections are closed new calls get through."""
    with running_router(
        f"sqlite:///{tmp_path}/emfile.db",
        str(tmp_path),
        "--grpc-handshake-timeout",
        "2s",
    ) as router:
        assert router.process is not None
        pid = router.process.pid
        limit = descriptors(pid) + 60
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, limit))
        size_before = os.path.getsize(router.log_path)
        held = [
            RawH2(router.address, source=f"127.0.0.{2 + n // 50}", preface=False)
            for n in range(150)
        ]
        stop = time.monotonic() + 3
        while time.monotonic() < stop:
            time.sleep(0.1)  # the attack's length: the connections wait in the backlog
        grown = os.path.getsize(router.log_path) - size_before
        failures = log_lines(router, "grpc accept failed")
        for connection in held:
            connection.close()
        seconds = asyncio.run(legitimate_calls(router, time.monotonic() + 0.2))
        record(
            "out of descriptors (EMFILE on accept)",
            descriptor_limit=limit,
            connections=len(held),
            log_growth_bytes=grown,
            accept_failure_lines=failures,
            legitimate_max_s=round(max(seconds), 3),
        )
        assert 1 <= failures <= 2
        assert grown < 10_000, f"the log grew {grown} bytes in 3 s"


def test_the_bounds_flags_are_checked(tmp_path: Any) -> None:
    """A bound that cannot work is refused at start, naming its flag."""
    for flags, field in (
        (["--grpc-max-message", "64KiB"], "--grpc-max-message"),
        (["--grpc-max-message", "lots"], "--grpc-max-message"),
        (["--grpc-max-connections", "0"], "--grpc-max-connections"),
        (["--grpc-max-connections-per-source", "-1"], "--grpc-max-connections-per-source"),
        (["--grpc-idle-timeout", "never"], "--grpc-idle-timeout"),
        (["--grpc-handshake-timeout", "0s"], "--grpc-handshake-timeout"),
        (["--grpc-start-timeout", "soon"], "--grpc-start-timeout"),
    ):
        assert_start_refused(str(tmp_path), flags, field)


@pytest.mark.parametrize(
    ("prefix_flags", "body", "status", "words"),
    [
        (
            True,
            pb.SubscribeRequest(heartbeat=pb.Heartbeat()).SerializeToString(),
            Status.UNIMPLEMENTED,
            "compressed messages are not accepted",
        ),
        (
            False,
            b"\xff\xff\xff\xff",
            Status.INVALID_ARGUMENT,
            "not a valid router.v1.SubscribeRequest",
        ),
    ],
    ids=["compressed", "not-protobuf"],
)
def test_a_message_refused_after_a_subscribe_start_ends_the_stream_with_its_status(
    router: RouterProcess, prefix_flags: bool, body: bytes, status: Status, words: str
) -> None:
    """A Subscribe stream whose later message is refused as it is read ends with that
    message's status (it used to end with OK, the refusal dropped with its reader task)."""
    start = pb.SubscribeRequest(
        start=pb.SubscribeStart(
            exchange="orders",
            subscriber=f"midstream-{status.name.lower()}",
            start=pb.StartPoint(kind=pb.StartPoint.EARLIEST),
        )
    ).SerializeToString()
    connection = RawH2(router.address)
    try:
        stream_id = connection.headers("/router.v1.Subscriber/Subscribe")
        connection.data(stream_id, message_prefix(len(start)) + start)
        connection.data(stream_id, message_prefix(len(body), compressed=prefix_flags) + body)
        connection.flush()
        got, message = connection.status(stream_id)
    finally:
        connection.close()
    assert got == str(status.value), (got, message)
    assert message is not None and words in message
