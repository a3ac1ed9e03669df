"""``router type register|list|show|delete``: event types and the JSON Schemas of their
payloads (router.control.contracts)."""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from typing import Any

from router.cli.output import add_command, arg, table
from router.client import RouterClient
from router.core.errors import InvalidArgument


def register(commands: Any) -> None:
    add_command(
        commands,
        "asyncapi",
        print_asyncapi,
        "this router as an AsyncAPI 3.0 document (JSON, which YAML readers take as it is):"
        " servers, a channel per exchange, the registered types with their schemas",
        "router asyncapi > router.yaml",
    )
    actions = commands.add_parser("type", help="event types with schemas (the events' contracts)")
    actions = actions.add_subparsers(dest="action", required=True)
    add_command(
        actions,
        "register",
        register_type,
        "register a type pattern with a JSON Schema (draft 2020-12) for its payloads, or a new"
        " version of one; a version that would reject events the current one accepts needs"
        " --force",
        "router type register 'order.created' --schema order-created.json --mode enforce",
        arg("pattern", help="a type pattern: words, '*' (one word), '#' (any words)"),
        arg("--schema", required=True, help="the schema's file, or - for standard input"),
        arg(
            "--mode",
            choices=("enforce", "warn"),
            default="enforce",
            help="enforce: refuse a publish that does not match; warn: store it and count it",
        ),
        arg("--description", default="", help="what the events mean"),
        arg("--owner", default="", help="who answers for them (a team, a service)"),
        arg("--force", action="store_true", help="register a narrower version anyway"),
    )
    add_command(
        actions,
        "list",
        list_types,
        "the registered types, their current versions and counts",
        "router type list",
        listing=True,
    )
    add_command(
        actions,
        "show",
        show_type,
        "one type with its schema (JSON)",
        "router type show 'order.created' --version 1",
        arg("pattern"),
        arg("--version", type=int, default=0, help="a version (default: the current one)"),
    )
    add_command(
        actions,
        "delete",
        delete_type,
        "forget a type and all its versions: its events are no longer checked",
        "router type delete 'order.created'",
        arg("pattern"),
    )


async def register_type(client: RouterClient, args: argparse.Namespace) -> None:
    made = await client.register_type(
        args.pattern, _read(args.schema), args.mode, args.description, args.owner, args.force
    )
    print(f"type {made.pattern} version {made.version} ({made.mode})")


def _read(path: str) -> str:
    """A small file, read before anything is sent (a CLI: nothing else runs meanwhile)."""
    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, encoding="utf-8") as source:
            return source.read()
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidArgument(f"--schema: cannot read {path}: {error}") from error


async def list_types(client: RouterClient, args: argparse.Namespace) -> None:
    table(
        [
            {
                "pattern": t.pattern,
                "version": t.version,
                "mode": t.mode,
                "owner": t.owner,
                "checked": t.checked,
                "refused": t.refused,
                "warned": t.warned,
                "description": t.description,
            }
            for t in await client.list_types()
        ],
        args.json,
    )


async def show_type(client: RouterClient, args: argparse.Namespace) -> None:
    found = await client.get_type(args.pattern, args.version)
    shown = {
        "pattern": found.pattern,
        "version": found.version,
        "versions": list(found.versions),
        "mode": found.mode,
        "description": found.description,
        "owner": found.owner,
        "created": datetime.datetime.fromtimestamp(found.created_at_us / 1e6, datetime.UTC)
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z"),
        "created_by": found.created_by,
        "checked": found.checked,
        "refused": found.refused,
        "warned": found.warned,
        "schema": json.loads(found.schema),
    }
    print(json.dumps(shown, indent=2))


async def print_asyncapi(client: RouterClient, args: argparse.Namespace) -> None:
    print(json.dumps(await client.asyncapi(), indent=2))


async def delete_type(client: RouterClient, args: argparse.Namespace) -> None:
    await client.delete_type(args.pattern)
    print(f"deleted type {args.pattern}")
