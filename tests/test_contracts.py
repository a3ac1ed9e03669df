"""Event-type schemas without a server: compiling (and refusing) schemas, the JSON path of a
violation, and the comparison of two versions, checked against the validator itself."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.control.contracts import (
    Contracts,
    compile_schema,
    json_path,
    narrowing,
    payload_document,
    violation,
    worst_case,
)
from router.core.errors import InvalidArgument
from router.core.ids import uuid7
from router.core.model import NewEvent, TypeSchema


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


def test_bad_schemas_are_refused_naming_the_field() -> None:
    for text, said in [
        ("{", "schema: not JSON"),
        ("3", "an object or a boolean"),
        ('{"type": "nope"}', "not a valid JSON Schema"),
        ('{"$ref": "http://example.com/s.json"}', "points outside the schema"),
        ('{"pattern": "(a)\\\\1"}', "not a valid JSON Schema"),  # a back-reference: not linear
        ('{"$schema": "http://json-schema.org/draft-04/schema#"}', "draft 2020-12"),
        ('{"not": ' * 70 + "{}" + "}" * 70, "nested deeper than 64"),
        (json.dumps({"enum": ["x" * 1024] * 300}), "longer than 262,144 bytes"),
        ('{"minimum": NaN}', "schema: NaN is not a JSON number"),  # REST could not show it
        ('{"maximum": ' + "9" * 5000 + "}", "more than 4300 digits"),
    ]:
        with pytest.raises(InvalidArgument) as refused:
            compile_schema(text)
        assert said in str(refused.value)


def test_a_violation_is_named_by_its_json_path() -> None:
    _, validator = compile_schema(
        json.dumps(
            {
                "properties": {
                    "items": {"items": {"properties": {"sku": {"type": "string"}}}},
                    "odd key": {"type": "integer"},
                }
            }
        )
    )
    found = violation(validator, {"items": [{"sku": "a"}, {"sku": 3}]})
    assert found is not None and found.startswith("$.items[1].sku: ")
    assert violation(validator, {"odd key": "x"}).startswith('$["odd key"]: ')  # type: ignore[union-attr]
    assert violation(validator, {"items": []}) is None
    assert json_path([]) == "$"


def test_a_catastrophic_pattern_runs_in_linear_time_and_its_error_stays_short() -> None:
    _, validator = compile_schema('{"type": "string", "pattern": "^(a+)+$"}')
    found = violation(validator, "a" * 200_000 + "b")
    assert found is not None and len(found) < 400 and "characters)" in found
    _, deep = compile_schema('{"additionalProperties": {"$ref": "#"}, "type": "object"}')
    nested: dict[str, object] = {}
    inner = nested
    for _ in range(200):
        inner["k" * 20] = inner = {}
    inner["k"] = 1
    found = violation(deep, nested)
    assert found is not None and len(found) < 700


def test_a_payload_is_read_as_strict_json() -> None:
    assert payload_document(b'{"a": [1, 2.5, "x", null]}') == ({"a": [1, 2.5, "x", None]}, None)
    big = 10**30  # past 64 bits: read all the same
    assert payload_document(str(big).encode())[1] is None
    for text in (b"NaN", b'{"a": Infinity}', b"{", b"\xff"):
        document, wrong = payload_document(text)
        assert (
            document is None
            and wrong is not None
            and wrong.startswith("$: the payload is not JSON")
        )


def _doubling(levels: int) -> dict[str, Any]:
    """anyOf of the level below, twice, ``levels`` times: the text grows by a line a level, the
    work of checking a value that fails by two."""
    defs: dict[str, Any] = {"a0": {"type": "string"}}
    for level in range(1, levels + 1):
        below = {"$ref": f"#/$defs/a{level - 1}"}
        defs[f"a{level}"] = {"anyOf": [below, dict(below)]}
    return {"$defs": defs, "$ref": f"#/$defs/a{levels}"}


def test_a_schema_whose_checks_multiply_through_references_is_refused() -> None:
    compile_schema(json.dumps(_doubling(10)))  # 4,094 steps: fine
    with pytest.raises(InvalidArgument) as refused:
        compile_schema(json.dumps(_doubling(40)))  # 2^40 checks of a failing value
    assert "subschema steps" in str(refused.value) and "at most 100,000" in str(refused.value)
    anchored = {"$defs": {"x": {"$anchor": "x", "type": "string"}}, "$ref": "#x"}
    assert worst_case(anchored) == 2
    assert worst_case({"anyOf": [{"$ref": "#"}]}) == 3  # a cycle counts once
    for schema, said in (
        ({"$ref": "other.json#/x"}, "points outside the schema"),
        ({"$ref": "#/$defs/missing"}, "points at nothing"),
        ({"$ref": "#nowhere"}, "no $anchor"),
    ):
        with pytest.raises(InvalidArgument, match=re.escape(said)):
            compile_schema(json.dumps(schema))


def test_references_chained_past_following_are_refused() -> None:
    defs: dict[str, Any] = {"a0": {"type": "string"}}
    for level in range(1, 2_000):
        defs[f"a{level}"] = {"$ref": f"#/$defs/a{level - 1}"}
    with pytest.raises(InvalidArgument, match="chained too deep"):
        compile_schema(json.dumps({"$defs": defs, "$ref": "#/$defs/a1999"}))


def test_a_refused_batch_counts_no_payload_as_stored_despite_its_schema() -> None:
    def record(pattern: str, mode: str) -> TypeSchema:
        return TypeSchema(pattern, 1, '{"required": ["id"]}', mode, "", "", 0, "")

    contracts = Contracts(None, [record("loose.*", "warn"), record("strict.*", "enforce")])  # type: ignore[arg-type]
    loose = NewEvent(str(uuid7()), "loose.one", b"{}")
    strict = NewEvent(str(uuid7()), "strict.one", b"{}")
    with pytest.raises(InvalidArgument, match=r"events\[1\]\.payload: \$"):
        contracts.check([loose, strict])
    counts = contracts.counts
    assert (counts["loose.*"].warned, counts["strict.*"].refused) == (0, 1)
    contracts.check([loose, loose])
    assert (counts["loose.*"].checked, counts["loose.*"].warned) == (3, 2)
