"""JSON Schemas for event types (router.control.contracts): a schema compiled within bounds,
and a payload read as JSON and checked against one.

Schemas are compiled by ``jsonschema_rs`` (a Rust validator: draft 2020-12, a few microseconds a
payload) with its linear-time regex engine, so no ``pattern`` can backtrack exponentially, and
with remote references refused (no schema makes the router fetch anything). A schema's text and
nesting are bounded, and so is the work of checking one value (:func:`worst_case`).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable
from typing import Any

import jsonschema_rs
import orjson

from router.core import jsontext
from router.core.errors import InvalidArgument

MAX_SCHEMA_BYTES = 256 * 1024
MAX_SCHEMA_DEPTH = 64
MAX_MESSAGE = 300  # characters of a violation's message (and of its path) in an error
# Subschemas one value may be checked against at most (references followed): anyOf/oneOf/allOf
# nested through $ref multiply, and 40 such levels would take longer than the universe's age.
MAX_STEPS = 100_000
_REGEX = jsonschema_rs.RegexOptions(size_limit=1 << 20, dfa_size_limit=1 << 20)
_DRAFT = "https://json-schema.org/draft/2020-12/schema"


def compile_schema(text: str, field: str = "schema") -> tuple[Any, Any]:
    """The parsed schema and its validator, or InvalidArgument naming ``field`` and what is
    wrong: not JSON, too big or too deep, not draft 2020-12, not a valid schema, a remote
    reference, a regex the linear engine cannot run."""
    if len(text.encode()) > MAX_SCHEMA_BYTES:
        raise InvalidArgument(f"{field}: longer than {MAX_SCHEMA_BYTES:,} bytes")
    try:
        schema = jsontext.loads(text)  # no NaN or huge numbers: the REST API writes it back
    except jsontext.Unwritable as error:
        raise InvalidArgument(f"{field}: {error}") from None
    except ValueError as error:
        raise InvalidArgument(f"{field}: not JSON: {error}") from None
    if not isinstance(schema, dict | bool):
        raise InvalidArgument(f"{field}: a JSON Schema is an object or a boolean")
    if _depth(schema) > MAX_SCHEMA_DEPTH:
        raise InvalidArgument(f"{field}: nested deeper than {MAX_SCHEMA_DEPTH} levels")
    if isinstance(schema, dict) and schema.get("$schema", _DRAFT).rstrip("#") != _DRAFT:
        raise InvalidArgument(f"{field}: $schema must be {_DRAFT} (draft 2020-12)")
    try:
        steps = worst_case(schema)
    except RecursionError:
        raise InvalidArgument(f"{field}: references chained too deep to follow") from None
    if steps > MAX_STEPS:
        raise InvalidArgument(
            f"{field}: checking one value could take {steps:,} subschema steps (at most"
            f" {MAX_STEPS:,}): anyOf, oneOf or allOf nested through $ref multiply"
        )
    try:
        jsonschema_rs.meta.validate(schema)
        validator = jsonschema_rs.Draft202012Validator(
            schema, pattern_options=_REGEX, offline=True, validate_formats=False
        )
    except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError) as error:
        first = str(error).split("\n", 1)[0]
        raise InvalidArgument(f"{field}: not a valid JSON Schema: {first}") from None
    return schema, validator


# Keywords whose values are subschemas, and those whose values are lists or maps of them.
_ONE = (
    "not",
    "if",
    "then",
    "else",
    "items",
    "contains",
    "additionalProperties",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
)
_MANY = ("allOf", "anyOf", "oneOf", "prefixItems")
_MAP = ("properties", "patternProperties", "dependentSchemas", "$defs", "definitions")


def worst_case(schema: Any) -> int:
    """An upper bound on the subschemas one value is checked against, following references
    within the schema (a reference back into one being counted counts once: such a cycle goes
    down the value, or the validator stops it). Refers to nothing outside the schema:
    InvalidArgument for a reference it cannot follow inside it."""
    anchors: dict[str, list[Any]] = {}
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for keyword in ("$anchor", "$dynamicAnchor"):
                if isinstance(node.get(keyword), str):
                    anchors.setdefault(node[keyword], []).append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    known: dict[int, int] = {}
    open_: set[int] = set()

    def targets(reference: Any) -> list[Any]:
        if not isinstance(reference, str) or not reference.startswith("#"):
            raise InvalidArgument(
                f"schema: $ref {str(reference)[:100]!r} points outside the schema; references"
                " go to '#', '#/a/json/pointer' or '#anchor' within it"
            )
        if reference == "#":
            return [schema]
        if not reference.startswith("#/"):
            found = anchors.get(reference[1:])
            if not found:
                raise InvalidArgument(f"schema: no $anchor {reference[1:][:100]!r} for $ref")
            return found
        node = schema
        for part in reference[2:].split("/"):
            part = urllib.parse.unquote(part).replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise InvalidArgument(f"schema: $ref {reference[:100]!r} points at nothing")
        return [node]

    def cost(node: Any) -> int:
        if not isinstance(node, dict):
            return 1
        key = id(node)
        if key in open_:
            return 1
        if key in known:
            return known[key]
        open_.add(key)
        total = 1
        for keyword in _ONE:
            if keyword in node:
                total += cost(node[keyword])
        for keyword in _MANY:
            if isinstance(node.get(keyword), list):
                total += sum(cost(child) for child in node[keyword])
        for keyword in _MAP:
            if isinstance(node.get(keyword), dict) and keyword not in ("$defs", "definitions"):
                total += sum(cost(child) for child in node[keyword].values())
        for keyword in ("$ref", "$dynamicRef"):
            if keyword in node:
                total += sum(cost(target) for target in targets(node[keyword]))
        open_.discard(key)
        known[key] = total
        return total

    return cost(schema)


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value, without recursion (a hostile schema may be very deep)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_SCHEMA_DEPTH:
            return deepest
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return deepest


def json_path(path: Iterable[str | int]) -> str:
    """``$.items[2].sku`` for the instance path ``["items", 2, "sku"]``."""
    parts = ["$"]
    for step in path:
        if isinstance(step, int):
            parts.append(f"[{step}]")
        elif step.isidentifier():
            parts.append(f".{step}")
        else:
            parts.append(f"[{json.dumps(step)}]")
    return "".join(parts)


def violation(validator: Any, document: Any) -> str | None:
    """The first violation of ``document`` as "path: message", or None when it matches."""
    if validator.is_valid(document):
        return None
    for error in validator.iter_errors(document):
        message = error.message
        if len(message) > MAX_MESSAGE:  # it quotes the value: a 1 MiB string, say
            message = message[:MAX_MESSAGE] + f"... ({len(message):,} characters)"
        return f"{_short(json_path(error.instance_path))}: {message}"
    return "$: does not match"


def _short(path: str) -> str:
    return path if len(path) <= MAX_MESSAGE else path[:MAX_MESSAGE] + "..."


def payload_document(payload: bytes) -> tuple[Any, str | None]:
    """The payload as JSON, or the reason it is not. orjson parses a small payload in a fifth
    of the standard library's time; what it refuses (integers past 64 bits, nesting past 1,024)
    is read again by ``json``, which accepts the one and explains the other."""
    try:
        return orjson.loads(payload), None
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(payload, parse_constant=_not_json), None
    except (ValueError, RecursionError) as error:
        return None, f"$: the payload is not JSON ({error})"


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not a JSON value")
