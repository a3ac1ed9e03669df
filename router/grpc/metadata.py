"""What a call carries besides its messages: the bearer token and the peer's address."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from router.control.auth import Auth
from router.core.errors import Unauthenticated
from router.core.model import TokenRecord, UserRecord

Caller = tuple[UserRecord, TokenRecord] | None  # None: auth is off
_CALLER: ContextVar[Caller] = ContextVar("router_grpc_caller")


def let_in(found: Caller) -> None:
    """Remember the caller the token check let in. The check (a grpclib request listener) is
    awaited by the task that then runs the handler, so the handler sees it: a call's token is
    hashed and looked up once."""
    _CALLER.set(found)


def caller(auth: Auth) -> Caller:
    """The caller of the running call, as the token check let it in. A call the check did not
    see is refused, unless ``auth`` is off (services served without the check, in tests)."""
    try:
        return _CALLER.get()
    except LookupError:
        if not auth.enabled:
            return None
        raise Unauthenticated("authorization: this call was not checked") from None


def caller_user(auth: Auth) -> UserRecord | None:
    found = caller(auth)
    return found[0] if found is not None else None


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
