"""HTTP/2 driven frame by frame with the ``h2`` package, as a hostile client would: a blocking
socket, frames sent only when :meth:`RawH2.flush` is called, nothing read unless asked."""

from __future__ import annotations

import select
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import h2.config
import h2.connection
import h2.events
from h2.errors import ErrorCodes
from h2.settings import SettingCodes

from tests.helpers.server import ADMIN_TOKEN


def grpc_headers(path: str, token: str | None = ADMIN_TOKEN) -> list[tuple[str, str]]:
    headers = [
        (":method", "POST"),
        (":scheme", "http"),
        (":authority", "router"),
        (":path", path),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ]
    if token is not None:
        headers.append(("authorization", f"Bearer {token}"))
    return headers


def message_prefix(length: int, compressed: bool = False) -> bytes:
    """A gRPC message's 5-byte prefix: the compressed flag and the length that follows."""
    return struct.pack(">?I", compressed, length)


class RawH2:
    """One client connection to ``address`` from ``source`` (any 127.x.y.z on loopback)."""

    def __init__(
        self,
        address: str,
        source: str = "127.0.0.1",
        preface: bool = True,
        timeout: float = 5,
        receive_buffer: int | None = None,
        window: int | None = None,
    ) -> None:
        """``receive_buffer``: the socket's, fixed (so the kernel holds little of what is not
        read); ``window``: the HTTP/2 flow-control window offered, so that the router is held
        back by the socket alone."""
        host, port = address.rsplit(":", 1)
        self.socket = socket.socket()
        self.socket.settimeout(timeout)
        if receive_buffer is not None:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.socket.bind((source, 0))
        self.socket.connect((host, int(port)))
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.next_stream = 1
        self.events: list[Any] = []
        self.closed = False
        if preface:
            self.h2.initiate_connection()
            if window is not None:
                self.h2.update_settings({SettingCodes.INITIAL_WINDOW_SIZE: window})
                self.h2.increment_flow_control_window(window - 65_535)
            self.flush()

    def headers(self, path: str, token: str | None = ADMIN_TOKEN, end: bool = False) -> int:
        stream_id = self.next_stream
        self.next_stream += 2
        self.h2.send_headers(stream_id, grpc_headers(path, token), end_stream=end)
        return stream_id

    def reset(self, stream_id: int) -> None:
        self.h2.reset_stream(stream_id, ErrorCodes.CANCEL)

    def data(self, stream_id: int, body: bytes, end: bool = False, timeout: float = 10) -> None:
        """Send ``body`` in frames as the router's flow control allows (reading its window
        updates); stops early, without error, if the stream or the connection ends."""
        deadline = time.monotonic() + timeout
        view = memoryview(body)
        while True:
            window = self.h2.local_flow_control_window(stream_id)
            size = min(window, self.h2.max_outbound_frame_size, len(view))
            if size or not view:
                self.h2.send_data(
                    stream_id, bytes(view[:size]), end_stream=end and size == len(view)
                )
                view = view[size:]
                if not view:
                    return
                continue
            self.flush()
            if self.read(0.2) or self.stream_ended(stream_id) or time.monotonic() > deadline:
                return

    def stream_ended(self, stream_id: int) -> bool:
        return any(
            getattr(e, "stream_id", None) == stream_id
            and isinstance(e, h2.events.StreamEnded | h2.events.StreamReset)
            for e in self.events
        )

    def flush(self) -> None:
        """Send what is queued; OSError when the router has closed the connection."""
        self.socket.sendall(self.h2.data_to_send())

    def read(self, timeout: float, until: Callable[[], bool] | None = None) -> bool:
        """Read for up to ``timeout`` s, less if the connection ends or ``until()`` holds:
        whether the connection ended."""
        deadline = time.monotonic() + timeout
        while not self.closed and (left := deadline - time.monotonic()) > 0:
            if until is not None and until():
                break
            self.socket.settimeout(left)
            try:
                data = self.socket.recv(65536)
            except TimeoutError:
                break
            except ConnectionResetError:
                data = b""
            if not data:
                self.closed = True
                break
            self.events.extend(self.h2.receive_data(data))
            pending = self.h2.data_to_send()
            if pending:
                try:
                    self.socket.sendall(pending)
                except OSError:
                    self.closed = True
        return self.closed

    def goaway(self) -> h2.events.ConnectionTerminated | None:
        found = [e for e in self.events if isinstance(e, h2.events.ConnectionTerminated)]
        return found[0] if found else None

    def status(self, stream_id: int, timeout: float = 10) -> tuple[str | None, str | None]:
        """The call's grpc-status and grpc-message, read from its (trailing) headers; (None,
        None) if none came within ``timeout`` s."""
        self.read(timeout, until=lambda: self._status(stream_id) is not None)
        return self._status(stream_id) or (None, None)

    def _status(self, stream_id: int) -> tuple[str, str | None] | None:
        for event in self.events:
            if getattr(event, "stream_id", None) == stream_id and isinstance(
                event, h2.events.ResponseReceived | h2.events.TrailersReceived
            ):
                fields = {bytes(k).decode(): bytes(v).decode() for k, v in event.headers}
                if "grpc-status" in fields:
                    return fields["grpc-status"], fields.get("grpc-message")
        return None

    def close(self) -> None:
        self.socket.close()


def closed_now(connections: list[RawH2], within: float) -> int:
    """How many of ``connections`` the router has closed, looking for ``within`` seconds (what
    it sent on the others, its SETTINGS, is read and dropped)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        open_ones = {c.socket: c for c in connections if not c.closed}
        readable, _, _ = select.select(list(open_ones), [], [], 0.05)
        for sock in readable:
            try:
                ended = not sock.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                ended = False
            except ConnectionResetError:
                ended = True
            open_ones[sock].closed = ended
    return sum(c.closed for c in connections)
