"""One gRPC server's connections, seen from inside (router.grpc.connections and calls): a real
ClosingServer on loopback in this process, driven by raw HTTP/2 frames from a thread, with a
small service whose calls the test can hold open. What the process-level attacks in
tests/faults/test_hostile_transport.py can only see as memory, this test sees as the server's
own bookkeeping."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import attrs
import h2.events
import pytest
import trustme
from grpclib.const import Cardinality
from grpclib.const import Handler as Method
from h2.errors import ErrorCodes
from h2.settings import SettingCodes

from router._proto.router.v1 import router_pb2 as pb
from router.grpc.calls import Allowance
from router.grpc.connections import ConnectionLimits, Protocol
from router.grpc.server import ClosingServer, Codec, bound_port, close_server
from tests.helpers import polling
from tests.helpers.h2raw import RawH2, message_prefix

SLOW = "/test.Calls/Slow"
LINGER = "/test.Calls/Linger"
LIMITS = ConnectionLimits(
    max_connections=50,
    max_per_source=50,
    handshake_timeout_s=10.0,
    idle_timeout_s=300.0,
    max_streams=5,
    no_work_burst=1_000,
    no_work_per_s=100.0,
    max_message_bytes=1 << 20,
)


class Calls:
    """A service with one call that answers only once ``release`` is set, and goes on waiting
    for it when cancelled (as a handler finishing a commit would)."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.running = 0
        self.lingering = 0

    async def slow(self, stream: Any) -> None:
        await stream.recv_message()
        self.running += 1
        try:
            while not self.release.is_set():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(self.release.wait())
        finally:
            self.running -= 1
        await stream.send_message(pb.ServerInfo())

    async def linger(self, stream: Any) -> None:
        """Answers at once, status and all, then waits for ``release`` before returning."""
        await stream.recv_message()
        await stream.send_message(pb.ServerInfo())
        await stream.send_trailing_metadata()
        self.lingering += 1
        try:
            await self.release.wait()
        finally:
            self.lingering -= 1

    def __mapping__(self) -> dict[str, Method]:
        return {
            SLOW: Method(self.slow, Cardinality.UNARY_UNARY, pb.ServerInfoRequest, pb.ServerInfo),
            LINGER: Method(
                self.linger, Cardinality.UNARY_UNARY, pb.ServerInfoRequest, pb.ServerInfo
            ),
        }


@contextlib.asynccontextmanager
async def serving(
    limits: ConnectionLimits = LIMITS, tls: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[ClosingServer, Calls]]:
    calls = Calls()
    server = ClosingServer([calls], codec=Codec(), limits=limits)
    await server.start("127.0.0.1", 0, ssl=tls)
    try:
        yield server, calls
    finally:
        calls.release.set()
        await close_server(server)


async def until(check: Callable[[], bool], timeout: float = 5) -> None:
    """Let the server's loop run until ``check`` holds; fail after ``timeout`` s."""

    async def holds() -> bool:
        return check()

    await polling.until(holds, timeout)


def only_connection(server: ClosingServer) -> Protocol:
    (protocol,) = list(server.connections)
    return protocol


async def in_thread(work: Callable[[], Any]) -> Any:
    return await asyncio.to_thread(work)


def address(server: ClosingServer) -> str:
    return f"127.0.0.1:{bound_port(server, 0)}"


def synced(client: RawH2) -> None:
    """Send what is queued and wait until the server has answered a PING sent after it: it has
    read everything before."""
    client.h2.ping(b"syncsync")
    client.flush()

    def answered() -> bool:
        return any(isinstance(e, h2.events.PingAckReceived) for e in client.events)

    assert not client.read(5, until=answered), "the server closed the connection"
    assert answered()
    client.events = [e for e in client.events if not isinstance(e, h2.events.PingAckReceived)]


def resets_of(client: RawH2, stream_id: int) -> list[h2.events.StreamReset]:
    """The RST_STREAMs the server sent on ``stream_id`` (reading up to 5 s for one)."""

    def found() -> list[h2.events.StreamReset]:
        return [
            e
            for e in client.events
            if isinstance(e, h2.events.StreamReset) and e.stream_id == stream_id
        ]

    client.read(5, until=lambda: bool(found()))
    return found()


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


def test_streams_reset_before_their_call_ran_are_let_go() -> None:
    """HEADERS then RST_STREAM, 400 times in rounds: no stream, task or call is left behind
    (grpclib kept each stream whose task was cancelled before it started)."""

    async def scenario() -> None:
        async with serving() as (server, _):
            client = await in_thread(lambda: RawH2(address(server)))

            def resets() -> None:
                for _ in range(100):
                    for _ in range(4):
                        client.reset(client.headers(SLOW, token=None))
                    synced(client)

            await in_thread(resets)
            protocol = only_connection(server)
            await until(lambda: not protocol.processor.streams)
            assert protocol._calls.running() == 0
            assert not client.closed
            client.close()

    run(scenario)


def test_a_closed_connections_calls_are_let_go_at_once() -> None:
    """Each connection's handler leaves the server when the connection has closed and its
    calls have ended (grpclib looked only at every tenth new connection)."""

    async def scenario() -> None:
        async with serving() as (server, _):
            for _ in range(3):
                client = await in_thread(lambda: RawH2(address(server)))
                await in_thread(lambda c=client: synced(c))  # type: ignore[misc]
                client.close()
            await until(lambda: not server._handlers and not len(server.connections))

    run(scenario)


