"""The JSON Schemas and OpenAPI pieces the REST endpoints share; each endpoint's own are
declared next to its handler (router.http.events, subscribers, exchanges, users, types, ops)."""

from __future__ import annotations

from typing import Any

NAME = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"}
ERROR = {"$ref": "#/components/schemas/Error"}
MEANING = {
    400: "a field is malformed; the message names it",
    401: "no token, or an unknown, expired or revoked one",
    403: "the caller's role and grants do not allow this; the message names the user,"
    " the action and the exchange or type",
    404: "no such exchange, subscriber or type",
    409: "the subscriber has a consumer attached, an offset is not open to settle, a"
    " type's new version would reject events the current one accepts (force it), or an"
    " event's id is one another user published (nothing of the publish is stored)",
    413: "the body is too large",
    429: "past one of the user's quotas; Retry-After says when a publish would go through",
    503: "the store is unavailable; retrying later is safe",
    504: "the store did not answer in time",
}
# The error answers of the usual shapes of operation.
READ = (400, 401, 403, 404)
CHANGE = (400, 401, 403, 404, 409, 413, 503, 504)
CREATE = (400, 401, 403, 409, 413, 503, 504)


def errors(*codes: int) -> dict[str, Any]:
    """The documented error answers of ``codes``: each the Error schema with its meaning."""
    return {
        str(code): {
            "description": MEANING[code],
            "content": {"application/json": {"schema": ERROR}},
        }
        for code in codes
    }


def ok(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """A 200 answer of ``schema`` in JSON."""
    return {"200": answer(schema, description)}


def answer(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def text(media_type: str, description: str) -> dict[str, Any]:
    """A 200 answer of text in ``media_type``."""
    content = {media_type: {"schema": {"type": "string"}}}
    return {"200": {"description": description, "content": content}}


def wait(description: str) -> dict[str, Any]:
    return query("wait", {"type": "number", "minimum": 0, "maximum": 60}, description)


def query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    """An optional query parameter."""
    return parameter("query", name, schema, description)


def path(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return parameter("path", name, schema, description)


def parameter(place: str, name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    """A parameter in the ``place`` (query or path) of a request; one in the path is required."""
    out: dict[str, Any] = {"name": name, "in": place, "required": place == "path"}
    if description:
        out["description"] = description
    out["schema"] = schema
    return out


def typed(kind: str, *names: str) -> dict[str, Any]:
    """Properties ``names``, each of the JSON type ``kind``."""
    return {name: {"type": kind} for name in names}


def strict(
    properties: dict[str, Any], required: tuple[str, ...] = (), **more: Any
) -> dict[str, Any]:
    """An object that refuses fields it does not name (additionalProperties: false), as the
    handlers do (router.http.bodies.only)."""
    out: dict[str, Any] = {"type": "object"}
    if required:
        out["required"] = list(required)
    out["additionalProperties"] = False
    return {**out, **more, "properties": properties}


OBJECT = {"type": "object"}
MAX = {"type": "integer", "minimum": 1, "maximum": 10_000}
SUBSCRIBER = "/v1/exchanges/{exchange}/subscribers/{name}"
SUBSCRIBER_PARAMETERS = [
    path("exchange", NAME),
    path("name", NAME),
    query(
        "limit_size",
        {"type": "integer", "minimum": 0, "maximum": 1_000_000},
        "which queue (its buffer size); 0 or absent: the default",
    ),
]
COMPONENTS = {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    "schemas": {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                }
            },
        },
        "NewEvent": strict(
            {
                "type": {
                    "type": "string",
                    "pattern": r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$",
                    "maxLength": 255,
                    "example": "order.created",
                },
                "id": {
                    "type": "string",
                    "description": "a UUID, the idempotency key; empty or absent: a new one",
                    "pattern": "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                    "[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$",
                },
                "data": {"description": "any JSON: the payload (1 MiB at most)"},
                "payload_base64": {
                    "type": "string",
                    "description": "the payload as base64, instead of data",
                    "pattern": "^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
                },
                "headers": {
                    "type": "object",
                    "description": "at most 64; names up to 64 characters, values 256",
                    "maxProperties": 64,
                    "propertyNames": {"maxLength": 64},
                    "additionalProperties": {"type": "string", "maxLength": 256},
                },
            },
            ("type",),
            **{"not": {"required": ["data", "payload_base64"]}},
        ),
        "Ack": {
            "type": "object",
            "required": ["id", "seq", "duplicate", "offsets"],
            "properties": {
                "id": {"type": "string"},
                "seq": {"type": "integer"},
                "duplicate": {"type": "boolean"},
                "offsets": {"type": "object", "additionalProperties": {"type": "integer"}},
            },
        },
        "Event": {
            "type": "object",
            "required": ["offset", "id", "type", "seq", "published_at_us", "headers"],
            "properties": {
                "offset": {"type": "integer"},
                "delivery_count": {
                    "type": "integer",
                    "description": "1 the first time; more when delivered again",
                },
                "id": {"type": "string"},
                "type": {"type": "string"},
                "seq": {"type": "integer"},
                "published_at_us": {"type": "integer"},
                "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                "data": {"description": "the payload, when it is JSON"},
                "payload_base64": {"type": "string"},
            },
        },
    },
}
