"""JSON in and out of the REST API: request bodies read safely, events written safely.

A request body is refused with 400 naming the problem when it is not JSON the router can write
back (see :mod:`router.core.jsontext`: NaN, huge numbers, deep nesting), or that holds a field the
route does not take. An event's payload goes out as ``data`` only when it is such
JSON; any other payload (whatever published it: gRPC, AMQP, an outbox) goes out as
``payload_base64``, so a pull never fails on what a publisher stored.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from typing import Any

from starlette import responses
from starlette.requests import Request

from router.core import validation
from router.core.errors import InvalidArgument, RouterError
from router.core.jsontext import Unwritable, loads
from router.core.model import NewEvent, StoredEvent
from router.core.settings import Settings

MAX_BODY_BYTES = 16 * 1024 * 1024
EVENT_FIELDS = ("id", "type", "data", "payload_base64", "headers")


class PayloadTooLarge(RouterError):
    grpc_status = "RESOURCE_EXHAUSTED"
    http_status = 413


class JSONResponse(responses.JSONResponse):
    """Starlette's JSON response, which also writes strings that are not valid Unicode (a
    lone surrogate escaped in a payload) as JSON escapes rather than failing."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, allow_nan=False, separators=(",", ":")).encode()


async def json_body(request: Request) -> Any:
    """The request's body as JSON, kept in ``request.state.body`` for the audit trail; 413 past
    MAX_BODY_BYTES (before it is read whole), 400 naming the problem when it is not JSON the
    router takes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body: {declared} bytes is over the maximum of {MAX_BODY_BYTES}")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"body: over the maximum of {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    request.state.body = raw = b"".join(chunks)
    try:
        return loads(raw)
    except Unwritable as error:
        raise InvalidArgument(f"body: {error}") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        raise InvalidArgument(f"body: not JSON: {error}") from None


def only(value: dict[Any, Any], allowed: Iterable[str], where: str = "") -> None:
    """Refuse the keys of ``value`` that are not ``allowed``, naming them (``where`` is the
    object's field, empty for the whole body)."""
    names = tuple(allowed)
    unknown = sorted(str(key)[:40] for key in value if key not in names)
    if unknown:
        prefix = f"{where}." if where else ""
        shown = ", ".join(f"{prefix}{key}" for key in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise InvalidArgument(f"{shown}{more}: not a field here (fields: {', '.join(names)})")


def new_event(index: int, raw: Any, settings: Settings) -> NewEvent:
    """One event of a publish body, checked: ``data`` (JSON) or ``payload_base64`` (bytes),
    never both, and no other field than EVENT_FIELDS."""
    field = f"events[{index}]"
    if not isinstance(raw, dict):
        raise InvalidArgument(f"{field}: expected an object with type and data")
    only(raw, EVENT_FIELDS, field)
    type_ = raw.get("type")
    if not isinstance(type_, str):
        raise InvalidArgument(f"{field}.type: expected a string")
    event_id = raw.get("id", "")
    if not isinstance(event_id, str):
        raise InvalidArgument(f"{field}.id: expected a UUID string")
    headers = raw.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise InvalidArgument(f"{field}.headers: expected an object of strings")
    if "payload_base64" in raw:
        if "data" in raw:
            raise InvalidArgument(f"{field}.data: give data or payload_base64, not both")
        encoded = raw["payload_base64"]
        if not isinstance(encoded, str):
            raise InvalidArgument(f"{field}.payload_base64: expected a base64 string")
        try:
            payload = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidArgument(f"{field}.payload_base64: not base64") from None
    else:
        payload = json.dumps(raw.get("data"), separators=(",", ":")).encode()
    return validation.event(index, event_id, type_, payload, headers, settings)


def event_json(event: StoredEvent) -> dict[str, Any]:
    """An event as the REST API shows it: its payload as ``data`` when it is JSON the router
    can write back, else as ``payload_base64``."""
    out: dict[str, Any] = {
        "id": event.id,
        "type": event.type,
        "seq": event.seq,
        "published_at_us": event.published_at,
        "headers": dict(event.headers),
    }
    try:
        out["data"] = loads(event.payload)
    except ValueError:  # not JSON, or JSON that could not be written back
        out["payload_base64"] = base64.b64encode(event.payload).decode()
    return out