def test_calls_still_running_after_a_reset_count_against_the_streams_cap() -> None:
    """Five calls running, reset by the client, whose handlers take their time to end: h2 sees
    no stream open, but a sixth stream is refused (REFUSED_STREAM) until one has ended."""

    async def scenario() -> None:
        async with serving() as (server, calls):
            client = await in_thread(lambda: RawH2(address(server)))

            def start(count: int) -> list[int]:
                started = []
                for _ in range(count):
                    stream_id = client.headers(SLOW, token=None)
                    client.data(stream_id, message_prefix(0), end=True)
                    started.append(stream_id)
                synced(client)
                return started

            running = await in_thread(lambda: start(5))
            await until(lambda: calls.running == 5)
            await in_thread(lambda: [client.reset(s) for s in running] and synced(client))
            (refused,) = await in_thread(lambda: start(1))
            # The PING's answer goes out as the frames are read, the refusal once they are
            # handled: read on until it comes.
            reset = await in_thread(lambda: resets_of(client, refused))
            assert reset and reset[0].error_code == ErrorCodes.REFUSED_STREAM, client.events
            assert calls.running == 5
            calls.release.set()
            await until(lambda: calls.running == 0 and not only_connection(server)._calls.running())
            (accepted,) = await in_thread(lambda: start(1))
            assert await in_thread(lambda: client.status(accepted)) == ("0", None)
            client.close()

    run(scenario)


def test_calls_answered_whose_handlers_are_still_returning_do_not_hold_the_cap() -> None:
    """A client keeping to MAX_CONCURRENT_STREAMS opens its next call as soon as one has ended
    for it; five answered calls whose handlers have not returned yet do not refuse a sixth (a
    benchmark pipelining unary calls at 1,000/s was refused REFUSED_STREAM under load)."""

    async def scenario() -> None:
        async with serving() as (server, calls):
            client = await in_thread(lambda: RawH2(address(server)))

            def call(path: str) -> tuple[str | None, str | None]:
                stream_id = client.headers(path, token=None)
                client.data(stream_id, message_prefix(0), end=True)
                client.flush()
                return client.status(stream_id)

            for _ in range(5):
                assert await in_thread(lambda: call(LINGER)) == ("0", None)
            await until(lambda: calls.lingering == 5)
            assert await in_thread(lambda: call(LINGER)) == ("0", None)
            assert calls.lingering == 6
            client.close()

    run(scenario)


def _pings(client: RawH2, count: int) -> None:
    for n in range(count):
        client.h2.ping(n.to_bytes(8, "big"))


def _empty_data(client: RawH2, count: int) -> None:
    stream_id = client.headers(SLOW, token=None)
    for _ in range(count):
        client.h2.send_data(stream_id, b"")


def _settings(client: RawH2, count: int) -> None:
    for n in range(count):
        client.h2.update_settings({SettingCodes.HEADER_TABLE_SIZE: 4096 + n % 2})


@pytest.mark.parametrize("flood", [_pings, _empty_data, _settings])
def test_a_flood_of_frames_that_do_no_work_gets_goaway_enhance_your_calm(
    flood: Callable[[RawH2, int], None],
) -> None:
    """PINGs, empty DATA frames or SETTINGS past the allowance of frames that do no work: the
    connection is told why and closed."""

    async def scenario() -> None:
        async with serving() as (server, _):
            client = await in_thread(lambda: RawH2(address(server)))

            def send() -> None:
                flood(client, LIMITS.no_work_burst + 200)
                client.flush()
                client.read(5)

            await in_thread(send)
            goaway = client.goaway()
            assert client.closed and goaway is not None
            assert goaway.error_code == ErrorCodes.ENHANCE_YOUR_CALM
            assert goaway.additional_data == b"no_work_frames"
            await until(lambda: not len(server.connections))
            client.close()

    run(scenario)


def test_tls_connections_that_never_finish_the_handshake_leave_nothing() -> None:
    """With TLS, a client that says nothing is closed when the handshake timeout passes, and
    one whose handshake fails leaves no handler behind (grpclib made one per accepted
    connection and kept those whose connection was never made)."""
    authority = trustme.CA()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(tls)
    limits = attrs.evolve(LIMITS, handshake_timeout_s=1.0)

    async def scenario() -> None:
        async with serving(limits, tls) as (server, _):
            silent = await in_thread(lambda: RawH2(address(server), preface=False))
            garbled = await in_thread(lambda: RawH2(address(server), preface=False))
            garbled.socket.sendall(b"this is not a TLS hello" * 10)
            assert await in_thread(lambda: garbled.read(5))
            assert await in_thread(lambda: silent.read(limits.handshake_timeout_s + 5))
            assert not server._handlers and not len(server.connections)
            silent.close()
            garbled.close()

    run(scenario)


def test_an_allowance_gives_its_burst_then_its_rate() -> None:
    allowance = Allowance(burst=3, per_s=0.001)
    assert [allowance.take() for _ in range(4)] == [True, True, True, False]
