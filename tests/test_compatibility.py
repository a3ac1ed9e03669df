"""Comparing two versions of an event type's schema (router.control.compatibility): what a new
version would reject, checked against the validator itself, and when a version is refused."""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.control.compatibility import narrowing, refusal
from router.core.model import TypeSchema


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ({"type": "integer"}, {"type": "number"}, None),
        ({"type": "number"}, {"type": "integer"}, "type ['number'] no longer accepted"),
        ({"type": "string"}, {"type": ["string", "null"]}, None),
        ({"required": ["a"]}, {"required": ["a", "b"]}, "['b'] newly required"),
        ({"required": ["a", "b"]}, {"required": ["a"]}, None),
        ({"enum": [1, 2]}, {"enum": [1, 2, 3]}, None),
        ({"enum": [1, 2]}, {"enum": [1]}, "[2] no longer allowed"),
        ({}, {"const": 1}, "'enum' or 'const' is new"),
        ({"minimum": 0}, {"minimum": 1}, "minimum raised to 1"),
        ({"maxLength": 5}, {"maxLength": 9}, None),
        ({"maxLength": 5}, {"maxLength": 4}, "maxLength lowered to 4"),
        ({}, {"additionalProperties": False}, "$.*: the new schema accepts nothing"),
        (
            {"properties": {"a": {"type": "string"}}},
            {"properties": {"a": {"type": "string", "minLength": 2}}},
            "$.a: minLength raised to 2",
        ),
        ({}, {"properties": {"a": {"type": "string"}}}, "$.a: type"),
        ({"items": {"type": "integer"}}, {"items": {"type": "string"}}, "$[]: type"),
        ({"title": "a", "description": "x"}, {"title": "b", "examples": [1]}, None),
        ({"pattern": "^a"}, {"pattern": "^b"}, "'pattern' is new or changed"),
        ({"pattern": "^a"}, {}, None),
        ({"type": "object"}, True, None),
        (True, False, "the new schema accepts nothing"),
    ],
)
def test_narrowing_names_what_a_new_version_would_reject(
    old: Any, new: Any, reason: str | None
) -> None:
    found = narrowing(old, new)
    if reason is None:
        assert found is None
    else:
        assert found is not None and reason in found


# A small grammar of schemas, and of the values they judge: enough keywords to meet every rule
# of the comparison, few enough that instances hit the boundaries.
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["", "a", "bb"]))
TYPES = st.lists(
    st.sampled_from(["null", "boolean", "integer", "number", "string", "object", "array"]),
    min_size=1,
    max_size=3,
    unique=True,
)


@st.composite
def schemas(draw: st.DrawFn, depth: int = 2) -> Any:
    schema: dict[str, Any] = {}
    if draw(st.booleans()):
        schema["type"] = draw(TYPES)
    if draw(st.booleans()):
        schema["enum"] = draw(st.lists(SCALARS, min_size=1, max_size=4, unique_by=json.dumps))
    for keyword in ("minimum", "maximum", "minLength", "maxLength", "maxItems", "minProperties"):
        if draw(st.integers(0, 5)) == 0:
            schema[keyword] = draw(st.integers(0, 3))
    if draw(st.booleans()):
        schema["required"] = draw(st.lists(st.sampled_from(["a", "b"]), unique=True))
    if depth and draw(st.booleans()):
        schema["properties"] = {
            name: draw(schemas(depth - 1))
            for name in draw(st.lists(st.sampled_from(["a", "b"]), unique=True))
        }
    if depth and draw(st.integers(0, 3)) == 0:
        schema["additionalProperties"] = draw(st.one_of(st.booleans(), schemas(depth - 1)))
    if depth and draw(st.integers(0, 3)) == 0:
        schema["items"] = draw(schemas(depth - 1))
    return schema


VALUES = st.recursive(
    SCALARS | st.floats(-3, 3, allow_nan=False),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "b", "c"]), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def versions(draw: st.DrawFn, old: dict[str, Any]) -> Any:
    """A next version of ``old``: some keywords dropped, some taken from another schema."""
    other = draw(schemas())
    kept = {k: v for k, v in old.items() if draw(st.booleans())}
    return {**kept, **{k: v for k, v in other.items() if draw(st.integers(0, 2)) == 0}}


@settings(max_examples=600, deadline=None)
@given(schemas(), st.data(), st.lists(VALUES, min_size=1, max_size=30))
def test_a_version_called_no_narrower_accepts_all_the_old_one_did(
    old: Any, data: st.DataObject, values: list[Any]
) -> None:
    new = data.draw(st.one_of(schemas(), versions(old)))
    if narrowing(old, new) is not None:
        return
    before = jsonschema_rs.Draft202012Validator(old)
    after = jsonschema_rs.Draft202012Validator(new)
    for value in values:
        if before.is_valid(value):
            assert after.is_valid(value), (old, new, value)


@settings(max_examples=100, deadline=None)
@given(schemas())
def test_a_schema_is_never_narrower_than_itself_or_a_widened_copy(schema: Any) -> None:
    assert narrowing(schema, schema) is None
    wider = {k: v for k, v in schema.items() if k not in ("required", "enum", "minimum")}
    assert narrowing(schema, wider) is None


def test_a_version_is_refused_when_it_narrows_or_enforces_what_was_stored_despite_it() -> None:
    before = TypeSchema("order.*", 1, '{"type": "object"}', "warn", "", "", 0, "")
    assert refusal(before, {"type": "object"}, "warn", 5) is None
    assert refusal(before, {"type": "object"}, "enforce", 0) is None
    warned = refusal(before, {"type": "object"}, "enforce", 1_200)
    assert warned is not None and warned.startswith("1,200 payloads were stored despite it")
    narrower = refusal(before, {"type": "object", "required": ["sku"]}, "warn", 0)
    assert narrower is not None and "['sku'] newly required" in narrower
