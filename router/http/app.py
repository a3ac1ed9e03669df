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
the message names the field. Bodies are read by :mod:`router.http.bodies`: over
``MAX_BODY_BYTES`` they get 413 before they are read whole; a field a route does not take, or JSON
the router could not write back (NaN, huge numbers, deep nesting), gets 400 naming it. A failure
of the router's own is a 500 with a JSON error, and carries the security headers like any other.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from typing import Any

import attrs
from prometheus_client import generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from actors.messages import Gap
from actors.queue import SubscriberView
from router import permissions, reach, validation
from router.app import Router
from router.audit import MAX_LISTED
from router.consumers import ParkedEvent
from router.errors import InvalidArgument, NotFound, RouterError, Unauthenticated
from router.http.bodies import JSONResponse, event_json, json_body, new_event, only
from router.http.openapi import document
from router.metrics import Rates, registry
from router.model import (
    Access,
    Delivery,
    Grant,
    TypeSchema,
    UserRecord,
)
from router.quotas import QuotaExceeded, quotas
from router.tethers import within
from router.tracing import carrier_of

log = logging.getLogger(__name__)
# The monitoring page: three files, no build step, served by the router (it asks for the token).
PAGE, PAGE_JS, PAGE_CSS, ASYNCAPI_PAGE, ASYNCAPI_JS = (
    resources.files("router.http").joinpath(name).read_text()
    for name in ("page.html", "page.js", "page.css", "asyncapi.html", "asyncapi.js")
)
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
QUOTA_FIELDS = ("events_per_s", "bytes_per_s", "streams", "subscribers")
MAX_PULL = 10_000
MAX_WAIT_S = 60.0
Handler = Callable[[Request], Awaitable[Response]]
Target = Callable[[Request, str], str]  # an audited change's target, from its request and body


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


