"""Every REST endpoint, in the order the OpenAPI document lists them, and the Starlette routes
made from them (one route per path, its methods dispatched to their endpoints)."""

from __future__ import annotations

from starlette.routing import Route

from router.http import events, exchanges, ops, subscribers, types, users
from router.http.declare import Endpoint, dispatch

ENDPOINTS: list[Endpoint] = [
    *events.ENDPOINTS,
    *subscribers.ENDPOINTS,
    *exchanges.ENDPOINTS,
    *types.ENDPOINTS,
    *ops.ENDPOINTS,
    *users.ENDPOINTS,
]


def routes() -> list[Route]:
    by_path: dict[str, list[Endpoint]] = {}
    for endpoint in ENDPOINTS:
        by_path.setdefault(endpoint.path, []).append(endpoint)
    return [
        Route(path, dispatch(declared), methods=[e.verb for e in declared])
        for path, declared in by_path.items()
    ]
