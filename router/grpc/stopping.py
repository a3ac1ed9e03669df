"""How the router's long streams (Subscribe, PublishStream) end when it stops: each is ended
with UNAVAILABLE and a message saying the router is stopping, and, when another router's
address is known, the trailer ``router-leader`` naming it, before the connections close
(a stream the server's close cancelled would end with no status: a dropped connection)."""

from __future__ import annotations

import asyncio
from typing import Any

from grpclib.const import Status
from grpclib.server import Stream

from router.core.errors import Unavailable
from router.observe.stats import Cluster

LEADER_TRAILER = "router-leader"  # as a standby names the leader (router.node.standby)


class Stopping(Unavailable):
    """The router is stopping; ``leader``, when not empty, is another router's gRPC address."""

    def __init__(self, leader: str = "") -> None:
        where = f"connect to {leader}" if leader else "connect again once a router serves"
        super().__init__(f"router: stopping; {where}")
        self.leader = leader


def next_router(cluster: Cluster | None) -> str:
    """The gRPC address of a router sharing the database other than this one (a standby, which
    takes over or names who did), as this leader last read them; "" when none is known."""
    if cluster is None:
        return ""
    for node in cluster.routers:
        if node.name != cluster.leader and node.grpc_address:
            return node.grpc_address
    return ""


async def end_stopping(stream: Stream[Any, Any], stopping: Stopping) -> None:
    """End the call with UNAVAILABLE, its message, and ``router-leader`` when it is known."""
    trailer = {LEADER_TRAILER: stopping.leader} if stopping.leader else None
    await stream.send_trailing_metadata(
        status=Status.UNAVAILABLE, status_message=str(stopping), metadata=trailer
    )


class Handlers:
    """The handler tasks of a service's open streams (on the loop's thread), so that a stopping
    server waits until each has sent its status: a task ends once its trailers are sent."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def add_current(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def ended(self, timeout_s: float) -> None:
        """Wait until every handler has ended, or ``timeout_s``."""
        if self._tasks and timeout_s > 0:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)
