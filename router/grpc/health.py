"""The standard gRPC services beside the router's own, on the leader's port and a standby's:
health checking (``grpc.health.v1.Health``) and server reflection (``grpc.reflection.v1`` and
``v1alpha``), grpclib's implementations. Both are open (router.control.policy): a load balancer
or ``grpcurl`` asks them without a token. Being open, their long-lived calls (a health Watch, a
reflection stream) are bounded: ``MOST_OPEN_PER_SOURCE`` at once from one address and
``MOST_OPEN`` in all; past either a new one ends at once with RESOURCE_EXHAUSTED. Unary Checks
are not counted: they end by themselves.

Health answers for the whole server (service ``""``) and for each ``router.v1`` service:
SERVING while this router leads, NOT_SERVING while it stands by or drains on its way down, so
a load balancer's gRPC health check sends calls to the leader only. Reflection lists the
``router.v1`` services and health, and describes them from the generated code's descriptors.
"""

from __future__ import annotations

import collections
from collections.abc import Awaitable, Callable
from typing import Any

from grpclib.const import Handler, Status
from grpclib.exceptions import GRPCError
from grpclib.health.check import CheckBase, ServiceStatus
from grpclib.health.service import OVERALL, Health
from grpclib.reflection.service import ServerReflection

from router._proto.router.v1 import router_pb2 as pb
from router.grpc.metadata import peer_host

ROUTER_SERVICES = tuple(service.full_name for service in pb.DESCRIPTOR.services_by_name.values())
HEALTH = "grpc.health.v1.Health"
MOST_OPEN_PER_SOURCE = 8  # open health Watch / reflection streams from one address at once
MOST_OPEN = 256  # in all


class OpenStreams:
    """The long-lived calls of the open services under way, by source address, and their bounds."""

    def __init__(self, per_source: int = MOST_OPEN_PER_SOURCE, most: int = MOST_OPEN) -> None:
        self.per_source, self.most = per_source, most
        self.by_source: collections.Counter[str] = collections.Counter()

    def bounded(self, func: Callable[[Any], Awaitable[None]]) -> Callable[[Any], Awaitable[None]]:
        """``func`` (a streaming handler) refused past the bounds, counted while it runs."""

        async def handle(stream: Any) -> None:
            source = peer_host(stream.peer)
            if self.by_source[source] >= self.per_source or self.total() >= self.most:
                raise GRPCError(
                    Status.RESOURCE_EXHAUSTED,
                    f"open streams: at most {self.per_source} health watches and reflection"
                    f" streams from one address, {self.most} in all; close one first",
                )
            self.by_source[source] += 1
            try:
                await func(stream)
            finally:
                self.by_source[source] -= 1
                if not self.by_source[source]:
                    del self.by_source[source]

        return handle

    def total(self) -> int:
        return sum(self.by_source.values())


class _Bounded:
    """A service served as it is, but its streaming calls bounded by ``streams``."""

    def __init__(self, service: Any, streams: OpenStreams) -> None:
        self._service, self._streams = service, streams

    def __mapping__(self) -> dict[str, Handler]:
        mapping: dict[str, Handler] = self._service.__mapping__()
        return {
            path: handler
            if handler.cardinality.value == (False, False)
            else handler._replace(func=self._streams.bounded(handler.func))
            for path, handler in mapping.items()
        }


class _Named:
    """A service known by its name only, as grpclib's Health and ServerReflection read one (the
    standby serves every router.v1 service from one object, so names are given, not read)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __mapping__(self) -> dict[str, Any]:
        return {f"/{self.name}/": None}


def health_and_reflection(serving: bool) -> tuple[list[Any], ServiceStatus]:
    """The services to serve beside the router's, and the status their health answers with
    (``set`` it on the server's loop to change what Check and Watch say)."""
    status = ServiceStatus()
    status.set(serving)
    checks: dict[Any, list[CheckBase]] = {OVERALL: [status]}
    checks.update({_Named(name): [status] for name in ROUTER_SERVICES})
    health = Health(checks)
    listed = [_Named(name) for name in (*ROUTER_SERVICES, HEALTH)]
    reflection = ServerReflection.extend(listed)[len(listed) :]  # v1 and v1alpha
    streams = OpenStreams()
    return [_Bounded(service, streams) for service in (health, *reflection)], status
