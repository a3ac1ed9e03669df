"""JSON the router can write back: read with bounds, so that what it accepts it can also print.

Python's ``json`` reads ``NaN``, ``Infinity``, ``1e999`` (as infinity) and integers of any
length up to its limit, and nests as deep as its recursion allows; but a strict writer refuses
the first three, printing an integer of more than ``MAX_INT_DIGITS`` digits raises, and writing
back a deep value overflows the stack. :func:`loads` refuses all of these with a ValueError that
says which, so that callers can refuse a request (400) or show a stored payload as bytes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

MAX_DEPTH = 128  # arrays and objects inside one another, the outermost counted
MAX_INT_DIGITS = 4300  # what Python prints by default (sys.get_int_max_str_digits)


class Unwritable(ValueError):
    """JSON that parses but that the router could not write back as JSON."""


def _constant(text: str) -> Any:
    raise Unwritable(f"{text} is not a JSON number")


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise Unwritable(f"an integer of more than {MAX_INT_DIGITS} digits")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise Unwritable(f"the number {text[:20]} is beyond the range of a double")
    return value


def _too_deep(value: Any) -> bool:
    """Whether ``value`` nests arrays and objects more than MAX_DEPTH deep (walked with a
    stack, not recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        children: Iterable[Any] = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def loads(raw: bytes | str) -> Any:
    """``raw`` as JSON the router can write back; a ValueError saying why not (Unwritable, or
    json's own for text that is not JSON, or UnicodeDecodeError)."""
    try:
        value = json.loads(raw, parse_constant=_constant, parse_int=_integer, parse_float=_float)
    except RecursionError:
        raise Unwritable(f"nested more than {MAX_DEPTH} deep") from None
    # A value nests at most as deep as it has brackets: most texts skip the walk.
    text = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    brackets = text.count(b"[") + text.count(b"{")
    if isinstance(value, dict | list) and brackets > MAX_DEPTH and _too_deep(value):
        raise Unwritable(f"nested more than {MAX_DEPTH} deep")
    return value
