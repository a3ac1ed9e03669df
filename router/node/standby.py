"""What a standby router serves while another leads (storage.leadership): the same ports, every
call refused as UNAVAILABLE with the leader's address, so that clients given a list of routers
find the leader, and a load balancer's ``/readyz`` sends nobody here.

- gRPC: every method of every router.v1 service answers UNAVAILABLE, its message naming the
  leader's address, which is also in the trailer ``router-leader``; health checking answers
  NOT_SERVING and reflection describes the services (router.grpc.health).
- HTTP: ``/healthz`` 200 (the process is alive), ``/readyz`` 503, anything else 503 with the
  leader's HTTP address in the header ``router-leader`` and in the JSON body.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import attrs
import trio
from grpclib.const import Cardinality, Handler, Status
from grpclib.encoding.proto import ProtoCodec
from grpclib.server import Server, Stream

from router._proto.router.v1 import router_pb2 as pb
from router.bridge import AsyncioThread
from router.core.settings import Settings
from router.grpc.connections import ConnectionLimits
from router.grpc.health import health_and_reflection
from router.grpc.server import ClosingServer, bound_port, close_server

log = logging.getLogger("router.node.standby")
LEADER_HEADER = "router-leader"


@attrs.define
class LeaderHint:
    """Where the leader is, as this standby last read it ("" while nobody leads)."""

    grpc_address: str = ""
    http_address: str = ""
    epoch: int = 0

    def message(self, address: str) -> str:
        if not address:
            return "standby: this router stands by and no router leads yet; try again shortly"
        return f"standby: this router stands by; the leader (epoch {self.epoch}) is at {address}"


def _refusal(hint: LeaderHint) -> Any:
    async def refuse(stream: Stream[Any, Any]) -> None:
        metadata = {LEADER_HEADER: hint.grpc_address} if hint.grpc_address else None
        await stream.send_trailing_metadata(
            status=Status.UNAVAILABLE,
            status_message=hint.message(hint.grpc_address),
            metadata=metadata,
        )

    return refuse


class _Refusing:
    """Every method of the router's services (read from the proto), each refused."""

    def __init__(self, hint: LeaderHint) -> None:
        self._hint = hint

    def __mapping__(self) -> dict[str, Handler]:
        refuse = _refusal(self._hint)
        handlers = {}
        for service in pb.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                cardinality = Cardinality(
                    (method.client_streaming, method.server_streaming)  # type: ignore[call-arg]
                )
                handlers[f"/{service.full_name}/{method.name}"] = Handler(
                    refuse,
                    cardinality,
                    getattr(pb, method.input_type.name),
                    getattr(pb, method.output_type.name),
                )
        return handlers


async def serve_standby_grpc(
    bridge: AsyncioThread,
    hint: LeaderHint,
    settings: Settings,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    host, port = settings.grpc_host_port()

    async def start() -> Server:
        standard, _ = health_and_reflection(serving=False)
        server = ClosingServer(
            [_Refusing(hint), *standard], codec=ProtoCodec(), limits=ConnectionLimits.of(settings)
        )
        await server.start(host, port, ssl=settings.server_ssl())
        return server

    server = await bridge.call(start)
    task_status.started(bound_port(server, port))
    try:
        await trio.sleep_forever()
    finally:
        with trio.CancelScope(shield=True):
            await bridge.call(close_server, server)


async def serve_standby_http(
    hint: LeaderHint,
    settings: Settings,
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    from hypercorn.config import Config
    from hypercorn.trio import serve as hypercorn_serve

    http = settings.http_host_port()
    assert http is not None
    config = Config()
    config.bind = [f"{http[0]}:{http[1]}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")  # through the router's handlers, once
    config.graceful_timeout = 1.0
    if settings.tls_cert and settings.tls_key:
        config.certfile = settings.tls_cert
        config.keyfile = settings.tls_key

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":  # nothing to start or stop; say so to hypercorn
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path = scope["path"]
        headers = [(b"content-type", b"application/json")]
        if path == "/healthz":
            status, body = 200, {"status": "ok", "leading": False}
        else:
            status = 503
            body = {"status": "standby", "leader": hint.http_address, "epoch": hint.epoch}
            if path != "/readyz":
                body["error"] = hint.message(hint.http_address)
            if hint.http_address:
                headers.append((LEADER_HEADER.encode(), hint.http_address.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})

    await hypercorn_serve(app, config, task_status=task_status)  # type: ignore[arg-type]
