"""What stops ``router serve`` from starting, said in one line: a port taken, a store that
cannot be reached or whose schema is newer than this router, a setting refused.

The servers raise :class:`CannotListen` (naming the flag to change) where they bind; the CLI
reads the leaves of whatever exception group ends the run with :func:`refusal` and prints the
reason instead of a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from collections.abc import Iterator

from router.core.errors import RouterError


class CannotListen(RouterError):
    """A server could not bind its address (in use, not this machine's, not permitted)."""

    grpc_status = "UNAVAILABLE"

    def __init__(self, flag: str, address: str, error: OSError) -> None:
        reason = os.strerror(error.errno) if isinstance(error.errno, int) else str(error)
        if isinstance(error, socket.gaierror):
            reason = f"the host is not known ({error.strerror})"
        elif error.errno == errno.EADDRINUSE:
            reason += " (another process holds it)"
        variable = "ROUTER_" + flag.removeprefix("--").replace("-", "_").upper()
        super().__init__(
            f"cannot listen on {address}: {reason}; choose another address with {flag}"
            f" (env {variable})"
        )


# What binding an address fails with when the address is the trouble (not, say, a TLS file).
_BIND_ERRORS = frozenset({errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES})


def _bind_error(error: BaseException) -> bool:
    return isinstance(error, socket.gaierror) or (
        isinstance(error, OSError) and error.errno in _BIND_ERRORS
    )


@contextlib.contextmanager
def listening(flag: str, address: str) -> Iterator[None]:
    """Around the start of a server: a failure to bind becomes :class:`CannotListen`."""
    try:
        yield
    except* OSError as group:
        bind = [leaf for leaf in leaves(group) if _bind_error(leaf)]
        if not bind:
            raise
        assert isinstance(bind[0], OSError)
        raise CannotListen(flag, address, bind[0]) from None


def leaves(error: BaseException) -> list[BaseException]:
    """The exceptions inside ``error``'s groups (itself when it is no group)."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaves(inner)]
    return [error]


def refusal(error: BaseException) -> str | None:
    """The one-line reason a run ended on, if it ended on a reason the router gives (None for
    anything else: a defect, shown with its traceback)."""
    found = [leaf for leaf in leaves(error) if isinstance(leaf, RouterError)]
    listening = [leaf for leaf in found if isinstance(leaf, CannotListen)]
    chosen = (listening or found)[:1]
    return str(chosen[0]) if chosen else None
