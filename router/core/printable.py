"""Text from callers made safe to write to a log line or a terminal.

Park reasons, names in error messages, descriptions and payloads come from callers. Written raw,
a newline forges a log line and an escape sequence drives the operator's terminal (moves the
cursor, retitles the window, hides what follows). :func:`escape` writes every control character
(C0, DEL, C1, the Unicode line and paragraph separators and the bidirectional overrides) as its
Python escape (``\\n``, ``\\x1b``, ``\\u202e``); :class:`EscapingFormatter` does it to every log
message (a traceback keeps its own line breaks).
"""

from __future__ import annotations

import logging
import re

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_CONTROL_BUT_NEWLINE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


def _escaped(found: re.Match[str]) -> str:
    return repr(found.group())[1:-1]


def escape(text: str) -> str:
    """``text`` with every control character written as its escape; the rest as it is."""
    return _CONTROL.sub(_escaped, text)


class EscapingFormatter(logging.Formatter):
    """A Formatter whose lines hold no control character from the message: one record is one
    line, and nothing in it reaches the terminal as a control sequence."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: object) -> str:
        return _CONTROL_BUT_NEWLINE.sub(_escaped, super().formatException(ei))  # type: ignore[arg-type]

    def formatStack(self, stack_info: str) -> str:
        return _CONTROL_BUT_NEWLINE.sub(_escaped, super().formatStack(stack_info))


def escape_log_lines(level: str, fmt: str) -> None:
    """Configure the root logger as ``logging.basicConfig(level=..., format=...)`` does, with
    an :class:`EscapingFormatter`."""
    logging.basicConfig(level=level)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(EscapingFormatter(fmt))
