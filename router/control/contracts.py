"""Event types with schemas: the contract of the events whose type matches a pattern.

An admin registers a type pattern (exchange pattern syntax: words, ``*``, ``#``) with a JSON
Schema (draft 2020-12) for the events' JSON payloads, a description, an owner and a mode. Every
publish path (gRPC, REST, RabbitMQ ingest) goes through :meth:`Contracts.check` before anything
is stored: in ``enforce`` mode a payload that does not match refuses the whole batch with
INVALID_ARGUMENT naming the event's index and the JSON path of the first violation; in ``warn``
mode it is stored and counted. An event whose type matches several registered patterns must
satisfy each of their schemas. Types without a schema are not checked, and with none registered
the check is one test of an empty dict.

Schemas are compiled by ``jsonschema_rs`` (a Rust validator: draft 2020-12, a few microseconds a
payload) with its linear-time regex engine, so no ``pattern`` can backtrack exponentially, and
with remote references refused (no schema makes the router fetch anything). A schema's text and
nesting are bounded, and so are payloads (the router's event size limit).

Every change is a new version. A version that would reject payloads the one before accepted is
refused unless forced: :func:`narrowing` compares the two schemas keyword by keyword,
conservatively (an assertion keyword it cannot compare must be unchanged or gone).
"""

from __future__ import annotations

import json
import logging
import math
import urllib.parse
from collections.abc import Iterable, Sequence
from typing import Any

import attrs
import jsonschema_rs
import orjson

from actors.state import StateActor
from router.core import jsontext, patterns
from router.core.errors import FailedPrecondition, InvalidArgument, NotFound
from router.core.model import NewEvent, TypeSchema, now_us
from router.core.storable import storable
from router.observe.stats import TypeCounts

log = logging.getLogger("router.control.contracts")

MODES = ("enforce", "warn")
MAX_SCHEMA_BYTES = 256 * 1024
MAX_SCHEMA_DEPTH = 64
MAX_TEXT = 1_000  # characters of a description or an owner
MAX_VERSIONS = 1_000  # kept per pattern
MAX_TYPES = 10_000  # patterns registered
MAX_MESSAGE = 300  # characters of a violation's message (and of its path) in an error
# Subschemas one value may be checked against at most (references followed): anyOf/oneOf/allOf
# nested through $ref multiply, and 40 such levels would take longer than the universe's age.
MAX_STEPS = 100_000
_REGEX = jsonschema_rs.RegexOptions(size_limit=1 << 20, dfa_size_limit=1 << 20)
_DRAFT = "https://json-schema.org/draft/2020-12/schema"


@attrs.frozen(slots=True)
class Rule:
    """A registered type's current version, compiled."""

    record: TypeSchema
    validator: Any  # jsonschema_rs.Draft202012Validator

    @property
    def enforced(self) -> bool:
        return self.record.mode == "enforce"


@attrs.define(slots=True)
class Counts:
    checked: int = 0
    refused: int = 0
    warned: int = 0


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


