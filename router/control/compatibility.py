"""Whether a new version of an event type's schema may reject payloads the current one accepts
(router.control.contracts refuses such a version unless forced).

:func:`narrowing` compares the two schemas keyword by keyword, conservatively: an assertion
keyword it cannot compare must be unchanged or gone.
"""

from __future__ import annotations

import json
import math
from typing import Any

from router.core.model import TypeSchema


def refusal(before: TypeSchema, parsed: Any, mode: str, warned: int) -> str | None:
    """Why a new version (``parsed``, in ``mode``) may not replace ``before`` unforced, or None:
    it may reject payloads ``before`` accepts, or it enforces what ``before`` only warned of
    while ``warned`` payloads were stored despite it."""
    reason = narrowing(json.loads(before.schema), parsed)
    if reason is None and before.mode == "warn" and mode == "enforce" and warned:
        reason = (
            f"{warned:,} payloads were stored despite it in warn mode since the"
            " router started, and enforce would refuse such payloads"
        )
    return reason


# Keywords that only describe: a change in them accepts and rejects the same payloads.
_ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "$anchor",
        "title",
        "description",
        "examples",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
        "contentMediaType",
        "contentEncoding",
        "contentSchema",
        "format",  # an annotation in 2020-12 unless the format-assertion vocabulary is on
    }
)
_LOWER = ("minimum", "minLength", "minItems", "minProperties", "exclusiveMinimum")
_UPPER = ("maximum", "maxLength", "maxItems", "maxProperties", "exclusiveMaximum")
_COMPARED = frozenset(
    {"type", "required", "properties", "additionalProperties", "items", "enum", "const"}
    | set(_LOWER)
    | set(_UPPER)
)
_JSON_TYPES = ("null", "boolean", "object", "array", "number", "string", "integer")


def narrowing(old: Any, new: Any, where: str = "$") -> str | None:
    """Why ``new`` may reject a payload ``old`` accepts, or None when it accepts all of them.
    Conservative: any assertion keyword it does not compare must be unchanged (or gone)."""
    if new is True or new == {} or old is False or old == new:
        return None
    if new is False:
        return f"{where}: the new schema accepts nothing"
    if old is True:
        old = {}
    assert isinstance(old, dict) and isinstance(new, dict)
    for keyword, value in new.items():
        if keyword in _ANNOTATIONS or keyword in _COMPARED:
            continue
        if old.get(keyword) != value:
            return f"{where}: '{keyword}' is new or changed"
    wider = _types(old.get("type"))
    narrower = _types(new.get("type"))
    if not narrower >= wider:
        return f"{where}: type {sorted(wider - narrower)} no longer accepted"
    added = set(new.get("required", ())) - set(old.get("required", ()))
    if added:
        return f"{where}: {sorted(added)} newly required"
    allowed, before = _allowed(new), _allowed(old)
    if allowed is not None:
        if before is None:
            return f"{where}: 'enum' or 'const' is new"
        lost = [value for value in before if value not in allowed]
        if lost:
            return f"{where}: {lost[:3]} no longer allowed"
    for keyword in _LOWER:
        if new.get(keyword, -math.inf) > old.get(keyword, -math.inf):
            return f"{where}: {keyword} raised to {new[keyword]}"
    for keyword in _UPPER:
        if new.get(keyword, math.inf) < old.get(keyword, math.inf):
            return f"{where}: {keyword} lowered to {new[keyword]}"
    old_more = old.get("additionalProperties", True)
    new_more = new.get("additionalProperties", True)
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name in sorted(set(old_props) | set(new_props)):
        reason = narrowing(
            old_props.get(name, old_more), new_props.get(name, new_more), f"{where}.{name}"
        )
        if reason is not None:
            return reason
    reason = narrowing(old_more, new_more, f"{where}.*")
    if reason is not None:
        return reason
    return narrowing(old.get("items", True), new.get("items", True), f"{where}[]")


def _allowed(schema: dict[str, Any]) -> list[Any] | None:
    """The values ``enum`` and ``const`` leave (None: they leave any)."""
    values: list[Any] | None = None
    if "enum" in schema:
        values = list(schema["enum"])
    if "const" in schema:
        values = (
            [v for v in values if v == schema["const"]] if values is not None else [schema["const"]]
        )
    return values


def _types(value: Any) -> set[str]:
    if value is None:
        return set(_JSON_TYPES)
    named = {value} if isinstance(value, str) else set(value)
    if "number" in named:
        named.add("integer")
    return named
