"""The standard gRPC services beside the router's own, on the leader's port and a standby's:
health checking (``grpc.health.v1.Health``) and server reflection (``grpc.reflection.v1`` and
``v1alpha``), grpclib's implementations. Both are open (router.control.policy): a load balancer
or ``grpcurl`` asks them without a token.

Health answers for the whole server (service ``""``) and for each ``router.v1`` service:
SERVING while this router leads, NOT_SERVING while it stands by or drains on its way down, so
a load balancer's gRPC health check sends calls to the leader only. Reflection lists the
``router.v1`` services and health, and describes them from the generated code's descriptors.
"""

from __future__ import annotations

from typing import Any

from grpclib.health.check import CheckBase, ServiceStatus
from grpclib.health.service import OVERALL, Health
from grpclib.reflection.service import ServerReflection

from router._proto.router.v1 import router_pb2 as pb

ROUTER_SERVICES = tuple(service.full_name for service in pb.DESCRIPTOR.services_by_name.values())
HEALTH = "grpc.health.v1.Health"


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
    return [health, *reflection], status
