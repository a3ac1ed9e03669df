"""JSON the router can write back: refused when it could not be, accepted as json.loads reads it
otherwise, whatever shape the numbers, brackets and encoding take."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.core.jsontext import MAX_DEPTH, Unwritable, loads


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("1e999", "double"),
        ('{"a": [1, -1E+999]}', "double"),
        ('{"a": [1e00309]}', "double"),
        (
            "[" + "9" * 210 + ".0e99]",
            "double",
        ),  # an exponent of two digits and 210 before the point
        ('{"x": ' + "9" * 400 + ".5}", "double"),
        ('{"x": NaN}', "NaN"),
        ("[-Infinity]", "Infinity"),
        ('{"x": ' + "9" * 4301 + "}", "4300 digits"),
        ("[-" + "9" * 4301 + "]", "4300 digits"),
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "nested"),
        ("[" * 100_000 + "]" * 100_000, "nested"),
        ('{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1), "nested"),
    ],
)
def test_json_that_could_not_be_written_back_is_refused_saying_why(text: str, why: str) -> None:
    for raw in (text, text.encode(), text.encode("utf-16")):  # UTF-16: json.loads reads it too
        with pytest.raises(Unwritable, match=why):
            loads(raw)


@pytest.mark.parametrize(
    "text",
    [
        "[" + "9" * 209 + ".9e99]",  # 9.99e307
        '{"x": 1.7976931348623157e308, "y": -1e-999, "z": 1e0000000000000000000000000000000099}',
        '{"file123": "e999 1e999 NaN", "n": 1.5e-300}',  # the words in strings are only text
        '{"x": ' + "9" * 4300 + "}",
        "[" * MAX_DEPTH + "]" * MAX_DEPTH,
        '"\\ud800"',
        "1.5",
    ],
)
def test_json_that_can_be_written_back_is_read_as_json_loads_reads_it(text: str) -> None:
    for raw in (text, text.encode(), text.encode("utf-8-sig"), text.encode("utf-32")):
        value = loads(raw)
        assert value == json.loads(raw)
        json.dumps(value, allow_nan=False)


def test_text_that_is_not_json_is_refused_as_json_loads_refuses_it() -> None:
    for raw in ("", "[1,", "\ufeff[1]", "{'a': 1}", b"\xff\xfe\x00"):
        with pytest.raises(ValueError) as expected:
            json.loads(raw)
        with pytest.raises(type(expected.value)):
            loads(raw)


def _writable(value: Any, depth: int = 1) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict | list):
        items = value.values() if isinstance(value, dict) else value
        return depth <= MAX_DEPTH and all(_writable(v, depth + 1) for v in items)
    return True


NUMBERS = st.from_regex(r"\A-?(0|[1-9][0-9]{0,320})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,5})?\Z")
WORDS = st.sampled_from(['"e123"', '"x"', "true", "null", "NaN"])


@st.composite
def documents(draw: st.DrawFn) -> str:
    leaves = draw(st.lists(NUMBERS | WORDS, min_size=1, max_size=6))
    depth = draw(st.integers(0, MAX_DEPTH + 2))
    inner = "[" + ", ".join(leaves) + "]"
    return '{"a": ' * depth + inner + "}" * depth


@settings(max_examples=300, deadline=None)
@given(documents())
def test_the_router_takes_exactly_what_it_could_write_back(text: str) -> None:
    """The reference: json.loads, then a walk of the whole value, for every text."""
    try:
        expected = json.loads(text)
    except ValueError:
        expected = None  # NaN, or an integer past the limit: both refused
        ok = False
    else:
        ok = _writable(expected)
    if ok:
        assert loads(text.encode()) == expected
    else:
        with pytest.raises(Unwritable):
            loads(text.encode())
