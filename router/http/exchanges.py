"""Exchanges over REST: create one, and the stats of every exchange, queue and subscriber with
their rates (kept by the sampler router.http.serve runs; all zero without it)."""

from __future__ import annotations

import attrs
from starlette.requests import Request
from starlette.responses import Response

from router.core.errors import InvalidArgument
from router.core.model import Access
from router.http.bodies import JSONResponse, json_body, only
from router.http.declare import Endpoint, creating, router_of
from router.http.schemas import NAME, OBJECT, ok, strict
from router.http.subscribers import subscriber_json
from router.observe.metrics import Rates
from router.observe.stats import Stats


async def create_exchange(request: Request) -> Response:
    router = router_of(request)
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


async def stats(request: Request) -> Response:
    router = router_of(request)
    rates: Rates = request.app.state.rates
    stats = router.stats()
    return JSONResponse(
        {
            "rates": rates_json(rates, stats),
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


def rates_json(rates: Rates, stats: Stats) -> dict[str, object]:
    return {
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
    }


PATTERNS = {
    "type": "array",
    "minItems": 1,
    "maxItems": 64,
    "items": {
        "type": "string",
        "pattern": r"^([A-Za-z0-9_-]+|\*|#)(\.([A-Za-z0-9_-]+|\*|#)){0,31}$",
        "maxLength": 255,
    },
}
ENDPOINTS = [
    creating(
        "/v1/exchanges",
        create_exchange,
        "Create an exchange (admin); matching stored events are indexed",
        "the exchange",
        strict({"name": NAME, "patterns": PATTERNS}, ("name", "patterns")),
    ),
    Endpoint(
        "GET",
        "/v1/stats",
        stats,
        "Exchanges, queues (fill) and subscribers (cursor, lag, state)",
        ok(
            OBJECT,
            "a snapshot; on PostgreSQL, `cluster` says which router leads, its epoch, the"
            " routers standing by and the database host",
        ),
        (401, 403),
    ),
]
