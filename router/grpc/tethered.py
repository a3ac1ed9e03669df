"""Running a gRPC stream's handler tethered to its caller's token and grants (router.control.tethers)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from router.control.auth import Auth
from router.control.tethers import Needs
from router.core.errors import RouterError
from router.grpc.metadata import caller
from router.grpc.status import grpc_error, statuses

T = TypeVar("T")


async def tethered(auth: Auth, needs: Needs, body: Callable[[], Awaitable[T]]) -> T:
    """Await ``body()`` (on the loop's thread) for as long as the caller's token stands and it
    holds every one of ``needs``; once one goes, ``body`` is cancelled and the call ends with
    UNAUTHENTICATED or PERMISSION_DENIED naming why. With auth off, just ``body()``.

    ``body`` runs as a task of its own, so that losing access cancels it and nothing of
    grpclib's around it (the trailers still to send)."""
    with statuses():
        found = caller(auth)
    if found is None:
        return await body()
    loop = asyncio.get_running_loop()
    inner = asyncio.ensure_future(body())

    def lose(_: RouterError) -> None:  # from Trio's thread, or this one
        loop.call_soon_threadsafe(inner.cancel)

    tether = auth.tethers.hold(found[0].name, found[1].id, needs, lose)
    try:
        return await inner
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if tether.lost is None or (current is not None and current.cancelling()):
            raise
        raise grpc_error(tether.lost) from None
    finally:
        auth.tethers.release(tether)
        if not inner.done():
            inner.cancel()
