"""JSON the router can write back: read with bounds, so that what it accepts it can also print.

Python's ``json`` reads ``NaN``, ``Infinity``, ``1e999`` (as infinity) and integers of any
length up to its limit, and nests as deep as its recursion allows; but a strict writer refuses
the first three, printing an integer of more than ``MAX_INT_DIGITS`` digits raises, and writing
back a deep value overflows the stack. :func:`loads` refuses all of these with a ValueError that
says which, so that callers can refuse a request (400) or show a stored payload as bytes.

It costs little more than ``json.loads``: the C scanner reads every number itself (a hook per
number would call Python for each), and the value is walked only when its text could hold what
the scanner lets through, an infinite float or more than MAX_DEPTH brackets.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable
from typing import Any

MAX_DEPTH = 128  # arrays and objects inside one another, the outermost counted
MAX_INT_DIGITS = 4300  # what Python prints by default (sys.get_int_max_str_digits)

# A float reaches infinity (1.8e308) only with 309 digits before its point and exponent added:
# an exponent of three digits or more, or 210 digits in a row (as an exponent of two digits
# adds at most 99). Text that has neither holds only finite floats; and a value nests at most
# as deep as its text has brackets. To look for these in a few linear C passes, the text is
# first mapped to a shape: each digit to 0, e and E to e, [ and { to [, + and - dropped, any
# other byte to a space; an exponent of three digits then shows as 0e000 (a digit always comes
# before the e of a JSON number).
_SHAPE = bytes(
    ord("0")
    if chr(b) in "0123456789"
    else ord("e")
    if chr(b) in "eE"
    else ord("[")
    if chr(b) in "[{"
    else ord(" ")
    for b in range(256)
)
_LONG_RUN = b"0" * 210


class Unwritable(ValueError):
    """JSON that parses but that the router could not write back as JSON."""


def _constant(text: str) -> Any:
    raise Unwritable(f"{text} is not a JSON number")


# One decoder for every call (json.loads makes a new one whenever it is given a hook).
_DECODER = json.JSONDecoder(parse_constant=_constant)


def _text(raw: bytes | str) -> tuple[str, bytes]:
    """``raw`` as json.loads reads it (bytes in UTF-8, -16 or -32, told by their start), and as
    UTF-8 for the shape."""
    if isinstance(raw, bytes):
        encoding = json.detect_encoding(raw)
        text = raw.decode(encoding, "surrogatepass")
        return text, raw if encoding == "utf-8" else text.encode("utf-8", "surrogatepass")
    if raw.startswith("\ufeff"):
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", raw, 0)
    return raw, raw.encode("utf-8", "surrogatepass")


def _unwritable(value: Any) -> str | None:
    """Why ``value`` could not be written back (nested more than MAX_DEPTH deep, or holding an
    infinite float), or None; walked with a stack, not recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"nested more than {MAX_DEPTH} deep"
        children: Iterable[Any] = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
            elif isinstance(child, float) and not math.isfinite(child):
                return "a number beyond the range of a double"
    return None


def loads(raw: bytes | str) -> Any:
    """``raw`` as JSON the router can write back; a ValueError saying why not (Unwritable, or
    json's own for text that is not JSON, or UnicodeDecodeError)."""
    text, utf8 = _text(raw)
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise Unwritable(f"nested more than {MAX_DEPTH} deep") from None
    except ValueError as error:
        if type(error) is ValueError and "integer string conversion" in str(error):
            limit = sys.get_int_max_str_digits() or MAX_INT_DIGITS
            raise Unwritable(f"an integer of more than {limit} digits") from None
        raise
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Unwritable("a number beyond the range of a double")
        return value
    if not isinstance(value, dict | list):
        return value
    shape = utf8.translate(_SHAPE, b"+-")
    if shape.count(b"[") > MAX_DEPTH or b"0e000" in shape or _LONG_RUN in shape:
        reason = _unwritable(value)  # most texts skip this walk
        if reason is not None:
            raise Unwritable(reason)
    return value
