"""Event types with schemas: the contract of the events whose type matches a pattern.

An admin registers a type pattern (exchange pattern syntax: words, ``*``, ``#``) with a JSON
Schema (draft 2020-12) for the events' JSON payloads, a description, an owner and a mode. Every
publish path (gRPC, REST, RabbitMQ ingest) goes through :meth:`Contracts.check` before anything
is stored: in ``enforce`` mode a payload that does not match refuses the whole batch with
INVALID_ARGUMENT naming the event's index and the JSON path of the first violation; in ``warn``
mode it is stored and counted. An event whose type matches several registered patterns must
satisfy each of their schemas. Types without a schema are not checked, and with none registered
the check is one test of an empty dict.

Schemas are compiled within bounds, and payloads read and checked, by router.control.schemas.

Every change is a new version. A version that would reject payloads the one before accepted is
refused unless forced (router.control.compatibility).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import attrs

from actors.state import StateActor
from router.control.compatibility import refusal
from router.control.schemas import compile_schema, payload_document, violation
from router.core import patterns
from router.core.errors import FailedPrecondition, InvalidArgument, NotFound
from router.core.model import NewEvent, TypeSchema, now_us
from router.core.storable import storable
from router.observe.stats import TypeCounts

log = logging.getLogger("router.control.contracts")

MODES = ("enforce", "warn")
MAX_TEXT = 1_000  # characters of a description or an owner
MAX_VERSIONS = 1_000  # kept per pattern
MAX_TYPES = 10_000  # patterns registered


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
                warned = self.counts[pattern].warned if pattern in self.counts else 0
                reason = refusal(before, parsed, mode, warned)
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