def error_response(error: RouterError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if error.http_status == 401 else None
    if isinstance(error, QuotaExceeded) and error.retry_after_s is not None:
        headers = {"Retry-After": str(max(1, math.ceil(error.retry_after_s)))}
    return JSONResponse(
        {"error": {"code": error.grpc_status, "message": str(error)}},
        status_code=error.http_status,
        headers=headers,
    )


def make_app(router: Router, rates: Rates | None = None) -> SecurityHeaders:
    """The ASGI app over ``router``; ``rates`` (kept by the sampler ``serve_http`` runs) feed
    the page's and ``/v1/stats``'s rates, all zero without them. The security headers wrap
    the whole app, so that even a 500 of Starlette's error middleware carries them."""
    rates = rates if rates is not None else Rates()

    def guarded(
        needed: Access | None,
        handler: Handler,
        audited: tuple[str, Target] | None = None,
        on: Callable[[Request], str] | None = None,
        lasting: bool = False,
    ) -> Handler:
        """``handler`` behind the token check: the caller needs ``needed`` on the exchange the
        path names (``on``), or, when the target is in the body, any grant of it (the handler
        checks the rest with ``request.state.user``). A change names its ``audited`` action
        and how to name its target, and goes into the audit trail once it has succeeded. A
        ``lasting`` call (a long-poll) ends as soon as its token or grant goes (router.tethers)."""

        async def endpoint(request: Request) -> Response:
            source = request.client.host if request.client else "unknown"
            found = None
            try:
                user = None
                named = on(request) if on else ""
                if needed is not None:
                    header = request.headers.get("authorization")
                    found = router.auth.authorize(header, needed, named)
                    user = found[0] if found is not None else None
                request.state.user = user
                if lasting and needed is not None and found is not None:
                    tethers, needs = router.auth.tethers, ((needed, named),)
                    name, token_id = found[0].name, found[1].id
                    response = await within(
                        tethers, name, token_id, needs, lambda: handler(request)
                    )
                else:
                    response = await handler(request)
                if audited is not None and request.method != "GET" and response.status_code < 300:
                    action, target = audited
                    detail = getattr(request.state, "body", b"").decode("utf-8", "replace")
                    name = user.name if user else ""
                    await router.audit.record(name, action, target(request, detail), source, detail)
                return response
            except RouterError as error:
                if isinstance(error, Unauthenticated) and found is None:  # not a revocation
                    router.audit.failed(source, str(error))
                return error_response(error)

        return endpoint

    async def audit(request: Request) -> Response:
        query = request.query_params
        for name in query:
            if name not in ("since_us", "max"):
                raise InvalidArgument(f"{name[:40]}: not a parameter here (since_us, max)")
        since = integer(query.get("since_us", "0"), "since_us", 0, 1 << 62)
        most = integer(query.get("max", "1000"), "max", 1, MAX_LISTED)
        entries = await router.audit.entries(since, most)
        return JSONResponse({"entries": [attrs.asdict(e) for e in entries]})

    async def publish(request: Request) -> Response:
        body = await json_body(request)
        events = body.get("events") if isinstance(body, dict) else None
        if not isinstance(events, list):
            raise InvalidArgument('events: expected {"events": [...]}')
        only(body, ("events",))
        validation.batch_size(len(events), router.settings)
        checked = [new_event(i, e, router.settings) for i, e in enumerate(events)]
        router.auth.permit_types(request.state.user, [e.type for e in checked])
        over = router.auth.charge(request.state.user, checked)
        if over is not None:
            raise over
        carrier = carrier_of(request.headers.items()) if router.tracing else None
        acks = await router.publish(checked, carrier, request.state.user)
        return JSONResponse(
            {
                "acks": [
                    {
                        "id": a.id,
                        "seq": a.seq,
                        "duplicate": a.duplicate,
                        "offsets": dict(a.offsets),
                    }
                    for a in acks
                ]
            }
        )

    async def pull(request: Request) -> Response:
        exchange, name = request.path_params["exchange"], request.path_params["name"]
        query = request.query_params
        most = integer(query.get("max", "100"), "max", 1, MAX_PULL)
        wait = number(query.get("wait", "0"), "wait", 0.0, MAX_WAIT_S)
        limit_size = integer(query.get("limit_size", "0"), "limit_size", 0, 1 << 31)
        start = validation.start_point(query.get("from", "stored"))
        source = f"http {request.client.host}" if request.client else "http"
        subscription, deliveries, counts = await router.pull(
            exchange, name, start, most, wait, limit_size, request.state.user, source
        )
        return JSONResponse(
            {
                "exchange": exchange,
                "subscriber": name,
                "start_offset": subscription.start_offset,
                "head_offset": max(subscription.head, deliveries[-1].offset if deliveries else 0),
                "events": [delivery_json(d, n) for d, n in zip(deliveries, counts, strict=True)],
                **gap_json(subscription.gaps),
            }
        )

    async def settle(request: Request) -> Response:
        exchange, name = request.path_params["exchange"], request.path_params["name"]
        body = await json_body(request)
        if not isinstance(body, dict) or not body.keys() & {"ack", "nack", "park"}:
            raise InvalidArgument('body: expected {"ack": [...], "nack": [...], "park": [...]}')
        only(body, ("ack", "nack", "park"))
        acks = [ack_range(item, f"ack[{i}]") for i, item in enumerate(listed(body, "ack"))]
        nacks = [nack_item(item, f"nack[{i}]") for i, item in enumerate(listed(body, "nack"))]
        parks = [park_item(item, f"park[{i}]") for i, item in enumerate(listed(body, "park"))]
        limit_size = integer(request.query_params.get("limit_size", "0"), "limit_size", 0, 1 << 31)
        done = await router.settle_sleeping(
            exchange, name, acks, nacks, parks, limit_size, request.state.user
        )
        return JSONResponse(
            {
                "exchange": exchange,
                "subscriber": name,
                "acked_offset": done.acked_offset,
                "acked": list(done.acked),
                "nacked": [{"offset": o, "due_at_us": at} for o, at in done.nacked],
                "parked": list(done.parked),
            }
        )

    async def describe_subscriber(request: Request) -> Response:
        exchange, name = request.path_params["exchange"], request.path_params["name"]
        limit_size = integer(request.query_params.get("limit_size", "0"), "limit_size", 0, 1 << 31)
        return JSONResponse(subscriber_json(router.describe_subscriber(exchange, name, limit_size)))

    async def change_settings(request: Request) -> Response:
        exchange, name = request.path_params["exchange"], request.path_params["name"]
        body = await json_body(request)
        if not isinstance(body, dict) or not body:
            raise InvalidArgument('settings: expected an object such as {"ack_wait_s": 10}')
        limit_size = integer(request.query_params.get("limit_size", "0"), "limit_size", 0, 1 << 31)
        view = await router.set_subscriber_settings(exchange, name, body, limit_size)
        return JSONResponse(subscriber_json(view))

    async def parked(request: Request) -> Response:
        exchange, name = request.path_params["exchange"], request.path_params["name"]
        query = request.query_params
        after = integer(query.get("after", "0"), "after", 0, 1 << 62)
        most = integer(query.get("max", "1000"), "max", 1, MAX_PULL)
        limit_size = integer(query.get("limit_size", "0"), "limit_size", 0, 1 << 31)
        wait = number(query.get("wait", "0"), "wait", 0.0, MAX_WAIT_S)
        found, total = await router.list_parked(exchange, name, after, most, limit_size, wait)
        payloads = reach.sees_payloads(request.state.user, exchange)
        return JSONResponse(
            {
                "exchange": exchange,
                "subscriber": name,
                "total": total,
                "parked": [parked_json(p, d, payloads) for p, d in found],
            }
        )

    def change_parked(redrive: bool) -> Handler:
        async def change(request: Request) -> Response:
            exchange, name = request.path_params["exchange"], request.path_params["name"]
            body = await json_body(request)
            if not isinstance(body, dict):
                raise InvalidArgument('body: expected {"offsets": [...]} or {"all": true}')
            only(body, ("offsets", "all"))
            offsets = body.get("offsets")
            every = body.get("all", False)
            if not isinstance(every, bool):
                raise InvalidArgument("all: expected true or false")
            if every == (offsets is not None):
                raise InvalidArgument('offsets: give {"offsets": [...]} or {"all": true}, one')
            if offsets is not None and (
                not isinstance(offsets, list) or not offsets or not all(whole(o) for o in offsets)
            ):
                raise InvalidArgument("offsets: expected a non-empty list of integers")
            limit_size = integer(
                request.query_params.get("limit_size", "0"), "limit_size", 0, 1 << 31
            )
            changed = await router.change_parked(exchange, name, offsets, redrive, limit_size)
            verb = "redriven" if redrive else "discarded"
            return JSONResponse({"exchange": exchange, "subscriber": name, verb: changed})

        return change

    async def ack(request: Request) -> Response:
        exchange, name = request.path_params["exchange"], request.path_params["name"]
        body = await json_body(request)
        offset = body.get("offset") if isinstance(body, dict) else None
        if not isinstance(offset, int) or isinstance(offset, bool):
            raise InvalidArgument('offset: expected {"offset": <integer>}')
        only(body, ("offset",))
        limit_size = integer(request.query_params.get("limit_size", "0"), "limit_size", 0, 1 << 31)
        acked = await router.ack_sleeping(exchange, name, offset, limit_size, request.state.user)
        return JSONResponse({"exchange": exchange, "subscriber": name, "acked_offset": acked})

    async def stats(request: Request) -> Response:
        stats = router.stats()
        return JSONResponse(
            {
                "rates": {
                    "published_1s": rates.rate("published", 1),
                    "published_1m": rates.rate("published", 60),
                    "published_history": rates.history("published"),
                    "exchanges": {
                        e.name: {
                            "in_1s": rates.rate(f"exchange:{e.name}:in", 1),
                            "in_1m": rates.rate(f"exchange:{e.name}:in", 60),
                            "history": rates.history(f"exchange:{e.name}:in"),
                        }
                        for e, _ in stats.exchanges
                    },
                    "queues": {
                        q.id: {
                            "in_1s": rates.rate(f"queue:{q.id}:in", 1),
                            "out_1s": rates.rate(f"queue:{q.id}:out", 1),
                            "in_1m": rates.rate(f"queue:{q.id}:in", 60),
                            "out_1m": rates.rate(f"queue:{q.id}:out", 60),
                            "history_in": rates.history(f"queue:{q.id}:in"),
                            "history_out": rates.history(f"queue:{q.id}:out"),
                        }
                        for q in stats.queues
                    },
                },
                "at_us": stats.at_us,
                "last_seq": stats.last_seq,
                "first_seq": stats.retention.first_seq if stats.retention else 1,
                "cluster": attrs.asdict(router.cluster) if router.cluster else None,
                "links": stats.links,
                "types": [attrs.asdict(t) for t in stats.types],
                "published": stats.published,
                "exchanges": [
                    {
                        "name": e.name,
                        "patterns": list(e.patterns),
                        "head_offset": e.head,
                        "first_offset": e.first_offset,
                        "events_in": events_in,
                    }
                    for e, events_in in stats.exchanges
                ],
                "queues": [
                    {
                        "id": q.id,
                        "exchange": q.exchange,
                        "limit_size": q.limit_size,
                        "buffered": q.buffered,
                        "fill": q.fill,
                        "head_offset": q.head,
                        "active": q.active,
                        "sleeping": q.sleeping,
                        "events_in": q.events_in,
                        "events_out": q.events_out,
                    }
                    for q in stats.queues
                ],
                "subscribers": [subscriber_json(s) for s in stats.subscribers],
            }
        )

    async def metrics(request: Request) -> Response:
        if not router.settings.metrics:
            raise NotFound("path: metrics are off (router serve --metrics off)")
        return Response(
            generate_latest(exposition), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    async def create_exchange(request: Request) -> Response:
        body = await json_body(request)
        name = body.get("name") if isinstance(body, dict) else None
        patterns = body.get("patterns") if isinstance(body, dict) else None
        if not isinstance(name, str):
            raise InvalidArgument("name: expected a string")
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise InvalidArgument("patterns: expected a list of strings")
        only(body, ("name", "patterns"))
        router.auth.permit(request.state.user, Access.MANAGE, name)
        record = await router.create_exchange(name, patterns, request.state.user)
        return JSONResponse(
            {"name": record.name, "patterns": list(record.patterns), "head_offset": record.head}
        )

    async def list_users(request: Request) -> Response:
        return JSONResponse({"users": [user_json(u) for u, _ in router.auth.list_users()]})

    async def add_user(request: Request) -> Response:
        body = await json_body(request)
        name = body.get("name") if isinstance(body, dict) else None
        role_name = body.get("role") if isinstance(body, dict) else None
        if not isinstance(name, str):
            raise InvalidArgument("name: expected a string")
        if not isinstance(role_name, str):
            raise InvalidArgument("role: expected publisher, consumer or admin")
        only(body, ("name", "role"))
        user, token, text = await router.auth.add_user(name, role_name)
        return JSONResponse(
            {"name": user.name, "role": user.role.value, "token_id": token.id, "token": text}
        )

    async def users(request: Request) -> Response:
        return await (add_user if request.method == "POST" else list_users)(request)

    async def user(request: Request) -> Response:
        name = request.path_params["name"]
        if request.method == "DELETE":
            await router.auth.remove_user(name)
            return JSONResponse({"removed": name})
        return JSONResponse(user_json(router.auth.user(name)))

    def change_grants(give: bool) -> Handler:
        async def change(request: Request) -> Response:
            body = await json_body(request)
            given = body.get("grants") if isinstance(body, dict) else None
            if not isinstance(given, list) or not given:
                raise InvalidArgument(
                    'grants: expected {"grants": [{"action": ..., "pattern": ..., "deny": ...}]}'
                )
            only(body, ("grants",))
            grants = [grant_of(i, g) for i, g in enumerate(given)]
            name = request.path_params["name"]
            changed = await router.auth.change_grants(
                name, grants if give else [], [] if give else grants
            )
            return JSONResponse(user_json(changed))

        return change

    async def set_quotas(request: Request) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise InvalidArgument("quotas: expected an object of limits")
        only(body, QUOTA_FIELDS)
        limits = quotas(**{f"{k}": body[k] for k in body})
        changed = await router.auth.set_quotas(request.path_params["name"], limits)
        return JSONResponse(user_json(changed))

    def user_json(record: UserRecord) -> dict[str, Any]:
        ids = sorted(t.id for t in router.auth.tokens.values() if t.user == record.name)
        return {
            "name": record.name,
            "role": record.role.value,
            "token_ids": ids,
            "grants": [
                {"action": g.access.value, "pattern": g.pattern, "deny": g.deny}
                for g in record.grants
            ],
            "quotas": attrs.asdict(record.quotas),
        }

    def type_json(record: TypeSchema) -> dict[str, Any]:
        counts = router.contracts.counts.get(record.pattern)
        return {
            "pattern": record.pattern,
            "version": record.version,
            "versions": [r.version for r in router.contracts.versions.get(record.pattern, [])],
            "mode": record.mode,
            "description": record.description,
            "owner": record.owner,
            "created_at_us": record.created_at,
            "created_by": record.created_by,
            "schema": json.loads(record.schema),
            "checked": counts.checked if counts else 0,
            "refused": counts.refused if counts else 0,
            "warned": counts.warned if counts else 0,
        }

    def signed_in(request: Request) -> None:
        """Any user's token: the types are every publisher's and consumer's contract."""
        router.auth.authenticate(request.headers.get("authorization"))

    async def list_types(request: Request) -> Response:
        signed_in(request)
        return JSONResponse({"types": [type_json(t) for t in router.list_types()]})

    async def get_type(request: Request) -> Response:
        signed_in(request)
        for name in request.query_params:
            if name != "version":
                raise InvalidArgument(f"{name[:40]}: not a parameter here (version)")
        version = integer(request.query_params.get("version", "0"), "version", 0, 1 << 30)
        return JSONResponse(type_json(router.type_schema(request.path_params["pattern"], version)))

    async def register_type(request: Request) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise InvalidArgument('body: expected {"schema": {...}, "mode": "enforce"}')
        only(body, ("schema", "mode", "description", "owner", "force"))
        if "schema" not in body or not isinstance(body["schema"], dict | bool):
            raise InvalidArgument("schema: expected a JSON Schema (an object or a boolean)")
        texts = {}
        for key in ("mode", "description", "owner"):
            texts[key] = body.get(key, "enforce" if key == "mode" else "")
            if not isinstance(texts[key], str):
                raise InvalidArgument(f"{key}: expected a string")
        force = body.get("force", False)
        if not isinstance(force, bool):
            raise InvalidArgument("force: expected true or false")
        user = request.state.user
        made = await router.register_type(
            request.path_params["pattern"],
            json.dumps(body["schema"]),
            texts["mode"],
            texts["description"],
            texts["owner"],
            by=user.name if user else "",
            force=force,
        )
        return JSONResponse(type_json(made))

    async def delete_type(request: Request) -> Response:
        await router.delete_type(request.path_params["pattern"])
        return JSONResponse({"deleted": request.path_params["pattern"]})

    changes = {"PUT": (register_type, "type.register"), "DELETE": (delete_type, "type.delete")}
    change_type = {
        method: guarded(Access.ADMIN, handler, (action, _path))
        for method, (handler, action) in changes.items()
    }

    async def one_type(request: Request) -> Response:
        """Any user may read a type; registering and deleting are the admin role's."""
        if request.method == "GET":
            return await get_type(request)
        return await change_type[request.method](request)

    async def page(request: Request) -> Response:
        return HTMLResponse(PAGE)

    async def asyncapi_json(request: Request) -> Response:
        found = router.auth.authenticate(request.headers.get("authorization"))
        return JSONResponse(router.asyncapi(found[0] if found is not None else None))

    async def asyncapi_page(request: Request) -> Response:
        return HTMLResponse(ASYNCAPI_PAGE)

    async def asyncapi_js(request: Request) -> Response:
        return Response(ASYNCAPI_JS, media_type="text/javascript")

    async def page_js(request: Request) -> Response:
        return Response(PAGE_JS, media_type="text/javascript")

    async def page_css(request: Request) -> Response:
        return Response(PAGE_CSS, media_type="text/css")

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        reason = ""
        if router.state.stale:
            reason = "the last write to storage failed"
        elif router.state.trim_failing:
            reason = f"removing old events fails: {router.state.trim_failing}"
        if reason:
            return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def openapi(request: Request) -> Response:
        return JSONResponse(document())

    def consume(handler: Handler) -> Handler:
        return guarded(Access.CONSUME, handler, on=_exchange)

    def manage(handler: Handler, action: str) -> Handler:
        return guarded(Access.MANAGE, handler, (action, _path), _exchange)

    exposition = registry(router.stats, router.settings.metrics_subscribers)
    subscriber = "/v1/exchanges/{exchange}/subscribers/{name}"
    app = Starlette(
        routes=[
            Route("/v1/events", guarded(Access.PUBLISH, publish), methods=["POST"]),
            Route(
                f"{subscriber}/events",
                guarded(Access.CONSUME, pull, on=_exchange, lasting=True),
                methods=["GET"],
            ),
            Route(f"{subscriber}/ack", consume(ack), methods=["POST"]),
            Route(f"{subscriber}/settle", consume(settle), methods=["POST"]),
            Route(subscriber, guarded(Access.MONITOR, describe_subscriber), methods=["GET"]),
            Route(
                f"{subscriber}/settings",
                manage(change_settings, "subscriber.settings"),
                methods=["PATCH"],
            ),
            Route(
                f"{subscriber}/parked",
                guarded(Access.MONITOR, parked, lasting=True),
                methods=["GET"],
            ),
            Route(
                f"{subscriber}/parked/redrive",
                manage(change_parked(True), "parked.redrive"),
                methods=["POST"],
            ),
            Route(
                f"{subscriber}/parked/discard",
                manage(change_parked(False), "parked.discard"),
                methods=["POST"],
            ),
            Route("/v1/stats", guarded(Access.MONITOR, stats), methods=["GET"]),
            Route("/metrics", guarded(Access.MONITOR, metrics), methods=["GET"]),
            Route(
                "/v1/exchanges",
                guarded(Access.MANAGE, create_exchange, ("exchange.create", _body_name)),
                methods=["POST"],
            ),
            Route(
                "/v1/users",
                guarded(Access.ADMIN, users, ("user.add", _body_name)),
                methods=["GET", "POST"],
            ),
            Route(
                "/v1/users/{name}",
                guarded(Access.ADMIN, user, ("user.remove", _path)),
                methods=["GET", "DELETE"],
            ),
            Route(
                "/v1/users/{name}/grants",
                guarded(Access.ADMIN, change_grants(True), ("user.grant", _path)),
                methods=["POST"],
            ),
            Route(
                "/v1/users/{name}/grants/revoke",
                guarded(Access.ADMIN, change_grants(False), ("user.revoke_grant", _path)),
                methods=["POST"],
            ),
            Route(
                "/v1/users/{name}/quotas",
                guarded(Access.ADMIN, set_quotas, ("user.quotas", _path)),
                methods=["PUT"],
            ),
            Route("/v1/audit", guarded(Access.ADMIN, audit), methods=["GET"]),
            Route("/v1/types", guarded(None, list_types), methods=["GET"]),
            Route("/v1/types/{pattern}", guarded(None, one_type), methods=["GET", "PUT", "DELETE"]),
            Route("/", guarded(None, page), methods=["GET"]),
            Route("/page.js", guarded(None, page_js), methods=["GET"]),
            Route("/page.css", guarded(None, page_css), methods=["GET"]),
            Route("/healthz", guarded(None, healthz), methods=["GET"]),
            Route("/readyz", guarded(None, readyz), methods=["GET"]),
            Route("/openapi.json", guarded(None, openapi), methods=["GET"]),
            Route("/asyncapi.json", guarded(None, asyncapi_json), methods=["GET"]),
            Route("/asyncapi", guarded(None, asyncapi_page), methods=["GET"]),
            Route("/asyncapi.js", guarded(None, asyncapi_js), methods=["GET"]),
        ],
        exception_handlers={404: not_found, 405: not_allowed, 500: failed},
    )
    return SecurityHeaders(app)


def _exchange(request: Request) -> str:
    return str(request.path_params["exchange"])


def grant_of(index: int, value: Any) -> Grant:
    field = f"grants[{index}]"
    if not isinstance(value, dict):
        raise InvalidArgument(f"{field}: expected an object with action, pattern and deny")
    only(value, ("action", "pattern", "deny"), field)
    action, pattern, deny = value.get("action"), value.get("pattern", "*"), value.get("deny", False)
    if not isinstance(action, str):
        raise InvalidArgument(f"{field}.action: expected publish, consume, manage or monitor")
    if not isinstance(pattern, str):
        raise InvalidArgument(f"{field}.pattern: expected a string")
    if not isinstance(deny, bool):
        raise InvalidArgument(f"{field}.deny: expected true or false")
    return permissions.grant(action, pattern, deny, field)


def _path(request: Request, body: str) -> str:
    """An audit target from the path: the user's name, or exchange/subscriber."""
    return "/".join(str(v) for v in request.path_params.values())


def _body_name(request: Request, body: str) -> str:
    """An audit target from the request's JSON ``name`` (the handler has checked it)."""
    found = json.loads(body) if body else {}
    return str(found.get("name", "")) if isinstance(found, dict) else ""


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


def gap_json(gaps: Sequence[Gap]) -> dict[str, Any]:
    """``{"gap": {...}}`` when retention removed events before the pull reached them (the
    notices of one pull joined into one), else nothing."""
    if not gaps:
        return {}
    first = gaps[0].first
    return {"gap": {"from_offset": first, "to_offset": gaps[-1].last, "reason": gaps[0].reason}}


def delivery_json(delivery: Delivery, count: int = 1) -> dict[str, Any]:
    out: dict[str, Any] = {"offset": delivery.offset, "delivery_count": count}
    out.update(event_json(delivery.event))
    return out


def integer(text: str, field: str, low: int, high: int) -> int:
    return int(bounded(text, field, low, high, int, "an integer"))


def number(text: str, field: str, low: float, high: float) -> float:
    return bounded(text, field, low, high, float, "a number")


def bounded(
    text: str, field: str, low: float, high: float, kind: Callable[[str], float], name: str
) -> float:
    """``text`` read as ``kind``, within ``low..high`` (nan is outside), or InvalidArgument."""
    try:
        value = kind(text)
    except ValueError:
        raise InvalidArgument(f"{field}: {text!r} is not {name}") from None
    if not low <= value <= high:
        raise InvalidArgument(f"{field}: {value} is outside {low:g}..{high:g}")
    return value


def subscriber_json(view: SubscriberView) -> dict[str, Any]:
    return {
        "exchange": view.exchange,
        "queue_id": view.queue_id,
        "name": view.name,
        "state": view.state,
        "acked_offset": view.acked,
        "head_offset": view.head,
        "lag": view.lag,
        "since_us": view.since_us,
        "events_out": view.events_out,
        "consumer": view.consumer,
        "consumers": view.consumers,
        "settings": view.settings.as_dict(),
        "unsettled": view.unsettled,
        "redelivered": view.redelivered,
        "parked": view.parked,
        "oldest_unsettled_s": view.oldest_unsettled_s,
        "oldest_parked_s": view.oldest_parked_s,
        "stalled": view.stalled,
        "holding_log": view.holding_log,
    }


def parked_json(
    parked: ParkedEvent, delivery: Delivery | None, payload: bool = True
) -> dict[str, Any]:
    """A parked event; without ``payload`` (a caller that may not consume the exchange), its
    event's id, type, seq and time only."""
    out: dict[str, Any] = {
        "offset": parked.offset,
        "reason": parked.reason,
        "deliveries": parked.deliveries,
        "parked_at_us": parked.parked_at,
        "redriving": parked.redriving,
    }
    if delivery is not None:
        out["event"] = event_json(delivery.event)
        if not payload:
            for field in ("headers", "data", "payload_base64"):
                out["event"].pop(field, None)
    return out


def whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def listed(body: dict[str, Any], field: str) -> list[Any]:
    found = body.get(field, [])
    if not isinstance(found, list):
        raise InvalidArgument(f"{field}: expected a list")
    return found


def ack_range(item: Any, field: str) -> tuple[int, int]:
    """An offset, or ``[first, last]``."""
    if whole(item):
        return item, item
    if isinstance(item, list) and len(item) == 2 and whole(item[0]) and whole(item[1]):
        return item[0], item[1]
    raise InvalidArgument(f"{field}: expected an offset or [first, last]")


def nack_item(item: Any, field: str) -> tuple[int, float | None]:
    """An offset (the subscriber's back-off), or ``{"offset": N, "delay_s": S}``."""
    if whole(item):
        return item, None
    if not isinstance(item, dict) or not whole(item.get("offset")):
        raise InvalidArgument(f'{field}: expected an offset or {{"offset": N, "delay_s": S}}')
    only(item, ("offset", "delay_s"), field)
    delay = item.get("delay_s")
    if delay is not None and (not isinstance(delay, int | float) or isinstance(delay, bool)):
        raise InvalidArgument(f"{field}.delay_s: expected a number of seconds")
    return item["offset"], None if delay is None else float(delay)


def park_item(item: Any, field: str) -> tuple[int, str]:
    """An offset, or ``{"offset": N, "reason": "..."}``."""
    if whole(item):
        return item, ""
    if not isinstance(item, dict) or not whole(item.get("offset")):
        raise InvalidArgument(f'{field}: expected an offset or {{"offset": N, "reason": ...}}')
    only(item, ("offset", "reason"), field)
    reason = item.get("reason", "")
    if not isinstance(reason, str):
        raise InvalidArgument(f"{field}.reason: expected a string")
    return item["offset"], reason
