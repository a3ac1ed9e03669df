"""The asyncio client: every call of the router's gRPC services, for programs.

    async with RouterClient("127.0.0.1:50051") as client:       # token: ROUTER_TOKEN or token=
        await client.create_exchange("orders", ["order.*"])
        receipts = await client.publish([OutgoingEvent("order.created", b'{"id": 1}')])

Errors arrive as ``grpclib.exceptions.GRPCError`` with the server's status and message.

The calls are grouped by job, each group in its own module: the connection, its failover and
keepalive (router.client.connection), publishing (router.client.publishing), the stored log
(router.client.history), subscribing (router.client.subscribing), and the admin calls
(router.client.admin).
"""

from __future__ import annotations

import ssl
from typing import Any

from router.client.admin import AdminCalls
from router.client.connection import (
    BACKOFF_MAX_S,
    CALL_ERRORS,
    FAILOVER_S,
    KEEPALIVE_S,
    KEEPALIVE_TIMEOUT_S,
    Connection,
    client_ssl,
    next_address,
)
from router.client.history import HistoryCalls
from router.client.publishing import PublishCalls
from router.client.subscribing import SubscribeCalls
from router.client.tracing import ClientTracing
from router.client.values import start_point

__all__ = [
    "BACKOFF_MAX_S",
    "CALL_ERRORS",
    "FAILOVER_S",
    "KEEPALIVE_S",
    "KEEPALIVE_TIMEOUT_S",
    "RouterClient",
    "client_ssl",
    "next_address",
    "start_point",
]


class RouterClient(PublishCalls, HistoryCalls, SubscribeCalls, AdminCalls):
    """A connection to a router (one HTTP/2 channel) and every call it serves.

    async with RouterClient("127.0.0.1:50051", token=...) as client:
        (receipt,) = await client.publish([OutgoingEvent("order.created", b"{}")])
        async with client.consume("orders", "billing") as events: ...
    """

    def __init__(
        self,
        address: str = "127.0.0.1:50051",
        token: str | None = None,
        tls: bool | str | ssl.SSLContext | None = None,
        failover_s: float = FAILOVER_S,
        tracer_provider: Any = None,
        keepalive_s: float = KEEPALIVE_S,
        keepalive_timeout_s: float = KEEPALIVE_TIMEOUT_S,
    ) -> None:
        """``address`` is HOST:PORT, or several (``h1:50051,h2:50051``: routers of which one
        leads, the others standing by). ``token`` (default: ROUTER_TOKEN) goes with every call.
        ``tls``: True (the system's CAs), a CA file's path, or a context; default:
        ROUTER_TLS_CA if set, else plain TCP.

        Every call follows the list, streams included: a call refused by a standby goes at once
        to the leader it names; with several addresses, a call that finds no router (or one
        that cannot serve it now) is tried on the next, for up to ``failover_s`` seconds, long
        enough for a standby to take over. Publishing again is safe: an event id already stored
        is acked as a duplicate, not stored twice. While a call is open, an HTTP/2 ping goes
        out every ``keepalive_s``; one unanswered for ``keepalive_timeout_s`` (a frozen router,
        a cut-off machine) ends the connection, and its calls go on to the next router.

        With OpenTelemetry (``tracer_provider``, or a global one set), publishes run in spans
        whose trace context goes with the events (router.client.tracing)."""
        self._connection = Connection(
            address, token, tls, failover_s, keepalive_s, keepalive_timeout_s
        )
        self.tracing = ClientTracing(tracer_provider)

    @property
    def addresses(self) -> list[str]:
        """The routers of the list, in the order calls go round it."""
        return self._connection.addresses

    @property
    def address(self) -> str:
        """The router the next call goes to."""
        return self._connection.address

    @property
    def failover_s(self) -> float:
        """How long a call goes round the list while a router takes over."""
        return self._connection.failover_s

    @failover_s.setter
    def failover_s(self, seconds: float) -> None:
        self._connection.failover_s = seconds

    async def __aenter__(self) -> RouterClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._connection.close()
