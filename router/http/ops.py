"""Running the router over REST: the audit trail, Prometheus metrics, health and readiness, the
monitoring page and the AsyncAPI page (three files each, no build step, served by the router),
and the OpenAPI document."""

from __future__ import annotations

from importlib import resources

import attrs
from prometheus_client import generate_latest
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from router.control.audit import MAX_LISTED
from router.core.errors import InvalidArgument, NotFound
from router.http.bodies import JSONResponse
from router.http.declare import Endpoint, Handler, router_of
from router.http.params import integer
from router.http.schemas import OBJECT, answer, ok, query, text, typed

PAGE, PAGE_JS, PAGE_CSS, ASYNCAPI_PAGE, ASYNCAPI_JS = (
    resources.files("router.http").joinpath(name).read_text()
    for name in ("page.html", "page.js", "page.css", "asyncapi.html", "asyncapi.js")
)


async def audit(request: Request) -> Response:
    params = request.query_params
    for name in params:
        if name not in ("since_us", "max"):
            raise InvalidArgument(f"{name[:40]}: not a parameter here (since_us, max)")
    since = integer(params.get("since_us", "0"), "since_us", 0, 1 << 62)
    most = integer(params.get("max", "1000"), "max", 1, MAX_LISTED)
    entries = await router_of(request).audit.entries(since, most)
    return JSONResponse({"entries": [attrs.asdict(e) for e in entries]})


async def metrics(request: Request) -> Response:
    if not router_of(request).settings.metrics:
        raise NotFound("path: metrics are off (router serve --metrics off)")
    exposition = request.app.state.exposition
    return Response(
        generate_latest(exposition), media_type="text/plain; version=0.0.4; charset=utf-8"
    )


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    state = router_of(request).state
    reason = ""
    if state.stale:
        reason = "the last write to storage failed"
    elif state.trim_failing:
        reason = f"removing old events fails: {state.trim_failing}"
    if reason:
        return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
    return JSONResponse({"status": "ready"})


async def openapi(request: Request) -> Response:
    return JSONResponse(request.app.state.openapi)


async def asyncapi_json(request: Request) -> Response:
    return JSONResponse(router_of(request).asyncapi(request.state.user))


def serving(content: str, media_type: str) -> Handler:
    async def serve(request: Request) -> Response:
        if media_type == "text/html":
            return HTMLResponse(content)
        return Response(content, media_type=media_type)

    return serve


AUDIT_ENTRIES = {
    "type": "object",
    "required": ["entries"],
    "properties": {
        "entries": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    **typed("integer", "at"),
                    **typed("string", "user", "action", "target", "source", "detail"),
                },
            },
        }
    },
}
SINCE = {"type": "integer", "minimum": 0, "maximum": 1 << 62, "default": 0}
ENDPOINTS = [
    Endpoint(
        "GET",
        "/v1/audit",
        audit,
        "The audit trail of admin changes, oldest first (admin)",
        ok(AUDIT_ENTRIES, "who changed what, when and from where"),
        (400, 401, 403),
        [
            query("since_us", SINCE, "microseconds since the epoch; entries at or after"),
            query("max", {"type": "integer", "minimum": 1, "maximum": 10000, "default": 1000}),
        ],
    ),
    Endpoint(
        "GET",
        "/metrics",
        metrics,
        "Prometheus text exposition: counters and gauges by exchange, queue and subscriber (admin)",
        text("text/plain", "the metrics"),
        (401, 403, 404),
    ),
    Endpoint(
        "GET",
        "/asyncapi.json",
        asyncapi_json,
        "This router as an AsyncAPI 3.0 document (any user: every event type, and the"
        " exchanges it may consume or monitor); /asyncapi renders it",
        ok(OBJECT, "the document"),
        (401,),
    ),
    Endpoint(
        "GET",
        "/",
        serving(PAGE, "text/html"),
        "The monitoring page (it asks for an admin token itself)",
        text("text/html", "the page"),
    ),
    Endpoint("GET", "/healthz", healthz, "The process answers", ok(OBJECT, "alive")),
    Endpoint(
        "GET",
        "/readyz",
        readyz,
        "The store answered the last write",
        {**ok(OBJECT, "ready"), "503": answer(OBJECT, "storage is failing")},
    ),
    *(
        Endpoint("GET", path, serving(content, kind), "", {}, documented=False)
        for path, content, kind in (
            ("/page.js", PAGE_JS, "text/javascript"),
            ("/page.css", PAGE_CSS, "text/css"),
            ("/asyncapi", ASYNCAPI_PAGE, "text/html"),
            ("/asyncapi.js", ASYNCAPI_JS, "text/javascript"),
        )
    ),
    Endpoint("GET", "/openapi.json", openapi, "", {}, documented=False),
]
