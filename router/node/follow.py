"""A route node's link to its ingest node (``router serve --role route --upstream ADDR``).

The follower asks the ingest node's Log.Follow stream for the committed events after the last seq
this node routed, and hands each response to the publish path as stored events: the Dispatcher
matches them against this node's exchanges and the StateActor writes their offsets and the new
position in one transaction. The position is therefore exactly what was routed, and after a
restart of either side, or a lost connection, the follower asks again from it: no gap, and
nothing routed twice.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import attrs
import trio
from grpclib.exceptions import GRPCError, StreamTerminatedError

from router.app import Router
from router.client.client import next_address
from router.core.errors import Unavailable
from router.grpc.convert import stored_events

log = logging.getLogger("router.node.follow")
MAX_BACKOFF_S = 5.0
LOST = (GRPCError, StreamTerminatedError, OSError, asyncio.TimeoutError, Unavailable)


@attrs.define
class FollowStats:
    upstream: str = ""
    connected: bool = False
    connects: int = 0
    routed: int = 0  # events received and routed since start-up
    position: int = 0  # the last upstream seq routed (saved durably)
    upstream_last_seq: int = 0  # the ingest node's last seq, as of its last response
    last_error: str = ""


class Follower:
    def __init__(self, router: Router, upstream: str, token: str | None, tls: Any) -> None:
        self.router = router
        self.upstream = upstream
        self.token = token
        self.tls = tls
        self.stats = FollowStats(upstream=upstream, position=router.state.positions.last_seq)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Follow until cancelled; starts at once (the node serves its stored history meanwhile)."""
        task_status.started()
        backoff = 0.1
        while True:
            try:
                await self.router.asyncio_thread().call(self._session)
            except* LOST as group:
                error = group.exceptions[0]
                self._next_upstream(error)
                self.stats.last_error = f"{type(error).__name__}: {error}"
                log.warning("upstream %s: %s", self.upstream, self.stats.last_error)
            if self.stats.connected:
                backoff = 0.1
            self.stats.connected = False
            await trio.sleep(backoff)  # back-off before following again
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    def _next_upstream(self, error: BaseException) -> None:
        """With several ingest routers (``--upstream h1:50051,h2:50051``), the next session
        starts at the leader a standby named, or at the next address when this one failed."""
        addresses = self.upstream.split(",")
        target = next_address(addresses, addresses[0], error)
        if target is not None:
            self.upstream = ",".join([target, *(a for a in addresses if a != target)])

    async def _session(self) -> None:
        """One Follow stream, from this node's position (runs on the bridge's loop: grpclib)."""
        from router.client import RouterClient

        route = self.router.asyncio_thread().to_trio(self._route)
        position = self.router.state.positions.last_seq
        async with RouterClient(self.upstream, self.token, tls=self.tls) as client:
            log.info("upstream %s: following after seq=%d", self.upstream, position)
            first = True
            async for response in client.follow(position):
                if first:
                    first = False
                    self.stats.connected = True
                    self.stats.connects += 1
                await route(response)

    async def _route(self, response: Any) -> None:
        events = stored_events(response)
        self.stats.upstream_last_seq = response.last_seq
        if events:
            await self.router.route_stored(events)
            self.stats.routed += len(events)
        self.stats.position = self.router.state.positions.last_seq