class Contracts:
    """The registered types, their compiled current versions and their counts."""

    def __init__(self, state: StateActor, records: Sequence[TypeSchema] = ()) -> None:
        self._state = state
        self.versions: dict[str, list[TypeSchema]] = {}
        self.rules: dict[str, Rule] = {}
        self.counts: dict[str, Counts] = {}
        self._by_type: dict[str, tuple[Rule, ...]] = {}
        for record in records:
            self.versions.setdefault(record.pattern, []).append(record)
        for pattern, kept in self.versions.items():
            current = kept[-1]
            try:
                self.rules[pattern] = Rule(current, compile_schema(current.schema)[1])
            except InvalidArgument as error:  # stored by a router that accepted it: say so
                log.error("type %s version %d not enforced: %s", pattern, current.version, error)
            self.counts[pattern] = Counts()

    # --- the publish path ---

    def check(self, events: Sequence[NewEvent]) -> None:
        """InvalidArgument for the first event an enforced schema refuses; warned ones counted."""
        if not self.rules:
            return
        warned: list[Counts] = []  # counted once the whole batch is let through
        for index, event in enumerate(events):
            rules = self._by_type.get(event.type)
            if rules is None:
                rules = self._rules_for(event.type)
            if rules:
                self._check_one(index, event, rules, warned)
        for counts in warned:
            counts.warned += 1

    def _rules_for(self, event_type: str) -> tuple[Rule, ...]:
        rules = tuple(r for p, r in self.rules.items() if patterns.matches(p, event_type))
        if len(self._by_type) >= 65_536:
            self._by_type.clear()
        self._by_type[event_type] = rules
        return rules

    def _check_one(
        self, index: int, event: NewEvent, rules: tuple[Rule, ...], warned: list[Counts]
    ) -> None:
        document, wrong = payload_document(event.payload)
        for rule in rules:
            counts = self.counts[rule.record.pattern]
            counts.checked += 1
            found = wrong if wrong is not None else violation(rule.validator, document)
            if found is None:
                continue
            if rule.enforced:
                counts.refused += 1
                raise InvalidArgument(
                    f"events[{index}].payload: {found} (type {event.type!r}, schema"
                    f" {rule.record.pattern!r} version {rule.record.version})"
                )
            warned.append(counts)

    # --- the registry ---

    def current(self, pattern: str, version: int = 0) -> TypeSchema:
        kept = self.versions.get(patterns.validate_pattern(pattern, "pattern"))
        if not kept:
            raise NotFound(f"pattern: no type {pattern!r} is registered")
        if version == 0:
            return kept[-1]
        for record in kept:
            if record.version == version:
                return record
        raise NotFound(f"version: type {pattern!r} has no version {version}")

    def listed(self) -> list[TypeSchema]:
        return [kept[-1] for _, kept in sorted(self.versions.items())]

    def stats(self) -> list[TypeCounts]:
        return [
            TypeCounts(
                t.pattern,
                t.version,
                t.mode,
                t.owner,
                t.description,
                *attrs.astuple(self.counts[t.pattern]),
            )
            for t in self.listed()
        ]

    async def register(
        self,
        pattern: str,
        schema: str,
        mode: str,
        description: str,
        owner: str,
        *,
        by: str,
        force: bool = False,
    ) -> TypeSchema:
        """Store a new version of ``pattern`` (the first, or the one after the current) and
        check publishes against it from now on. Registering what is already current changes
        nothing and returns it."""
        patterns.validate_pattern(pattern, "pattern")
        mode = mode or "enforce"
        if mode not in MODES:
            raise InvalidArgument(f"mode: {mode!r} is not one of {', '.join(MODES)}")
        for field, text in (("description", description), ("owner", owner)):
            if len(text) > MAX_TEXT:
                raise InvalidArgument(f"{field}: longer than {MAX_TEXT:,} characters")
            storable(text, field)
        parsed, validator = compile_schema(schema)
        canonical = json.dumps(parsed, sort_keys=True, separators=(",", ":"))
        kept = self.versions.get(pattern, [])
        if not kept and len(self.versions) >= MAX_TYPES:
            raise FailedPrecondition(f"pattern: {MAX_TYPES:,} types are registered already")
        if kept:
            before = kept[-1]
            if (before.schema, before.mode, before.description, before.owner) == (
                canonical,
                mode,
                description,
                owner,
            ):
                return before
            if not force:
                reason = narrowing(json.loads(before.schema), parsed)
                warned = self.counts[pattern].warned if pattern in self.counts else 0
                if reason is None and before.mode == "warn" and mode == "enforce" and warned:
                    reason = (
                        f"{warned:,} payloads were stored despite it in warn mode since the"
                        " router started, and enforce would refuse such payloads"
                    )
                if reason is not None:
                    raise FailedPrecondition(
                        f"schema: version {before.version + 1} of {pattern!r} would reject"
                        f" events version {before.version} accepts: {reason}; register it"
                        " with force to replace it anyway"
                    )
            if len(kept) >= MAX_VERSIONS:
                raise FailedPrecondition(
                    f"pattern: {pattern!r} has {MAX_VERSIONS:,} versions; delete it first"
                )
        record = TypeSchema(
            pattern,
            kept[-1].version + 1 if kept else 1,
            canonical,
            mode,
            description,
            owner,
            now_us(),
            by,
        )
        await self._state.write(lambda storage: storage.add_type_schema(record))
        self.versions.setdefault(pattern, []).append(record)
        self.rules[pattern] = Rule(record, validator)
        self.counts.setdefault(pattern, Counts())
        self._by_type.clear()
        log.info("type registered pattern=%s version=%d mode=%s", pattern, record.version, mode)
        return record

    async def delete(self, pattern: str) -> None:
        patterns.validate_pattern(pattern, "pattern")
        await self._state.write(lambda storage: storage.delete_type_schemas(pattern))
        self.versions.pop(pattern, None)
        self.rules.pop(pattern, None)
        self.counts.pop(pattern, None)
        self._by_type.clear()
        log.info("type deleted pattern=%s", pattern)


# --- comparing two versions ---

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
