"""How the commands print: aligned tables, or JSON lines with ``--json``. Text from the router
(names, reasons, descriptions: what callers sent) is printed with its control characters
escaped (router.core.printable), so it can not drive the terminal."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from router.core.printable import escape


def json_flag(parser: argparse.ArgumentParser, help: str = "one JSON object per line") -> None:
    """The ``--json`` flag every listing takes."""
    parser.add_argument("--json", action="store_true", help=help)


def table(rows: list[dict[str, object]], as_json: bool) -> None:
    """Rows as JSON lines with --json, else as aligned columns with a header."""
    if as_json:
        for row in rows:
            print(json.dumps(row))
        return
    if not rows:
        print("(none)")
        return
    keys = list(rows[0])
    cells = [{k: escape(str(row[k])) for k in keys} for row in rows]
    widths = {k: max(len(k), *(len(c[k]) for c in cells)) for k in keys}
    print("  ".join(k.upper().ljust(widths[k]) for k in keys).rstrip())
    for cell in cells:
        print("  ".join(cell[k].ljust(widths[k]) for k in keys).rstrip())


def progress(text: str) -> None:
    """A progress line on stderr, so stdout stays the command's output."""
    print(text, file=sys.stderr, flush=True)


def arg(*flags: str, **options: Any) -> tuple[tuple[str, ...], dict[str, Any]]:
    """One argument of a command, as ``add_argument`` takes it."""
    return flags, options


def add_command(
    actions: Any,
    name: str,
    handler: Callable[..., Any],
    help: str,
    example: str,
    *arguments: tuple[tuple[str, ...], dict[str, Any]],
    listing: bool = False,
) -> argparse.ArgumentParser:
    """A subcommand that runs ``handler(client, args)``; ``listing`` adds the ``--json`` flag."""
    parser: argparse.ArgumentParser = actions.add_parser(
        name, help=help, epilog=f"example: {example}"
    )
    for flags, options in arguments:
        parser.add_argument(*flags, **options)
    if listing:
        json_flag(parser)
    parser.set_defaults(handler=handler)
    return parser
