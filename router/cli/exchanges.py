"""``router exchange create|list|describe|delete``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from router.cli.output import add_command, arg, table
from router.client import RouterClient


def register(commands: Any) -> None:
    actions = commands.add_parser("exchange", help="create, list or delete exchanges")
    actions = actions.add_subparsers(dest="action", required=True)
    pattern_help = "type pattern; '*' one word, '#' zero or more"
    add_command(
        actions,
        "create",
        create_exchange,
        "create an exchange (no queue)",
        "router exchange create orders --pattern 'order.*' --pattern 'billing.#'",
        arg("name"),
        arg("--pattern", action="append", required=True, help=pattern_help),
    )
    add_command(
        actions, "list", list_exchanges, "list exchanges", "router exchange list", listing=True
    )
    what = "one exchange: patterns, head, events routed since start"
    example = "router exchange describe orders"
    add_command(actions, "describe", describe_exchange, what, example, arg("name"), listing=True)
    what = "delete an exchange (events stay stored)"
    add_command(
        actions, "delete", delete_exchange, what, "router exchange delete orders", arg("name")
    )


async def create_exchange(client: RouterClient, args: argparse.Namespace) -> None:
    created = await client.create_exchange(args.name, args.pattern)
    print(
        f"created exchange {created.name} patterns={','.join(created.patterns)}"
        f" history={created.head_offset}"
    )


async def list_exchanges(client: RouterClient, args: argparse.Namespace) -> None:
    exchanges = await client.list_exchanges()
    if args.json:
        for e in exchanges:
            print(json.dumps({"name": e.name, "patterns": list(e.patterns), "head": e.head_offset}))
        return
    print(f"{'NAME':24} {'HEAD':>10}  PATTERNS")
    for e in exchanges:
        print(f"{e.name:24} {e.head_offset:>10}  {' '.join(e.patterns)}")


async def describe_exchange(client: RouterClient, args: argparse.Namespace) -> None:
    found = await client.describe_exchange(args.name)
    table(
        [
            {
                "name": found.name,
                "first": found.first_offset,
                "head": found.head_offset,
                "events_in": found.events_in,
                "patterns": " ".join(found.patterns),
            }
        ],
        args.json,
    )


async def delete_exchange(client: RouterClient, args: argparse.Namespace) -> None:
    await client.delete_exchange(args.name)
    print(f"deleted exchange {args.name}")
