"""The OpenAPI 3.0 document of the REST API, written from the endpoints' declarations
(router.http.routes): served at ``/openapi.json`` and checked by schemathesis. An open route
(router.control.policy) needs no token; every other one takes the bearer token."""

from __future__ import annotations

from typing import Any

from router import __version__
from router.control import policy
from router.http.declare import Endpoint
from router.http.routes import ENDPOINTS
from router.http.schemas import COMPONENTS, errors


def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        if endpoint.documented:
            paths.setdefault(endpoint.path, {})[endpoint.verb.lower()] = operation(endpoint)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "event-router REST API",
            "version": __version__,
            "description": "Publish events, pull them as a durable subscriber, ack, watch.",
        },
        "components": COMPONENTS,
        "security": [{"bearer": []}],
        "paths": paths,
    }


def operation(endpoint: Endpoint) -> dict[str, Any]:
    out: dict[str, Any] = {"summary": endpoint.summary}
    if endpoint.operation.rule == policy.OPEN:
        out["security"] = []
    if endpoint.parameters:
        out["parameters"] = list(endpoint.parameters)
    if endpoint.body is not None:
        content = {"application/json": {"schema": endpoint.body}}
        out["requestBody"] = {"required": True, "content": content}
    out["responses"] = {**endpoint.responses, **errors(*endpoint.errors)}
    return out
