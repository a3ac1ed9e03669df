"""What one gRPC connection's calls may cost: grpclib's handler, events processor and stream,
each narrowed where a client could make them hold memory or work without end.

- :class:`CallHandler` lets go of a call as soon as its task ends, including a task cancelled
  (by the client's RST_STREAM) before it ever ran, whose stream grpclib would otherwise keep
  for the connection's life.
- :class:`ConnectionEvents` counts the frames that make the router work without asking for a
  call (:class:`Allowance`), refuses a stream past the connection's cap on running calls, and
  makes each call's stream a :class:`MessageStream`.
- :class:`MessageStream` reads a request message's 5-byte prefix and refuses, before reading
  its body, a message larger than the limit or one marked compressed.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from grpclib import GRPCError
from grpclib.const import Status
from grpclib.protocol import Connection, EventsProcessor, Stream
from grpclib.server import Handler, request_handler
from h2.errors import ErrorCodes
from h2.events import (
    DataReceived,
    PingReceived,
    PriorityUpdated,
    RemoteSettingsChanged,
    RequestReceived,
    StreamReset,
)
from h2.exceptions import StreamClosedError


class Allowance:
    """A token bucket: ``burst`` at once, refilled at ``per_s`` a second. Nothing to cancel."""

    def __init__(self, burst: int, per_s: float) -> None:
        self._burst = float(burst)
        self._per_s = per_s
        self._tokens = float(burst)
        self._at = time.monotonic()

    def take(self) -> bool:
        """Whether one more is allowed now (and count it)."""
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._per_s)
        self._at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


class MessageStream(Stream):
    """One call's HTTP/2 stream, whose request messages are checked by their prefix.

    grpclib reads a message as ``recv_data(5)`` (the compressed flag and the length) and then
    ``recv_data(length)``; the body is read (and its flow-control window given back) only
    once the prefix has passed, so a refused message costs at most the stream's window."""

    def __init__(self, *args: Any, max_message_bytes: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._max_message_bytes = max_message_bytes
        self._body_next = False

    async def recv_data(self, size: int) -> bytes:
        if self._body_next:
            self._body_next = False
            return await super().recv_data(size)
        prefix = await super().recv_data(size)
        if len(prefix) == 5:
            compressed, length = struct.unpack(">?I", prefix)
            if compressed:
                raise GRPCError(
                    Status.UNIMPLEMENTED,
                    "request: compressed messages are not accepted (grpc-encoding: identity)",
                )
            if length > self._max_message_bytes:
                raise GRPCError(
                    Status.RESOURCE_EXHAUSTED,
                    f"request: a message of {length} bytes is over the maximum of"
                    f" {self._max_message_bytes} bytes (grpc_max_message_bytes)",
                )
            self._body_next = True
        return prefix


class CallHandler(Handler):
    """grpclib's handler of one connection's calls, keeping only the calls still running.

    Each call's stream is released when its task ends, whether it ran or was cancelled before
    its first step (grpclib releases a stream only from inside the task, so a stream reset
    right after its HEADERS stayed registered until the connection closed). Finished tasks
    are dropped at once, not every tenth call; ``on_closed`` is called once the connection is
    closed and its last task has ended, so the server can let go of the handler."""

    def __init__(self, *args: Any, on_closed: Callable[[CallHandler], None]) -> None:
        super().__init__(*args)
        self._on_closed = on_closed
        self._reported = False

    def accept(
        self,
        stream: Stream,
        headers: list[tuple[str, str]],
        release_stream: Callable[[], Any],
    ) -> None:
        release = _once(release_stream)
        task = self.loop.create_task(
            request_handler(
                self.mapping,
                stream,
                headers,
                self.codec,
                self.status_details_codec,
                self.dispatch,
                release,
            )
        )
        self._tasks[stream] = task
        task.add_done_callback(partial(self._ended, stream, release))

    def _ended(self, stream: Stream, release: Callable[[], None], task: asyncio.Task[None]) -> None:
        release()
        if self._tasks.get(stream) is task:
            del self._tasks[stream]
        self._cancelled.discard(task)
        self._report_closed()

    def cancel(self, stream: Stream) -> None:
        task = self._tasks.pop(stream, None)
        if task is not None:
            task.cancel()
            self._cancelled.add(task)

    def close(self) -> None:
        super().close()
        self._report_closed()

    def __gc_collect__(self) -> None:
        """Nothing to collect: each task is dropped as it ends."""

    def running(self) -> int:
        return len(self._tasks) + len(self._cancelled)

    def reset_running(self) -> int:
        """Calls the client reset (or the connection cancelled) whose handlers run on."""
        return len(self._cancelled)

    def _report_closed(self) -> None:
        if self.closing and not self._tasks and not self._cancelled and not self._reported:
            self._reported = True
            self._on_closed(self)


def _once(release_stream: Callable[[], Any]) -> Callable[[], None]:
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            release_stream()

    return release


class ConnectionEvents(EventsProcessor):
    """grpclib's events processor for one server connection, with its costs bounded.

    Frames that ask for no call but make the router work or answer (RST_STREAM from the
    client, PING, SETTINGS after the first, PRIORITY of no new stream, empty DATA that does not
    end a stream, and streams refused past the cap) each take one from ``allowance``; when it
    is spent, ``overrun`` is called (the connection goes away with GOAWAY). A new stream while
    ``max_streams`` calls are held on the connection (open ones, and reset ones whose handlers
    have not ended yet) is refused with RST_STREAM REFUSED_STREAM."""

    def __init__(
        self,
        handler: CallHandler,
        connection: Connection,
        *,
        max_streams: int,
        max_message_bytes: int,
        allowance: Allowance,
        overrun: Callable[[], None],
    ) -> None:
        super().__init__(handler, connection)
        self._calls = handler
        self._max_streams = max_streams
        self._max_message_bytes = max_message_bytes
        self._allowance = allowance
        self._overrun = overrun
        self.settled = False  # the client's first SETTINGS came: the HTTP/2 preface is done
        self.busy_at = time.monotonic()  # when a call last ran on the connection

    def _no_work(self) -> None:
        if not self._allowance.take():
            self._overrun()

    def process_request_received(self, event: RequestReceived) -> None:
        self.busy_at = time.monotonic()
        assert event.stream_id is not None
        # The calls counted: streams h2 holds open (this new one aside) and calls the client
        # reset whose handlers have not ended. A call already answered whose handler is still
        # returning is not counted: its client, keeping to MAX_CONCURRENT_STREAMS, has seen it
        # end and may open the next.
        held = self.connection._connection.open_inbound_streams - 1 + self._calls.reset_running()
        if held >= self._max_streams:
            with contextlib.suppress(StreamClosedError):  # unless the client reset it already
                self.connection._connection.reset_stream(event.stream_id, ErrorCodes.REFUSED_STREAM)
            self._no_work()
            return
        connection = self.connection
        stream = MessageStream(
            connection,
            connection._connection,
            connection._transport,
            stream_id=event.stream_id,
            max_message_bytes=self._max_message_bytes,
        )
        release_stream = self.register(stream)
        self.handler.accept(stream, event.headers, release_stream)  # type: ignore[arg-type]

    def process_stream_reset(self, event: StreamReset) -> None:
        super().process_stream_reset(event)
        if event.remote_reset:
            self._no_work()

    def process_remote_settings_changed(self, event: RemoteSettingsChanged) -> None:
        super().process_remote_settings_changed(event)
        if self.settled:
            self._no_work()
        self.settled = True

    def process_ping_received(self, event: PingReceived) -> None:
        self._no_work()

    def process_priority_updated(self, event: PriorityUpdated) -> None:
        if event.stream_id not in self.streams:  # not the priority of a request just made
            self._no_work()

    def process_data_received(self, event: DataReceived) -> None:
        super().process_data_received(event)
        if not event.data and event.stream_ended is None:
            self._no_work()
