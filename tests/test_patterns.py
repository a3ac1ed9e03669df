"""Topic patterns match as AMQP says, in time bounded by the pattern's words times the type's,
and names with a trailing newline or too many words are refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.core import patterns, permissions
from router.core.errors import InvalidArgument


def reference(pattern: list[str], words: list[str]) -> bool:
    """AMQP topic rules read straight off their definition (exponential; small inputs only)."""
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(reference(rest, words[skip:]) for skip in range(len(words) + 1))
    return bool(words) and head in ("*", words[0]) and reference(rest, words[1:])


_words = st.sampled_from(["a", "b", "order"])
_pattern_words = st.sampled_from(["a", "b", "order", "*", "#", "#"])


@settings(max_examples=2000)
@given(st.lists(_pattern_words, min_size=1, max_size=8), st.lists(_words, min_size=1, max_size=8))
def test_matching_agrees_with_the_definition(pattern: list[str], words: list[str]) -> None:
    assert patterns.matches(".".join(pattern), ".".join(words)) == reference(pattern, words)


def test_a_pattern_of_many_hashes_still_matches_by_the_rules() -> None:
    # A pattern stored before patterns were bounded: each run of '#' counts once.
    many = ".".join(["#"] * 126 + ["z"])
    assert patterns.matches(many, ".".join(["a"] * 120 + ["z"]))
    assert not patterns.matches(many, ".".join(["a"] * 120))
    alternating = ".".join(["#", "a"] * 60 + ["z"])
    assert not patterns.matches(alternating, ".".join(["a"] * 127))


def test_a_pattern_of_too_many_words_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidArgument, match=r"^patterns\[0\]: .*at most 32"):
        patterns.validate_pattern(".".join(["#"] * 126), "patterns[0]")
    assert patterns.validate_pattern(".".join(["#"] * 32)) == ".".join(["#"] * 32)


@pytest.mark.parametrize("text", ["order.created\n", "order.internal\n.paid", "order\n"])
def test_a_type_with_a_newline_is_refused(text: str) -> None:
    with pytest.raises(InvalidArgument, match="^events.0..type: "):
        patterns.validate_type(text, "events[0].type")


@pytest.mark.parametrize("text", ["order.*\n", "order.#\n.paid", "#\n"])
def test_a_pattern_with_a_newline_is_refused(text: str) -> None:
    with pytest.raises(InvalidArgument):
        patterns.validate_pattern(text)


def glob_reference(pattern: str, name: str) -> bool:
    if not pattern:
        return not name
    if pattern[0] == "*":
        return any(glob_reference(pattern[1:], name[skip:]) for skip in range(len(name) + 1))
    return bool(name) and pattern[0] == name[0] and glob_reference(pattern[1:], name[1:])


@settings(max_examples=2000)
@given(st.text("ab*", min_size=0, max_size=8), st.text("ab", max_size=8))
def test_exchange_name_patterns_agree_with_the_definition(pattern: str, name: str) -> None:
    assert permissions.name_matches(pattern, name) == glob_reference(pattern, name)


def test_a_name_pattern_of_many_stars_does_not_backtrack() -> None:
    # A regular expression of '.*' pieces takes exponential time on this; the scan is linear.
    assert not permissions.name_matches("*a" * 60 + "*b", "a" * 128)


def test_a_grant_pattern_with_a_newline_is_refused() -> None:
    with pytest.raises(InvalidArgument, match=r"^grants.pattern: "):
        permissions.grant("consume", "orders\n")
