"""RouterError -> gRPC status: the one place the gRPC edge turns a router error into a status."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from grpclib import GRPCError
from grpclib.const import Status

from router.core.errors import RouterError


def grpc_error(error: RouterError) -> GRPCError:
    """The status named by the error's class, with its message (which names the field)."""
    return GRPCError(Status[error.grpc_status], str(error))


@contextlib.contextmanager
def statuses() -> Iterator[None]:
    """Raise RouterErrors as their gRPC status; anything else reaches grpclib (INTERNAL)."""
    try:
        yield
    except RouterError as error:
        raise grpc_error(error) from None
