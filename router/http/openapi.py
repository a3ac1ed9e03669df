"""The OpenAPI 3.0 document of the REST API, served at ``/openapi.json`` and checked by schemathesis."""

from __future__ import annotations

from typing import Any

from router import __version__

NAME = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"}
ERROR = {"$ref": "#/components/schemas/Error"}


def _errors(*codes: int) -> dict[str, Any]:
    meaning = {
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
    return {
        str(code): {
            "description": meaning[code],
            "content": {"application/json": {"schema": ERROR}},
        }
        for code in codes
    }


_PATTERN = {
    "name": "pattern",
    "in": "path",
    "required": True,
    "description": "a type pattern: dotted words, '*' (one word), '#' (any words; %23 in a URL)",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}
TYPE = {
    "type": "object",
    "properties": {
        "pattern": {"type": "string"},
        "version": {"type": "integer"},
        "versions": {"type": "array", "items": {"type": "integer"}},
        "mode": {"type": "string", "enum": ["enforce", "warn"]},
        "description": {"type": "string"},
        "owner": {"type": "string"},
        "created_at_us": {"type": "integer"},
        "created_by": {"type": "string"},
        "schema": {"description": "the JSON Schema (draft 2020-12) of the payloads"},
        "checked": {"type": "integer"},
        "refused": {"type": "integer"},
        "warned": {"type": "integer"},
    },
}


def _wait(description: str) -> dict[str, Any]:
    return {
        "name": "wait",
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "number", "minimum": 0, "maximum": 60},
    }


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_SUBSCRIBER_PARAMETERS = [
    {"name": "exchange", "in": "path", "required": True, "schema": NAME},
    {"name": "name", "in": "path", "required": True, "schema": NAME},
    {
        "name": "limit_size",
        "in": "query",
        "required": False,
        "description": "which queue (its buffer size); 0 or absent: the default",
        "schema": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
    },
]


