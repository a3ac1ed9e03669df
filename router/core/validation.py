"""Checks on what callers send, shared by every edge. Each failure names the field."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC

from router.core.errors import InvalidArgument
from router.core.ids import uuid7
from router.core.model import EventId, NewEvent, StartKind, StartPoint
from router.core.patterns import validate_pattern, validate_type
from router.core.settings import Settings

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
MAX_HEADERS = 64
MAX_HEADER_NAME = 64  # characters
MAX_HEADER_VALUE = 256  # characters
_CANONICAL_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
# Types already found valid: publishers send few distinct types, so checking each once saves
# the regex per event. Cleared when it grows past 100,000 entries.
_valid_types: set[str] = set()


def name(value: str, field: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise InvalidArgument(
            f"{field}: {value!r} must be 1-128 letters, digits, '_', '.', ':' or '-',"
            " starting with a letter or digit"
        )
    return value


def patterns(values: Iterable[str]) -> tuple[str, ...]:
    result = tuple(values)
    if not result:
        raise InvalidArgument("patterns: at least one pattern is needed")
    if len(result) > 64:
        raise InvalidArgument("patterns: at most 64 patterns")
    for index, pattern in enumerate(result):
        validate_pattern(pattern, f"patterns[{index}]")
    return result


def event_id(value: str, field: str) -> EventId:
    """The canonical text of a UUID given in any form ``uuid.UUID`` accepts."""
    if _CANONICAL_ID.match(value):
        return value  # the usual case, without building a uuid.UUID
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        raise InvalidArgument(f"{field}: {value!r} is not a UUID") from None


def event(
    index: int, id_: str, type_: str, payload: bytes, headers: dict[str, str], settings: Settings
) -> NewEvent:
    """One published event, checked; an empty id gets a new time-ordered one (UUIDv7)."""
    identifier = event_id(id_, f"events[{index}].id") if id_ else uuid7()
    if type_ not in _valid_types:
        validate_type(type_, f"events[{index}].type")
        if len(_valid_types) >= 100_000:
            _valid_types.clear()
        _valid_types.add(type_)
    if len(payload) > settings.max_payload_bytes:
        raise InvalidArgument(
            f"events[{index}].payload: {len(payload)} bytes is over the maximum of"
            f" {settings.max_payload_bytes}"
        )
    if not headers:
        return NewEvent(identifier, type_, payload, ())
    if len(headers) > MAX_HEADERS:
        raise InvalidArgument(f"events[{index}].headers: more than {MAX_HEADERS} headers")
    for key, value in headers.items():
        if len(key) > MAX_HEADER_NAME or len(value) > MAX_HEADER_VALUE:
            raise InvalidArgument(
                f"events[{index}].headers[{key[:20]!r}]: names are at most {MAX_HEADER_NAME}"
                f" characters, values at most {MAX_HEADER_VALUE}"
            )
    return NewEvent(identifier, type_, payload, tuple(sorted(headers.items())))


def plain_events(
    ids: Sequence[str], types: Sequence[str], payloads: Sequence[bytes], settings: Settings
) -> list[NewEvent] | None:
    """A batch of events without headers, checked a field at a time across the batch.

    The usual batch (canonical ids, types seen before, payloads within the limit) passes in a
    few C-level passes instead of a call of :func:`event` per event. None when any event needs a
    closer look: the caller then checks each with :func:`event`, whose errors name the field.
    """
    if (
        all(map(_CANONICAL_ID.match, ids))
        and _valid_types.issuperset(types)
        and max(map(len, payloads), default=0) <= settings.max_payload_bytes
    ):
        return list(map(NewEvent, ids, types, payloads))
    return None


def batch_size(count: int, settings: Settings) -> None:
    if count == 0:
        raise InvalidArgument("events: the batch is empty")
    if count > settings.max_batch_events:
        raise InvalidArgument(
            f"events: {count} events is over the maximum of {settings.max_batch_events}"
        )


def limit_size(value: int, settings: Settings) -> int:
    if value == 0:
        return settings.default_limit_size
    if value < 1 or value > settings.max_limit_size:
        raise InvalidArgument(f"queue.limit_size: {value} is outside 1..{settings.max_limit_size}")
    return value


def start_point(text: str) -> StartPoint:
    """Parse ``stored | earliest | latest | offset:N | time:ISO8601`` (as the CLI and HTTP take it)."""
    from datetime import datetime

    kind, _, value = text.partition(":")
    try:
        if kind in ("stored", "earliest", "latest") and not value:
            return StartPoint(StartKind(kind))
        if kind == "offset":
            return StartPoint(StartKind.OFFSET, int(value))
        if kind == "time":
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return StartPoint(StartKind.TIME, int(moment.timestamp() * 1_000_000))
    except ValueError:
        pass
    raise InvalidArgument(
        f"start: {text!r} is not stored, earliest, latest, offset:N or time:ISO8601"
    )
