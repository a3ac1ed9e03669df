"""What a call carries besides its messages: the bearer token and the peer's address."""

from __future__ import annotations

from typing import Any


def authorization(metadata: Any) -> str | None:
    """The ``authorization`` metadata value as text (grpclib hands over a multidict or None)."""
    value = metadata.get("authorization") if metadata is not None else None
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value if isinstance(value, str) else None


def peer_address(stream: Any) -> str:
    """``grpc host:port`` of the client of a stream, for operators ("" if unknown)."""
    try:
        address = stream.peer.addr()
    except (AttributeError, OSError):
        return ""
    return f"grpc {address[0]}:{address[1]}" if address else ""


def peer_host(peer: Any) -> str:
    """The address, without its port, of a gRPC peer (grpclib's ``Peer``): "unknown" if none."""
    try:
        address = peer.addr() if peer is not None else None
    except OSError:
        address = None
    return str(address[0]) if address else "unknown"
