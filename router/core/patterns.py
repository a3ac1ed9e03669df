"""Event types and exchange patterns with AMQP topic rules.

A type is one or more dot-separated words of ``[A-Za-z0-9_-]``. A pattern is made of the same words
plus ``*`` (exactly one word) and ``#`` (zero or more words).

Matching runs in time proportional to the pattern's words times the type's words, whatever the
pattern (a run of ``#`` counts as one): a pattern can not make the publish path slow.
"""

from __future__ import annotations

import re
from functools import lru_cache

from router.core.errors import InvalidArgument

_WORD = re.compile(r"[A-Za-z0-9_-]+")
MAX_TYPE_LENGTH = 255
MAX_PATTERN_WORDS = 32  # words of a pattern, ``*`` and ``#`` included


def validate_type(event_type: str, field: str = "type") -> str:
    """Return ``event_type`` if it is a valid event type, else raise InvalidArgument naming ``field``."""
    if not event_type:
        raise InvalidArgument(f"{field}: must not be empty")
    if len(event_type) > MAX_TYPE_LENGTH:
        raise InvalidArgument(f"{field}: longer than {MAX_TYPE_LENGTH} characters")
    for word in event_type.split("."):
        if not _WORD.fullmatch(word):
            raise InvalidArgument(
                f"{field}: {event_type!r} is not dotted words of letters, digits, '_' or '-'"
            )
    return event_type


def validate_pattern(pattern: str, field: str = "patterns") -> str:
    """Return ``pattern`` if valid (words, ``*`` and ``#``), else raise InvalidArgument."""
    if not pattern:
        raise InvalidArgument(f"{field}: a pattern must not be empty")
    if len(pattern) > MAX_TYPE_LENGTH:
        raise InvalidArgument(f"{field}: pattern longer than {MAX_TYPE_LENGTH} characters")
    words = pattern.split(".")
    if len(words) > MAX_PATTERN_WORDS:
        raise InvalidArgument(
            f"{field}: {pattern[:40]!r}... has {len(words)} words; at most {MAX_PATTERN_WORDS}"
        )
    for word in words:
        if word not in ("*", "#") and not _WORD.fullmatch(word):
            raise InvalidArgument(
                f"{field}: {pattern!r} is not dotted words, '*' or '#' (AMQP topic rules)"
            )
    return pattern


def matches(pattern: str, event_type: str) -> bool:
    """True when ``event_type`` matches ``pattern`` under AMQP topic rules."""
    return _match_words(_compiled(pattern), tuple(event_type.split(".")))


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> tuple[str, ...]:
    """The pattern's words with each run of ``#`` as one ``#`` (``#.#`` matches what ``#`` does)."""
    words: list[str] = []
    for word in pattern.split("."):
        if not (word == "#" and words and words[-1] == "#"):
            words.append(word)
    return tuple(words)


@lru_cache(maxsize=65536)
def _match_words(pattern: tuple[str, ...], words: tuple[str, ...]) -> bool:
    """Walk the type's words once, keeping the set of pattern positions reached so far (the
    pattern read as a nondeterministic automaton): at most len(pattern) positions per word."""
    size = len(pattern)
    reached = closure(pattern, {0})
    for word in words:
        following: set[int] = set()
        for position in reached:
            if position == size:
                continue
            head = pattern[position]
            if head == "#":
                following.add(position)  # ``#`` takes this word and may take more
            elif head == "*" or head == word:
                following.add(position + 1)
        if not following:
            return False
        reached = closure(pattern, following)
    return size in reached


def closure(pattern: tuple[str, ...], positions: set[int]) -> set[int]:
    """``positions`` and those reached from them by letting each ``#`` take no word."""
    result = set(positions)
    for position in sorted(positions):
        while position < len(pattern) and pattern[position] == "#":
            position += 1
            result.add(position)
    return result
