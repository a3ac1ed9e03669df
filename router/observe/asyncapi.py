"""The router described as an AsyncAPI 3.0 document: what a publisher may send it and what each
exchange sends its subscribers, with the registered event types (router.control.contracts) as messages
and their JSON Schemas as payloads.

- **servers**: the gRPC edge and, when served, the REST edge, each with the bearer token scheme.
- **channels**: ``publish`` (the Publisher service and ``POST /v1/events``: every registered
  type may be sent there) and one per exchange, addressed by its name, carrying the types whose
  patterns can match one of the exchange's patterns (``x-patterns`` lists them). An exchange
  that can carry types with no schema also carries ``unregistered``: any payload.
- **operations**: ``publish`` (the router receives) and ``consume-<exchange>`` (the router
  sends to the exchange's durable subscribers).
- **components**: the messages, one per type pattern (keyed ``type.<pattern>``; its current
  version, mode and owner as ``x-`` fields) and the security schemes.

Served at ``GET /asyncapi.json`` (a readable rendering at ``/asyncapi``), by ``Admin.GetAsyncAPI``
and ``router asyncapi``. Names in the document's keys keep letters, digits, ``.`` and ``-``; ``_``
is doubled, a pattern's ``*`` becomes ``_star`` and ``#`` becomes ``_hash`` there, so that no two
patterns share a key (the pattern itself is the message's ``name``).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from router import __version__
from router.core.model import ExchangeRecord, TypeSchema
from router.core.patterns import matches
from router.core.settings import Settings

VERSION = "3.0.0"
SCHEMA_FORMAT = "application/schema+json;version=draft-2020-12"
_UNSAFE = re.compile(r"[^A-Za-z0-9.-]")
_ESCAPES = {"_": "__", "*": "_star", "#": "_hash"}
HEADERS = {
    "type": "object",
    "description": "the event's headers, text to text",
    "additionalProperties": {"type": "string"},
}


def document(
    settings: Settings, exchanges: list[ExchangeRecord], types: list[TypeSchema]
) -> dict[str, Any]:
    """The AsyncAPI document of a router with these settings, exchanges and types."""
    messages = {_type_key(t.pattern): _message(t) for t in types}
    messages["unregistered"] = {
        "name": "unregistered",
        "title": "An event of a type with no registered schema",
        "contentType": "application/octet-stream",
        "headers": HEADERS,
        "payload": {"description": "any bytes; the router does not look inside"},
    }
    channels: dict[str, Any] = {
        "publish": {
            "address": None,
            "title": "Publishing",
            "description": "Publisher.Publish / PublishStream over gRPC and POST /v1/events: a"
            " batch of events, each stored once and routed to the exchanges whose patterns"
            " match its type. Payloads of registered types are checked against their schemas"
            " before anything is stored.",
            "messages": {name: _ref("messages", name) for name in messages},
        }
    }
    operations: dict[str, Any] = {
        "publish": {
            "action": "receive",
            "title": "Publish events",
            "channel": _ref("channels", "publish"),
            "messages": [_ref("channels/publish/messages", name) for name in messages],
        }
    }
    for exchange in sorted(exchanges, key=lambda e: e.name):
        _add_exchange(exchange, types, channels, operations)
    return {
        "asyncapi": VERSION,
        "info": {
            "title": "event-router",
            "version": __version__,
            "description": "A durable event router: every event is stored once, routed by its"
            " type to the exchanges whose patterns match, and delivered to named durable"
            " subscribers that replay what they missed.",
        },
        "defaultContentType": "application/json",
        "servers": _servers(settings),
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "securitySchemes": {
                "token": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A router token (rtr_...), as `authorization: Bearer <token>`"
                    " in gRPC metadata or the HTTP header. `router token issue <user>`.",
                }
            },
        },
    }


def _add_exchange(
    exchange: ExchangeRecord,
    types: list[TypeSchema],
    channels: dict[str, Any],
    operations: dict[str, Any],
) -> None:
    """The channel of an exchange and the operation delivering it, added to the document's."""
    carried = [t for t in types if any(overlap(t.pattern, p) for p in exchange.patterns)]
    names = [_type_key(t.pattern) for t in carried]
    if not covered(exchange.patterns, [t.pattern for t in types]):
        names.append("unregistered")
    channel = key(exchange.name)
    if channel == "publish":  # the publishing channel's; "publish_" is no exchange's key
        channel = "publish_"
    channels[channel] = {
        "address": exchange.name,
        "title": f"Exchange {exchange.name}",
        "description": "Events whose types match "
        + ", ".join(f"`{p}`" for p in exchange.patterns)
        + ", numbered by offset; durable subscribers read them from a start point"
        " (Subscriber.Subscribe, GET .../subscribers/{name}/events).",
        "messages": {name: _ref("messages", name) for name in names},
        "x-patterns": list(exchange.patterns),
    }
    operations[f"consume-{channel}"] = {
        "action": "send",
        "title": f"Deliver {exchange.name} to its subscribers",
        "channel": _ref("channels", channel),
        "messages": [_ref(f"channels/{channel}/messages", name) for name in names],
    }


