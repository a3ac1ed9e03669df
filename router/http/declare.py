"""One REST operation, declared once: its route, its handler, and what the OpenAPI document says
of it. Its access and audit action are the row router.control.policy has for its route; :func:`guarded`
puts the handler behind them, and router.http.openapi writes the document from the same
declarations (docs/adr/0022), so a route and its document cannot disagree.

Handlers live at module level (one module per group: events, subscribers, exchanges, users,
types, ops) and find the router in ``request.app.state.router``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs
from starlette.requests import Request
from starlette.responses import Response

from router.app import Router
from router.control import policy
from router.control.quotas import QuotaExceeded
from router.control.tethers import within
from router.core.errors import RouterError, Unauthenticated
from router.core.model import Access
from router.http.bodies import JSONResponse
from router.http.schemas import CREATE, OBJECT, ok

Handler = Callable[[Request], Awaitable[Response]]
Target = Callable[[Request, str], str]  # an audited change's target, from its request and body


def by_path(request: Request, body: str) -> str:
    """An audit target from the path: the user's name, or exchange/subscriber."""
    return "/".join(str(v) for v in request.path_params.values())


def by_body_name(request: Request, body: str) -> str:
    """An audit target from the request's JSON ``name`` (the handler has checked it)."""
    found = json.loads(body) if body else {}
    return str(found.get("name", "")) if isinstance(found, dict) else ""


@attrs.frozen
class Endpoint:
    """A route: ``verb`` on ``path`` runs ``handler``. ``summary``, ``parameters``, ``body``
    (the request body's JSON Schema), ``responses`` (the answers other than errors) and
    ``errors`` (the statuses of the documented error answers) make its OpenAPI operation; an
    endpoint not ``documented`` is served but left out of the document. A ``lasting`` call (a
    long-poll) ends as soon as its token or grant goes (router.control.tethers); ``target`` names an
    audited change's target."""

    verb: str
    path: str
    handler: Handler
    summary: str
    responses: dict[str, Any]
    errors: tuple[int, ...] = ()
    parameters: Sequence[dict[str, Any]] = ()
    body: dict[str, Any] | None = None
    lasting: bool = False
    target: Target = by_path
    documented: bool = True

    @property
    def operation(self) -> policy.Operation:
        return policy.rest(self.verb, self.path)


def creating(
    path: str, handler: Handler, summary: str, made: str, body: dict[str, Any]
) -> Endpoint:
    """A POST on ``path`` that makes a thing named by the body's ``name`` (its audit target),
    answering with it (``made``)."""
    return Endpoint(
        "POST", path, handler, summary, ok(OBJECT, made), CREATE, body=body, target=by_body_name
    )


def router_of(request: Request) -> Router:
    router: Router = request.app.state.router
    return router


def error_response(error: RouterError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if error.http_status == 401 else None
    if isinstance(error, QuotaExceeded) and error.retry_after_s is not None:
        headers = {"Retry-After": str(max(1, math.ceil(error.retry_after_s)))}
    return JSONResponse(
        {"error": {"code": error.grpc_status, "message": str(error)}},
        status_code=error.http_status,
        headers=headers,
    )


def guarded(declared: Endpoint) -> Handler:
    """The endpoint's handler behind the token check its policy row names: the caller needs
    that access on the exchange the path names (for consume and manage), or, when the target
    is in the body, any grant of it (the handler checks the rest with ``request.state.user``);
    for the event types' contracts any user's token; for the open routes none. A change's
    audit action goes into the audit trail once it has succeeded."""
    row = declared.operation
    needed = row.rule if isinstance(row.rule, Access) else None
    on_path = needed in (Access.CONSUME, Access.MANAGE) and "{exchange}" in declared.path
    handler = declared.handler

    async def endpoint(request: Request) -> Response:
        router = router_of(request)
        source = request.client.host if request.client else "unknown"
        found = None
        try:
            user = None
            named = str(request.path_params["exchange"]) if on_path else ""
            header = request.headers.get("authorization")
            if needed is not None:
                found = router.auth.authorize(header, needed, named)
                user = found[0] if found is not None else None
            elif row.rule == policy.ANY_USER:
                signed = router.auth.authenticate(header)
                user = signed[0] if signed is not None else None
            request.state.user = user
            if declared.lasting and needed is not None and found is not None:
                tethers, needs = router.auth.tethers, ((needed, named),)
                name, token_id = found[0].name, found[1].id
                response = await within(tethers, name, token_id, needs, lambda: handler(request))
            else:
                response = await handler(request)
            if row.audit and response.status_code < 300:
                detail = getattr(request.state, "body", b"").decode("utf-8", "replace")
                name = user.name if user else ""
                target = declared.target(request, detail)
                await router.audit.record(name, row.audit, target, source, detail)
            return response
        except RouterError as error:
            if isinstance(error, Unauthenticated) and found is None:  # not a revocation
                router.audit.failed(source, str(error))
            return error_response(error)

    return endpoint


def dispatch(declared: Sequence[Endpoint]) -> Handler:
    """One handler for the endpoints of one path, chosen by the request's method (HEAD as GET)."""
    handlers = {e.verb: guarded(e) for e in declared}

    async def endpoint(request: Request) -> Response:
        verb = "GET" if request.method == "HEAD" else request.method
        return await handlers[verb](request)

    return endpoint
