"""A subscriber over REST, for those who watch and manage it: describe it, change its settings,
list its parked events, redrive or discard them."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from router.control import reach
from router.core.delivery import ParkedEvent
from router.core.errors import InvalidArgument
from router.core.model import Delivery
from router.core.views import SubscriberView
from router.http.bodies import JSONResponse, event_json, json_body, only
from router.http.declare import Endpoint, Handler, router_of
from router.http.params import (
    MAX_PULL,
    MAX_WAIT_S,
    integer,
    limit_size,
    number,
    subscriber_of,
    whole,
)
from router.http.schemas import (
    CHANGE,
    MAX,
    OBJECT,
    READ,
    SUBSCRIBER,
    SUBSCRIBER_PARAMETERS,
    ok,
    query,
    strict,
    wait,
)


async def describe_subscriber(request: Request) -> Response:
    exchange, name = subscriber_of(request)
    view = router_of(request).describe_subscriber(exchange, name, limit_size(request))
    return JSONResponse(subscriber_json(view))


async def change_settings(request: Request) -> Response:
    exchange, name = subscriber_of(request)
    body = await json_body(request)
    if not isinstance(body, dict) or not body:
        raise InvalidArgument('settings: expected an object such as {"ack_wait_s": 10}')
    size = limit_size(request)
    view = await router_of(request).set_subscriber_settings(exchange, name, body, size)
    return JSONResponse(subscriber_json(view))


async def parked(request: Request) -> Response:
    exchange, name = subscriber_of(request)
    params = request.query_params
    after = integer(params.get("after", "0"), "after", 0, 1 << 62)
    most = integer(params.get("max", "1000"), "max", 1, MAX_PULL)
    size = limit_size(request)
    waited = number(params.get("wait", "0"), "wait", 0.0, MAX_WAIT_S)
    found, total = await router_of(request).list_parked(
        exchange, name, after=after, most=most, limit_size=size, wait_s=waited
    )
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
        exchange, name = subscriber_of(request)
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
        size = limit_size(request)
        changed = await router_of(request).change_parked(exchange, name, offsets, redrive, size)
        verb = "redriven" if redrive else "discarded"
        return JSONResponse({"exchange": exchange, "subscriber": name, verb: changed})

    return change


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


OFFSETS = strict(
    {
        "offsets": {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1},
        "all": {"type": "boolean"},
    }
)
SETTINGS = strict(
    {
        "mode": {"enum": ["exclusive", "shared"]},
        "max_consumers": {"type": "integer", "minimum": 1, "maximum": 1000},
        "prefetch": {"type": "integer", "minimum": 1, "maximum": 100_000},
        "dispatch": {"enum": ["round_robin", "pinned"]},
        "key_header": {"type": "string"},
        "ack_wait_s": {"type": "number"},
        "max_deliveries": {"type": "integer", "minimum": 0},
        "backoff_initial_s": {"type": "number"},
        "backoff_max_s": {"type": "number"},
        "backoff_multiplier": {"type": "number"},
        "stall_after_s": {"type": "number"},
    },
    minProperties=1,
)
PARKED = (
    "The subscriber's parked events, in offset order, with the stored events (their data and"
    " headers only for a caller that may consume the exchange); wait > 0 waits for one parked"
    " after 'after' when none is (monitor)"
)
ENDPOINTS = [
    Endpoint(
        "GET",
        SUBSCRIBER,
        describe_subscriber,
        "A subscriber: cursor, lag, settings, consumers, unsettled, parked, stalled (admin)",
        ok(OBJECT, "the subscriber"),
        READ,
        SUBSCRIBER_PARAMETERS,
    ),
    Endpoint(
        "PATCH",
        f"{SUBSCRIBER}/settings",
        change_settings,
        "Change a subscriber's settings; those not named are kept (admin)",
        ok(OBJECT, "the subscriber"),
        CHANGE,
        SUBSCRIBER_PARAMETERS,
        SETTINGS,
    ),
    Endpoint(
        "GET",
        f"{SUBSCRIBER}/parked",
        parked,
        PARKED,
        ok(OBJECT, "a page of the parked list"),
        (400, 401, 403, 404, 503, 504),
        [
            *SUBSCRIBER_PARAMETERS,
            query("after", {"type": "integer", "minimum": 0}, "the page after this offset"),
            query("max", MAX),
            wait("seconds an empty page waits for an event to be parked"),
        ],
        lasting=True,
    ),
    *(
        Endpoint(
            "POST",
            f"{SUBSCRIBER}/parked/{verb}",
            change_parked(verb == "redrive"),
            summary,
            ok(OBJECT, done),
            CHANGE,
            SUBSCRIBER_PARAMETERS,
            OFFSETS,
        )
        for verb, summary, done in (
            (
                "redrive",
                "Deliver parked events again through the subscriber (admin)",
                "the offsets re-driven",
            ),
            ("discard", "Drop parked events from the parked list (admin)", "the offsets discarded"),
        )
    ),
]