def document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "event-router REST API",
            "version": __version__,
            "description": "Publish events, pull them as a durable subscriber, ack, watch.",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        }
                    },
                },
                "NewEvent": {
                    "type": "object",
                    "required": ["type"],
                    "additionalProperties": False,
                    "not": {"required": ["data", "payload_base64"]},
                    "properties": {
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
                },
                "Ack": {
                    "type": "object",
                    "required": ["id", "seq", "duplicate", "offsets"],
                    "properties": {
                        "id": {"type": "string"},
                        "seq": {"type": "integer"},
                        "duplicate": {"type": "boolean"},
                        "offsets": {
                            "type": "object",
                            "additionalProperties": {"type": "integer"},
                        },
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
                        "headers": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                        },
                        "data": {"description": "the payload, when it is JSON"},
                        "payload_base64": {"type": "string"},
                    },
                },
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/events": {
                "post": {
                    "summary": "Publish a batch; each event is acked after it is committed",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["events"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "events": {
                                            "type": "array",
                                            "minItems": 1,
                                            "maxItems": 10_000,
                                            "items": {"$ref": "#/components/schemas/NewEvent"},
                                        }
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["acks"],
                                "properties": {
                                    "acks": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Ack"},
                                    }
                                },
                            },
                            "one ack per event, in order",
                        ),
                        **_errors(400, 401, 403, 409, 413, 429, 503, 504),
                    },
                }
            },
            "/v1/exchanges/{exchange}/subscribers/{name}/events": {
                "get": {
                    "summary": "Pull up to max events as a durable subscriber (long poll)",
                    "parameters": [
                        *_SUBSCRIBER_PARAMETERS,
                        {
                            "name": "from",
                            "in": "query",
                            "required": False,
                            "description": "stored | earliest | latest | offset:N | time:ISO8601"
                            " (an offset past the head + 1 answers 400); on a subscriber that"
                            " exists, any but stored moves its cursor: its creator's or a"
                            " manager's right (403 otherwise)",
                            "schema": {"type": "string", "default": "stored"},
                        },
                        {
                            "name": "max",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 10_000},
                        },
                        {
                            "name": "max_bytes",
                            "in": "query",
                            "required": False,
                            "description": "the stored bytes of the events returned at most"
                            " (at least one event is returned, however large); default 4 MiB",
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": 16 * 1024 * 1024,
                                "default": 4 * 1024 * 1024,
                            },
                        },
                        _wait("seconds to wait for new events"),
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": [
                                    "exchange",
                                    "subscriber",
                                    "start_offset",
                                    "head_offset",
                                    "events",
                                ],
                                "properties": {
                                    "exchange": {"type": "string"},
                                    "subscriber": {"type": "string"},
                                    "start_offset": {"type": "integer"},
                                    "head_offset": {"type": "integer"},
                                    "events": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Event"},
                                    },
                                    "gap": {
                                        "type": "object",
                                        "description": "present when retention removed events"
                                        " before this subscriber reached them: the events"
                                        " resume after to_offset (from_offset 0: not known, a"
                                        " time start point)",
                                        "properties": {
                                            "from_offset": {"type": "integer"},
                                            "to_offset": {"type": "integer"},
                                            "reason": {"type": "string"},
                                        },
                                    },
                                },
                            },
                            "the events from the start point on, in offset order",
                        ),
                        **_errors(400, 401, 403, 404, 409, 429, 503, 504),
                    },
                }
            },
            "/v1/exchanges/{exchange}/subscribers/{name}/ack": {
                "post": {
                    "summary": "Everything delivered up to offset is handled: the cursor moves"
                    " forward (an offset never delivered answers 409)",
                    "parameters": _SUBSCRIBER_PARAMETERS,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["offset"],
                                    "additionalProperties": False,
                                    "properties": {"offset": {"type": "integer", "minimum": 0}},
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["exchange", "subscriber", "acked_offset"],
                                "properties": {
                                    "exchange": {"type": "string"},
                                    "subscriber": {"type": "string"},
                                    "acked_offset": {"type": "integer"},
                                },
                            },
                            "the saved cursor",
                        ),
                        **_errors(400, 401, 403, 404, 409, 413, 503, 504),
                    },
                }
            },
            **_settlement_paths(),
            "/v1/stats": {
                "get": {
                    "summary": "Exchanges, queues (fill) and subscribers (cursor, lag, state)",
                    "responses": {
                        "200": _json(
                            {"type": "object"},
                            "a snapshot; on PostgreSQL, `cluster` says which router leads, its"
                            " epoch, the routers standing by and the database host",
                        ),
                        **_errors(401, 403),
                    },
                }
            },
            "/asyncapi.json": {
                "get": {
                    "summary": "This router as an AsyncAPI 3.0 document (any user: every event"
                    " type, and the exchanges it may consume or monitor); /asyncapi renders it",
                    "responses": {
                        "200": _json({"type": "object"}, "the document"),
                        **_errors(401),
                    },
                }
            },
            "/v1/types": {
                "get": {
                    "summary": "The registered event types, current versions (any user)",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["types"],
                                "properties": {"types": {"type": "array", "items": TYPE}},
                            },
                            "by pattern",
                        ),
                        **_errors(401),
                    },
                }
            },
            "/v1/types/{pattern}": {
                "get": {
                    "summary": "One event type with its JSON Schema (any user)",
                    "parameters": [
                        _PATTERN,
                        {
                            "name": "version",
                            "in": "query",
                            "required": False,
                            "description": "0 or absent: the current one",
                            "schema": {"type": "integer", "minimum": 0, "maximum": 1 << 30},
                        },
                    ],
                    "responses": {
                        "200": _json(TYPE, "the type"),
                        **_errors(400, 401, 404),
                    },
                },
                "put": {
                    "summary": "Register a type, or a new version of it (admin). Publishes of"
                    " matching types then have their JSON payloads checked: enforce refuses"
                    " a batch with one that does not match (400 naming the event and the JSON"
                    " path), warn stores and counts it",
                    "parameters": [_PATTERN],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["schema"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "schema": {
                                            "description": "a JSON Schema, draft 2020-12",
                                            "oneOf": [{"type": "object"}, {"type": "boolean"}],
                                        },
                                        "mode": {"type": "string", "enum": ["enforce", "warn"]},
                                        "description": {"type": "string", "maxLength": 1000},
                                        "owner": {"type": "string", "maxLength": 1000},
                                        "force": {"type": "boolean"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json(TYPE, "the version now current"),
                        **_errors(400, 401, 403, 409, 413, 503, 504),
                    },
                },
                "delete": {
                    "summary": "Forget a type and all its versions (admin)",
                    "parameters": [_PATTERN],
                    "responses": {
                        "200": _json(
                            {"type": "object", "properties": {"deleted": {"type": "string"}}},
                            "deleted",
                        ),
                        **_errors(400, 401, 403, 404, 503, 504),
                    },
                },
            },
            "/v1/audit": {
                "get": {
                    "summary": "The audit trail of admin changes, oldest first (admin)",
                    "parameters": [
                        {
                            "name": "since_us",
                            "in": "query",
                            "required": False,
                            "description": "microseconds since the epoch; entries at or after",
                            "schema": {
                                "type": "integer",
                                "minimum": 0,
                                "maximum": 1 << 62,
                                "default": 0,
                            },
                        },
                        {
                            "name": "max",
                            "in": "query",
                            "required": False,
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": 10000,
                                "default": 1000,
                            },
                        },
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["entries"],
                                "properties": {
                                    "entries": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "at": {"type": "integer"},
                                                "user": {"type": "string"},
                                                "action": {"type": "string"},
                                                "target": {"type": "string"},
                                                "source": {"type": "string"},
                                                "detail": {"type": "string"},
                                            },
                                        },
                                    }
                                },
                            },
                            "who changed what, when and from where",
                        ),
                        **_errors(400, 401, 403),
                    },
                }
            },
            "/v1/exchanges": {
                "post": {
                    "summary": "Create an exchange (admin); matching stored events are indexed",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["name", "patterns"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "name": NAME,
                                        "patterns": {
                                            "type": "array",
                                            "minItems": 1,
                                            "maxItems": 64,
                                            "items": {
                                                "type": "string",
                                                "pattern": r"^([A-Za-z0-9_-]+|\*|#)"
                                                r"(\.([A-Za-z0-9_-]+|\*|#)){0,31}$",
                                                "maxLength": 255,
                                            },
                                        },
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json({"type": "object"}, "the exchange"),
                        **_errors(400, 401, 403, 409, 413, 503, 504),
                    },
                }
            },
            "/v1/users": {
                "get": {
                    "summary": "Users with their roles and token ids (admin)",
                    "responses": {
                        "200": _json({"type": "object"}, "the users"),
                        **_errors(401, 403),
                    },
                },
                "post": {
                    "summary": "Add a user; its first token is in the answer, and only there",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["name", "role"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "name": NAME,
                                        "role": {"enum": ["publisher", "consumer", "admin"]},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json({"type": "object"}, "the user and its token"),
                        **_errors(400, 401, 403, 409, 413, 503, 504),
                    },
                },
            },
            "/v1/users/{name}": {
                "get": {
                    "summary": "A user with its role, grants, quotas and token ids (admin)",
                    "parameters": [_USER],
                    "responses": {
                        "200": _json(USER, "the user"),
                        **_errors(400, 401, 403, 404),
                    },
                },
                "delete": {
                    "summary": "Remove a user: its tokens stop working and its streams end",
                    "parameters": [_USER],
                    "responses": {
                        "200": _json({"type": "object"}, "removed"),
                        **_errors(400, 401, 403, 404, 409, 503, 504),
                    },
                },
            },
            "/v1/users/{name}/grants": {
                "post": {
                    "summary": "Give a user grants (one on the same action and pattern is"
                    " replaced); admin",
                    "parameters": [_USER],
                    "requestBody": _body(_GRANTS),
                    "responses": {
                        "200": _json(USER, "the user as it now is"),
                        **_errors(400, 401, 403, 404, 413, 503, 504),
                    },
                }
            },
            "/v1/users/{name}/grants/revoke": {
                "post": {
                    "summary": "Take grants from a user (matched by action and pattern); the"
                    " streams it may no longer read end; admin",
                    "parameters": [_USER],
                    "requestBody": _body(_GRANTS),
                    "responses": {
                        "200": _json(USER, "the user as it now is"),
                        **_errors(400, 401, 403, 404, 413, 503, 504),
                    },
                }
            },
            "/v1/users/{name}/quotas": {
                "put": {
                    "summary": "Set a user's quotas (absent or 0: no limit); admin",
                    "parameters": [_USER],
                    "requestBody": _body(QUOTAS),
                    "responses": {
                        "200": _json(USER, "the user as it now is"),
                        **_errors(400, 401, 403, 404, 413, 503, 504),
                    },
                }
            },
            "/": {
                "get": {
                    "summary": "The monitoring page (it asks for an admin token itself)",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "the page",
                            "content": {"text/html": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus text exposition: counters and gauges by exchange,"
                    " queue and subscriber (admin)",
                    "responses": {
                        "200": {
                            "description": "the metrics",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        **_errors(401, 403, 404),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "The process answers",
                    "security": [],
                    "responses": {"200": _json({"type": "object"}, "alive")},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "The store answered the last write",
                    "security": [],
                    "responses": {
                        "200": _json({"type": "object"}, "ready"),
                        "503": _json({"type": "object"}, "storage is failing"),
                    },
                }
            },
        },
    }


_OFFSET = {"type": "integer", "minimum": 1}
_USER = {"name": "name", "in": "path", "required": True, "schema": NAME}
GRANT = {
    "type": "object",
    "required": ["action"],
    "additionalProperties": False,
    "description": "publish: an event-type pattern (order.*, order.#, #); consume and manage:"
    " an exchange name, '*' standing for any characters; monitor: no pattern or '*'",
    "properties": {
        "action": {"enum": ["publish", "consume", "manage", "monitor"]},
        "pattern": {"type": "string", "minLength": 1, "maxLength": 255},
        "deny": {"type": "boolean"},
    },
}
_GRANTS = {
    "type": "object",
    "required": ["grants"],
    "additionalProperties": False,
    "properties": {"grants": {"type": "array", "minItems": 1, "items": GRANT}},
}
_COUNT = {"type": "integer", "minimum": 0}
QUOTAS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "events_per_s": {**_COUNT, "maximum": 1 << 40},
        "bytes_per_s": {**_COUNT, "maximum": 1 << 40},
        "streams": {**_COUNT, "maximum": 1 << 20, "description": "open pulls and streams"},
        "subscribers": {**_COUNT, "maximum": 1 << 20, "description": "it may create"},
    },
}
USER = {
    "type": "object",
    "properties": {
        "name": NAME,
        "role": {"enum": ["publisher", "consumer", "admin"]},
        "token_ids": {"type": "array", "items": {"type": "string"}},
        "grants": {"type": "array", "items": GRANT},
        "quotas": QUOTAS,
    },
}
_SUBSCRIBER = "/v1/exchanges/{exchange}/subscribers/{name}"


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _settlement_paths() -> dict[str, Any]:
    """Per-event settlement by a pull consumer, and the subscriber's settings and parked list."""
    nack = {
        "oneOf": [
            _OFFSET,
            {
                "type": "object",
                "required": ["offset"],
                "additionalProperties": False,
                "properties": {
                    "offset": _OFFSET,
                    "delay_s": {"type": "number", "minimum": 0, "maximum": 604_800},
                },
            },
        ]
    }
    park = {
        "oneOf": [
            _OFFSET,
            {
                "type": "object",
                "required": ["offset"],
                "additionalProperties": False,
                "properties": {"offset": _OFFSET, "reason": {"type": "string", "maxLength": 1024}},
            },
        ]
    }
    ack = {
        "oneOf": [
            _OFFSET,
            {"type": "array", "items": _OFFSET, "minItems": 2, "maxItems": 2},
        ]
    }
    parked_change = _body(
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "offsets": {"type": "array", "items": _OFFSET, "minItems": 1},
                "all": {"type": "boolean"},
            },
        }
    )
    settings = {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": False,
        "properties": {
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
    }
    return {
        f"{_SUBSCRIBER}/settle": {
            "post": {
                "summary": "Settle delivered events one by one: ack (offsets or [first, last]),"
                " nack (delivered again after delay_s, or the subscriber's back-off), park"
                " (into the parked list with a reason). Checked whole before anything"
                " changes; only while no stream is attached",
                "parameters": _SUBSCRIBER_PARAMETERS,
                "requestBody": _body(
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "minProperties": 1,
                        "properties": {
                            "ack": {"type": "array", "items": ack},
                            "nack": {"type": "array", "items": nack},
                            "park": {"type": "array", "items": park},
                        },
                    }
                ),
                "responses": {
                    "200": _json({"type": "object"}, "the cursor, and what was settled how"),
                    **_errors(400, 401, 403, 404, 409, 413, 503, 504),
                },
            }
        },
        _SUBSCRIBER: {
            "get": {
                "summary": "A subscriber: cursor, lag, settings, consumers, unsettled, parked,"
                " stalled (admin)",
                "parameters": _SUBSCRIBER_PARAMETERS,
                "responses": {
                    "200": _json({"type": "object"}, "the subscriber"),
                    **_errors(400, 401, 403, 404),
                },
            }
        },
        f"{_SUBSCRIBER}/settings": {
            "patch": {
                "summary": "Change a subscriber's settings; those not named are kept (admin)",
                "parameters": _SUBSCRIBER_PARAMETERS,
                "requestBody": _body(settings),
                "responses": {
                    "200": _json({"type": "object"}, "the subscriber"),
                    **_errors(400, 401, 403, 404, 409, 413, 503, 504),
                },
            }
        },
        f"{_SUBSCRIBER}/parked": {
            "get": {
                "summary": "The subscriber's parked events, in offset order, with the stored"
                " events (their data and headers only for a caller that may consume the"
                " exchange); wait > 0 waits for one parked after 'after' when none is (monitor)",
                "parameters": [
                    *_SUBSCRIBER_PARAMETERS,
                    {
                        "name": "after",
                        "in": "query",
                        "required": False,
                        "description": "the page after this offset",
                        "schema": {"type": "integer", "minimum": 0},
                    },
                    {
                        "name": "max",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 10_000},
                    },
                    _wait("seconds an empty page waits for an event to be parked"),
                ],
                "responses": {
                    "200": _json({"type": "object"}, "a page of the parked list"),
                    **_errors(400, 401, 403, 404, 503, 504),
                },
            }
        },
        f"{_SUBSCRIBER}/parked/redrive": {
            "post": {
                "summary": "Deliver parked events again through the subscriber (admin)",
                "parameters": _SUBSCRIBER_PARAMETERS,
                "requestBody": parked_change,
                "responses": {
                    "200": _json({"type": "object"}, "the offsets re-driven"),
                    **_errors(400, 401, 403, 404, 409, 413, 503, 504),
                },
            }
        },
        f"{_SUBSCRIBER}/parked/discard": {
            "post": {
                "summary": "Drop parked events from the parked list (admin)",
                "parameters": _SUBSCRIBER_PARAMETERS,
                "requestBody": parked_change,
                "responses": {
                    "200": _json({"type": "object"}, "the offsets discarded"),
                    **_errors(400, 401, 403, 404, 409, 413, 503, 504),
                },
            }
        },
    }
