"""The gRPC port's connections, each bounded in what it may hold and for how long.

:class:`Connections` admits a connection or refuses it (over ``max_connections`` in all or
``max_per_source`` from one address: closed as soon as it is accepted), and once a second
(:meth:`Connections.sweep`) closes those that sent no HTTP/2 preface within the handshake
timeout, had no call open for the idle timeout, or read nothing of what they were sent for that
long; a connection closed by the router that does not take its last frames within
``CLOSE_GRACE_S`` is aborted. Refusals and closes are logged as counts, at most one line per
``LOG_EVERY_S``, never one per connection. :class:`Protocol` is grpclib's H2Protocol with these
bounds and those of router.grpc.calls.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import resource
import time
from collections.abc import Callable
from typing import Any, cast

import attrs
from grpclib.protocol import H2Protocol
from h2.config import H2Configuration
from h2.errors import ErrorCodes
from h2.exceptions import ProtocolError
from h2.settings import SettingCodes

from router.core.settings import Settings
from router.grpc.calls import Allowance, CallHandler, ConnectionEvents

log = logging.getLogger("router.grpc")
CLOSE_GRACE_S = 1.0  # a closed connection's client gets this long to read the last frames
LOG_EVERY_S = 10.0
SWEEP_EVERY_S = 1.0
ACCEPT_FAILED = "socket.accept() out of system resource"


@attrs.frozen
class ConnectionLimits:
    """What one client may hold on the gRPC port (router.core.settings has each one's meaning)."""

    max_connections: int
    max_per_source: int
    handshake_timeout_s: float
    idle_timeout_s: float
    max_streams: int
    no_work_burst: int
    no_work_per_s: float
    max_message_bytes: int

    @classmethod
    def of(cls, settings: Settings) -> ConnectionLimits:
        return cls(
            max_connections=settings.grpc_max_connections or default_max_connections(),
            max_per_source=settings.grpc_max_connections_per_source,
            handshake_timeout_s=settings.grpc_handshake_timeout_s,
            idle_timeout_s=settings.grpc_idle_timeout_s,
            max_streams=settings.grpc_max_streams_per_connection,
            no_work_burst=settings.grpc_no_work_frames_burst,
            no_work_per_s=settings.grpc_no_work_frames_per_s,
            max_message_bytes=settings.grpc_max_message_bytes,
        )


def default_max_connections() -> int:
    """Half the process's descriptor limit: the rest is the HTTP port's, the store's, the log's."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 10_000
    return max(16, soft // 2)


class Tally:
    """Counts of refused and closed connections by reason, logged as one line at most every
    ``LOG_EVERY_S`` (and only when something was counted)."""

    def __init__(self) -> None:
        self._counts: collections.Counter[str] = collections.Counter()
        self._sources: collections.Counter[str] = collections.Counter()
        self._logged_at = 0.0

    def add(self, reason: str, source: str) -> None:
        self._counts[reason] += 1
        self._sources[source] += 1
        self.flush()

    def flush(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if not self._counts or now - self._logged_at < LOG_EVERY_S:
            return
        self._logged_at = now
        counts = " ".join(f"{reason}={n}" for reason, n in sorted(self._counts.items()))
        sources = ",".join(source for source, _ in self._sources.most_common(3))
        log.warning("grpc connections refused or closed %s top_sources=%s", counts, sources)
        self._counts.clear()
        self._sources.clear()


class Connections:
    """The live connections of one gRPC server, by source address."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.tally = Tally()
        self._live: set[Protocol] = set()
        self._by_source: collections.Counter[str] = collections.Counter()
        self.stopped = False

    def __len__(self) -> int:
        return len(self._live)

    def __iter__(self) -> Any:
        return iter(list(self._live))

    def admit(self, protocol: Protocol) -> str | None:
        """Count the connection in, or say why it is refused."""
        if len(self._live) >= self.limits.max_connections:
            return "max_connections"
        if self._by_source[protocol.source] >= self.limits.max_per_source:
            return "max_connections_per_source"
        self._live.add(protocol)
        self._by_source[protocol.source] += 1
        return None

    def gone(self, protocol: Protocol) -> None:
        if protocol in self._live:
            self._live.discard(protocol)
            self._by_source[protocol.source] -= 1
            if not self._by_source[protocol.source]:
                del self._by_source[protocol.source]

    def sweep(self, now: float) -> None:
        """Close the connections past a timeout; abort those closed that did not go in time."""
        limits = self.limits
        for protocol in list(self._live):
            protocol.check(now, limits)
        self.tally.flush(now)

    async def sweep_forever(self) -> None:
        """On the server's loop until cancelled (the server's close cancels it)."""
        every = min(SWEEP_EVERY_S, self.limits.handshake_timeout_s / 4)
        while True:
            await asyncio.sleep(every)  # a periodic sweep of timeouts, not a wait for an event
            try:
                self.sweep(time.monotonic())
            except Exception:  # one connection's failure must not end the sweeping of all
                log.exception("grpc connection sweep failed")


class Protocol(H2Protocol):
    """grpclib's HTTP/2 server protocol for one connection, with its bounds (module doc)."""

    processor: ConnectionEvents
    _calls: CallHandler

    def __init__(
        self,
        connections: Connections,
        new_handler: Callable[[], CallHandler],
        config: Any,
        h2_config: H2Configuration,
    ) -> None:
        # The handler is made once the connection is (a TLS handshake that fails never makes
        # it, and grpclib kept the handler of each such connection for good).
        super().__init__(cast(CallHandler, None), config, h2_config)
        self._connections = connections
        self._new_handler = new_handler
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.source = "?"
        self._made_at = time.monotonic()
        self._closing_at: float | None = None  # when the transport began closing
        self._paused_at: float | None = None  # when the transport stopped taking writes
        self._shut = False  # the router closed it: nothing more is read

    def connection_made(self, transport: Any) -> None:
        self._transport = transport
        self._made_at = time.monotonic()
        peer = transport.get_extra_info("peername")
        self.source = str(peer[0]) if isinstance(peer, tuple) and peer else "local"
        refused = self._connections.admit(self)
        if refused is not None:
            self._shut = True
            self._connections.tally.add(refused, self.source)
            transport.abort()  # nothing was said on it yet: no HTTP/2 to close politely
            return
        self.handler = self._calls = self._new_handler()
        super().connection_made(transport)
        limits = self._connections.limits
        self.processor = ConnectionEvents(
            self._calls,
            self.connection,
            max_streams=limits.max_streams,
            max_message_bytes=limits.max_message_bytes,
            allowance=Allowance(limits.no_work_burst, limits.no_work_per_s),
            overrun=self._overrun,
        )
        if limits.max_streams != self.connection._connection.local_settings.max_concurrent_streams:
            self.connection._connection.update_settings(
                {SettingCodes.MAX_CONCURRENT_STREAMS: limits.max_streams}
            )
            self.connection.flush()
        if self._connections.stopped:
            self.stop()

    def data_received(self, data: bytes) -> None:
        if not self._shut:
            super().data_received(data)

    def pause_writing(self) -> None:
        self._paused_at = time.monotonic()
        super().pause_writing()

    def resume_writing(self) -> None:
        self._paused_at = None
        super().resume_writing()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._connections.gone(self)
        if hasattr(self, "processor"):  # else refused before its HTTP/2 began: nothing to end
            super().connection_lost(exc)
        if not self.lost.done():
            self.lost.set_result(None)

    def _overrun(self) -> None:
        self.shut("no_work_frames", ErrorCodes.ENHANCE_YOUR_CALM)

    def shut(self, reason: str, code: ErrorCodes = ErrorCodes.NO_ERROR, tally: bool = True) -> None:
        """Say GOAWAY with ``code`` and close; the calls running on it end as terminated."""
        if self._shut or not hasattr(self, "processor"):
            return
        self._shut = True
        if tally:
            self._connections.tally.add(reason, self.source)
        h2 = self.connection._connection
        try:
            h2.close_connection(error_code=code, additional_data=reason.encode())
        except ProtocolError:
            pass  # already closed on the HTTP/2 level
        self.connection.flush()
        self.processor.close(f"closed by the router: {reason}")

    def check(self, now: float, limits: ConnectionLimits) -> None:
        """The sweep's look at this connection (Connections.sweep)."""
        transport = self._transport
        if transport.is_closing():
            self._closing_at = self._closing_at or now
            if now - self._closing_at > CLOSE_GRACE_S:
                transport.abort()  # its client does not read: drop what is left to send
            return
        if not hasattr(self, "processor"):
            return
        events = self.processor
        if self._calls.running():
            events.busy_at = now
        if not events.settled:
            if now - self._made_at > limits.handshake_timeout_s:
                self._connections.tally.add("handshake_timeout", self.source)
                self._shut = True
                transport.abort()  # no HTTP/2 from it: nothing to say
        elif self._paused_at is not None and now - self._paused_at > limits.idle_timeout_s:
            self._connections.tally.add("not_reading", self.source)
            self._shut = True
            transport.abort()  # it takes nothing: a GOAWAY would wait behind the rest
        elif now - events.busy_at > limits.idle_timeout_s:
            self.shut("idle", tally=False)  # an ordinary end, not a defence: not logged

    def stop(self, abort: bool = False) -> None:
        """The server's close: end the calls and the connection (``abort``: drop it now)."""
        if not hasattr(self, "processor"):  # refused: already going
            return
        if abort:
            self._transport.abort()  # no-op once closed; else the socket goes, unflushed
        elif not self._transport.is_closing():
            self.processor.close("the server stopped")  # its streams end as terminated


def quiet_accept_failures(loop: asyncio.AbstractEventLoop) -> None:
    """Have the loop log a failed accept (EMFILE, ENFILE, ENOBUFS, ENOMEM) as a count at most
    once per ``LOG_EVERY_S``, with no traceback: asyncio retries the accept every second and,
    in Python 3.11, reports the failure once per connection waiting in the backlog each time
    (a line and a traceback per attempt). Every other report goes where it went before."""
    previous = loop.get_exception_handler()
    failures = [0]
    logged_at = [0.0]

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") != ACCEPT_FAILED:
            if previous is not None:
                previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        failures[0] += 1
        now = time.monotonic()
        if now - logged_at[0] >= LOG_EVERY_S:
            logged_at[0] = now
            log.error(
                "grpc accept failed: %s (%d times since the last report); new connections"
                " wait in the backlog until descriptors are free",
                context.get("exception"),
                failures[0],
            )
            failures[0] = 0

    loop.set_exception_handler(handle)
