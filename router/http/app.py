"""The REST API: an ASGI app (Starlette) served on Trio by hypercorn, calling the Router directly.

    POST /v1/events                                             publish a JSON batch (publisher)
    GET  /v1/exchanges/{exchange}/subscribers/{name}/events     long-poll pull (consumer)
    POST /v1/exchanges/{exchange}/subscribers/{name}/ack        cumulative ack (consumer)
    POST /v1/exchanges/{exchange}/subscribers/{name}/settle     per-event ack, nack, park (consumer)
    GET  /v1/exchanges/{exchange}/subscribers/{name}            describe, with settings (admin)
    PATCH /v1/exchanges/{exchange}/subscribers/{name}/settings  change settings (admin)
    GET  /v1/exchanges/{exchange}/subscribers/{name}/parked     the parked list (admin)
    POST /v1/exchanges/{exchange}/subscribers/{name}/parked/redrive|discard           (admin)
    GET  /v1/stats                                              exchanges, queues, subscribers (admin)
    GET  /v1/audit?since_us=&max=                               the audit trail of admin changes (admin)
    GET  /v1/types, /v1/types/{pattern}?version=                event types and schemas (any user)
    PUT, DELETE /v1/types/{pattern}                             register a version, forget (admin)
    GET  /, /page.js, /page.css                                 the monitoring page
    GET  /asyncapi.json (any user), /asyncapi, /asyncapi.js     the router as AsyncAPI 3.0, rendered
    GET  /healthz, /readyz, /openapi.json                       no token needed

Every response carries the headers of SECURITY_HEADERS: a Content-Security-Policy that allows
the page's own script and style files and nothing inline, no framing, no type sniffing, no
referrer.

Errors are ``{"error": {"code": ..., "message": ...}}`` with the HTTP status of the RouterError;
the message names the field. Each endpoint is declared once (router.http.declare), next to its
handler in the module of its group (events, subscribers, exchanges, users, types, ops); its
access and audit action are router.control.policy's row for its route, and the OpenAPI document is
written from the same declarations (router.http.openapi). Bodies are read by :mod:`router.http.bodies`: over
``MAX_BODY_BYTES`` they get 413 before they are read whole; a field a route does not take, or JSON
the router could not write back (NaN, huge numbers, deep nesting), gets 400 naming it. A failure
of the router's own is a 500 with a JSON error, and carries the security headers like any other.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from router.app import Router
from router.http.bodies import JSONResponse
from router.http.declare import error_response
from router.http.openapi import document
from router.http.routes import routes
from router.observe.metrics import Rates, registry

__all__ = ["SECURITY_HEADERS", "SecurityHeaders", "error_response", "make_app"]
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self';"
        b" img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


class SecurityHeaders:
    """ASGI middleware adding SECURITY_HEADERS to every HTTP response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


def make_app(router: Router, rates: Rates | None = None) -> SecurityHeaders:
    """The ASGI app over ``router``; ``rates`` (kept by the sampler ``serve_http`` runs) feed
    the page's and ``/v1/stats``'s rates, all zero without them. The handlers find the router,
    the rates, the metrics' exposition and the OpenAPI document in the app's state. The security
    headers wrap the whole app, so that even a 500 of Starlette's error middleware carries them."""
    app = Starlette(
        routes=routes(),
        exception_handlers={404: not_found, 405: not_allowed, 500: failed},
    )
    app.state.router = router
    app.state.rates = rates if rates is not None else Rates()
    app.state.exposition = registry(router.stats, router.settings.metrics_subscribers)
    app.state.openapi = document()
    return SecurityHeaders(app)


async def not_found(request: Request, exc: Exception) -> Response:
    return JSONResponse(
        {"error": {"code": "NOT_FOUND", "message": f"path: no endpoint {request.url.path}"}},
        status_code=404,
    )


async def failed(request: Request, exc: Exception) -> Response:
    """A failure of the router's own: a JSON error that says nothing of its insides (the
    traceback goes to the log, where Starlette sends it)."""
    return JSONResponse(
        {"error": {"code": "INTERNAL", "message": "the router failed on this request"}},
        status_code=500,
    )


async def not_allowed(request: Request, exc: Exception) -> Response:
    return JSONResponse(
        {
            "error": {
                "code": "METHOD_NOT_ALLOWED",
                "message": f"method: {request.method} is not served on {request.url.path}",
            }
        },
        status_code=405,
        headers=dict(getattr(exc, "headers", None) or {}),  # Starlette's 405 carries Allow
    )