def _servers(settings: Settings) -> dict[str, Any]:
    """The gRPC server, and the REST one where HTTP is served."""
    servers: dict[str, Any] = {
        "grpc": {
            "host": settings.grpc_advertised(),
            "protocol": "grpc",
            "description": "gRPC (protos/router/v1/router.proto): Publisher, Subscriber, Admin",
            "security": [_ref("securitySchemes", "token")],
        }
    }
    if settings.http_address:
        servers["rest"] = {
            "host": settings.http_advertised(),
            "protocol": "https" if settings.tls_cert else "http",
            "pathname": "/v1",
            "description": "REST (GET /openapi.json): publish, pull, ack, watch",
            "security": [_ref("securitySchemes", "token")],
        }
    return servers


def key(name: str) -> str:
    """A document key for a name, a pattern or an exchange: letters, digits, ``.`` and ``-``
    as they are, ``_`` doubled, ``*`` as ``_star``, ``#`` as ``_hash``, any other character as
    ``_x<hex>_``. No two names share a key (``_`` always starts an escape), so ``xss.*`` and
    ``xss.star`` are two messages."""
    return _UNSAFE.sub(_escaped, name)


def _escaped(found: re.Match[str]) -> str:
    character = found.group()
    return _ESCAPES.get(character) or f"_x{ord(character):x}_"


def _type_key(pattern: str) -> str:  # apart from "unregistered", whatever the pattern
    return "type." + key(pattern)


def _ref(where: str, name: str) -> dict[str, str]:
    prefix = "#/components" if where in ("messages", "securitySchemes") else "#"
    return {"$ref": f"{prefix}/{where}/{name}"}


def _message(record: TypeSchema) -> dict[str, Any]:
    return {
        "name": record.pattern,
        "title": record.description or record.pattern,
        "summary": f"types matching {record.pattern}, checked in {record.mode} mode",
        "contentType": "application/json",
        "headers": HEADERS,
        "payload": {"schemaFormat": SCHEMA_FORMAT, "schema": json.loads(record.schema)},
        "x-version": record.version,
        "x-mode": record.mode,
        "x-owner": record.owner,
    }


def overlap(first: str, second: str) -> bool:
    """Whether some event type matches both patterns (AMQP topic rules)."""
    return _overlap(tuple(first.split(".")), tuple(second.split(".")))


@lru_cache(maxsize=4096)
def _overlap(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    if not a or not b:
        return all(word == "#" for word in a + b)
    if a[0] == "#":
        return _overlap(a[1:], b) or _overlap(a, b[1:])
    if b[0] == "#":
        return _overlap(a, b[1:]) or _overlap(a[1:], b)
    if a[0] == "*" or b[0] == "*" or a[0] == b[0]:
        return _overlap(a[1:], b[1:])
    return False


def covered(patterns: tuple[str, ...], registered: list[str]) -> bool:
    """Whether every type an exchange's patterns match has a registered pattern, as far as one
    registered pattern alone can show it: ``#``, the same pattern, or, for a plain type, any
    pattern it matches. (Otherwise the exchange is said to carry unregistered types too.)"""
    return all(
        any(r in ("#", p) or ("*" not in p and "#" not in p and matches(r, p)) for r in registered)
        for p in patterns
    )
