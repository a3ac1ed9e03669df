"""Event-type schemas without a server (router.control.schemas): compiling (and refusing)
schemas, the JSON path of a violation, and payloads read as strict JSON."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from router.control.schemas import (
    compile_schema,
    json_path,
    payload_document,
    violation,
    worst_case,
)
from router.core.errors import InvalidArgument


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
