"""Control characters from callers are written as escapes in log lines and on terminals."""

from __future__ import annotations

import logging

from router.core.printable import EscapingFormatter, escape


def test_control_characters_are_escaped_and_the_rest_kept() -> None:
    assert escape("a\nb\r\x1b[2J\x00\x7f\x9b\u2028\u202e é ✓\tz") == (
        "a\\nb\\r\\x1b[2J\\x00\\x7f\\x9b\\u2028\\u202e é ✓\\tz"
    )


def test_a_log_record_is_one_line_whatever_its_arguments() -> None:
    record = logging.LogRecord(
        "router", logging.INFO, __file__, 1, "parked reason=%s", ("x\nFORGED \x1b]0;t\x07",), None
    )
    line = EscapingFormatter("%(levelname)s %(message)s").format(record)
    assert line == "INFO parked reason=x\\nFORGED \\x1b]0;t\\x07"


def test_a_traceback_keeps_its_lines_but_not_its_escapes() -> None:
    try:
        raise ValueError("bad \x1b[31m")
    except ValueError:
        import sys

        record = logging.LogRecord("r", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    text = EscapingFormatter("%(message)s").format(record)
    assert "\x1b" not in text and "\\x1b[31m" in text and text.count("\n") >= 2
