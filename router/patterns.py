"""Event types and exchange patterns with AMQP topic rules.

A type is one or more dot-separated words of ``[A-Za-z0-9_-]``. A pattern is made of the same words
plus ``*`` (exactly one word) and ``#`` (zero or more words).
"""

from __future__ import annotations

import re
from functools import lru_cache

from router.errors import InvalidArgument

_WORD = re.compile(r"^[A-Za-z0-9_-]+$")
MAX_TYPE_LENGTH = 255


def validate_type(event_type: str, field: str = "type") -> str:
    """Return ``event_type`` if it is a valid event type, else raise InvalidArgument naming ``field``."""
    if not event_type:
        raise InvalidArgument(f"{field}: must not be empty")
    if len(event_type) > MAX_TYPE_LENGTH:
        raise InvalidArgument(f"{field}: longer than {MAX_TYPE_LENGTH} characters")
    for word in event_type.split("."):
        if not _WORD.match(word):
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
    for word in pattern.split("."):
        if word not in ("*", "#") and not _WORD.match(word):
            raise InvalidArgument(
                f"{field}: {pattern!r} is not dotted words, '*' or '#' (AMQP topic rules)"
            )
    return pattern


def matches(pattern: str, event_type: str) -> bool:
    """True when ``event_type`` matches ``pattern`` under AMQP topic rules."""
    return _match_words(tuple(pattern.split(".")), tuple(event_type.split(".")))


@lru_cache(maxsize=65536)
def _match_words(pattern: tuple[str, ...], words: tuple[str, ...]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match_words(rest, words[skip:]) for skip in range(len(words) + 1))
    if not words:
        return False
    return (head == "*" or head == words[0]) and _match_words(rest, words[1:])
