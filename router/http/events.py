"""Publishing and pulling over REST: publish a batch, pull as a durable subscriber (long poll),
ack cumulatively, settle event by event."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from actors.subscription import Gap
from router.core import validation
from router.core.errors import InvalidArgument
from router.core.model import Delivery
from router.http.bodies import (
    MAX_BODY_BYTES,
    JSONResponse,
    event_json,
    json_body,
    new_event,
    only,
)
from router.http.declare import Endpoint, router_of
from router.http.params import (
    MAX_PULL,
    MAX_WAIT_S,
    ack_range,
    integer,
    limit_size,
    listed,
    nack_item,
    number,
    park_item,
    subscriber_of,
)
from router.http.schemas import (
    CHANGE,
    MAX,
    OBJECT,
    SUBSCRIBER,
    SUBSCRIBER_PARAMETERS,
    ok,
    strict,
    typed,
)
from router.http.schemas import query as parameter
from router.http.schemas import wait as waiting
from router.observe.tracing import carrier_of


async def publish(request: Request) -> Response:
    router = router_of(request)
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
                {"id": a.id, "seq": a.seq, "duplicate": a.duplicate, "offsets": dict(a.offsets)}
                for a in acks
            ]
        }
    )


async def pull(request: Request) -> Response:
    router = router_of(request)
    exchange, name = subscriber_of(request)
    query = request.query_params
    most = integer(query.get("max", "100"), "max", 1, MAX_PULL)
    default_bytes = str(router.settings.pull_max_bytes)
    most_bytes = integer(query.get("max_bytes", default_bytes), "max_bytes", 1, MAX_BODY_BYTES)
    wait = number(query.get("wait", "0"), "wait", 0.0, MAX_WAIT_S)
    limit_size = integer(query.get("limit_size", "0"), "limit_size", 0, 1 << 31)
    start = validation.start_point(query.get("from", "stored"))
    source = f"http {request.client.host}" if request.client else "http"
    subscription, deliveries, counts = await router.pull(
        exchange, name, start, most, wait, limit_size, request.state.user, source, most_bytes
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


async def ack(request: Request) -> Response:
    router = router_of(request)
    exchange, name = subscriber_of(request)
    body = await json_body(request)
    offset = body.get("offset") if isinstance(body, dict) else None
    if not isinstance(offset, int) or isinstance(offset, bool):
        raise InvalidArgument('offset: expected {"offset": <integer>}')
    only(body, ("offset",))
    size = limit_size(request)
    acked = await router.ack_sleeping(exchange, name, offset, size, request.state.user)
    return JSONResponse({"exchange": exchange, "subscriber": name, "acked_offset": acked})


async def settle(request: Request) -> Response:
    router = router_of(request)
    exchange, name = subscriber_of(request)
    body = await json_body(request)
    if not isinstance(body, dict) or not body.keys() & {"ack", "nack", "park"}:
        raise InvalidArgument('body: expected {"ack": [...], "nack": [...], "park": [...]}')
    only(body, ("ack", "nack", "park"))
    acks = [ack_range(item, f"ack[{i}]") for i, item in enumerate(listed(body, "ack"))]
    nacks = [nack_item(item, f"nack[{i}]") for i, item in enumerate(listed(body, "nack"))]
    parks = [park_item(item, f"park[{i}]") for i, item in enumerate(listed(body, "park"))]
    done = await router.settle_sleeping(
        exchange, name, acks, nacks, parks, limit_size(request), request.state.user
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


OFFSET = {"type": "integer", "minimum": 1}
NACK = {
    "oneOf": [
        OFFSET,
        strict(
            {"offset": OFFSET, "delay_s": {"type": "number", "minimum": 0, "maximum": 604_800}},
            ("offset",),
        ),
    ]
}
PARK = {
    "oneOf": [
        OFFSET,
        strict({"offset": OFFSET, "reason": {"type": "string", "maxLength": 1024}}, ("offset",)),
    ]
}
ACK = {"oneOf": [OFFSET, {"type": "array", "items": OFFSET, "minItems": 2, "maxItems": 2}]}
GAP = {
    "type": "object",
    "description": "present when retention removed events before this subscriber reached"
    " them: the events resume after to_offset (from_offset 0: not known, a time start point)",
    "properties": {**typed("integer", "from_offset", "to_offset"), **typed("string", "reason")},
}
PULLED = {
    "type": "object",
    "required": ["exchange", "subscriber", "start_offset", "head_offset", "events"],
    "properties": {
        **typed("string", "exchange", "subscriber"),
        **typed("integer", "start_offset", "head_offset"),
        "events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
        "gap": GAP,
    },
}
ACKED = {
    "type": "object",
    "required": ["exchange", "subscriber", "acked_offset"],
    "properties": {**typed("string", "exchange", "subscriber"), **typed("integer", "acked_offset")},
}
ACKS = {
    "type": "object",
    "required": ["acks"],
    "properties": {"acks": {"type": "array", "items": {"$ref": "#/components/schemas/Ack"}}},
}
BATCH = strict(
    {
        "events": {
            "type": "array",
            "minItems": 1,
            "maxItems": 10_000,
            "items": {"$ref": "#/components/schemas/NewEvent"},
        }
    },
    ("events",),
)
FROM = (
    "stored | earliest | latest | offset:N | time:ISO8601 (an offset past the head + 1 answers"
    " 400); on a subscriber that exists, any but stored moves its cursor: its creator's or a"
    " manager's right (403 otherwise)"
)
ENDPOINTS = [
    Endpoint(
        "POST",
        "/v1/events",
        publish,
        "Publish a batch; each event is acked after it is committed",
        ok(ACKS, "one ack per event, in order"),
        (400, 401, 403, 409, 413, 429, 503, 504),
        body=BATCH,
    ),
    Endpoint(
        "GET",
        f"{SUBSCRIBER}/events",
        pull,
        "Pull up to max events as a durable subscriber (long poll)",
        ok(PULLED, "the events from the start point on, in offset order"),
        (400, 401, 403, 404, 409, 429, 503, 504),
        [
            *SUBSCRIBER_PARAMETERS,
            parameter("from", {"type": "string", "default": "stored"}, FROM),
            parameter("max", MAX),
            parameter(
                "max_bytes",
                {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_BODY_BYTES,
                    "default": 4 * 1024 * 1024,
                },
                "the stored bytes of the events returned at most"
                " (at least one event is returned, however large); default 4 MiB",
            ),
            waiting("seconds to wait for new events"),
        ],
        lasting=True,
    ),
    Endpoint(
        "POST",
        f"{SUBSCRIBER}/ack",
        ack,
        "Everything delivered up to offset is handled: the cursor moves forward (an offset"
        " never delivered answers 409)",
        ok(ACKED, "the saved cursor"),
        CHANGE,
        SUBSCRIBER_PARAMETERS,
        strict({"offset": {"type": "integer", "minimum": 0}}, ("offset",)),
    ),
    Endpoint(
        "POST",
        f"{SUBSCRIBER}/settle",
        settle,
        "Settle delivered events one by one: ack (offsets or [first, last]), nack (delivered"
        " again after delay_s, or the subscriber's back-off), park (into the parked list with"
        " a reason). Checked whole before anything changes; only while no stream is attached",
        ok(OBJECT, "the cursor, and what was settled how"),
        CHANGE,
        SUBSCRIBER_PARAMETERS,
        strict(
            {
                "ack": {"type": "array", "items": ACK},
                "nack": {"type": "array", "items": NACK},
                "park": {"type": "array", "items": PARK},
            },
            minProperties=1,
        ),
    ),
]
