"""``router exchange create|list|describe|delete``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from router.cli.output import json_flag, table
from router.client import RouterClient


def register(commands: Any) -> None:
    exchange = commands.add_parser("exchange", help="create, list or delete exchanges")
    actions = exchange.add_subparsers(dest="action", required=True)
    create = actions.add_parser(
        "create",
        help="create an exchange (no queue)",
        epilog="example: router exchange create orders --pattern 'order.*' --pattern 'billing.#'",
    )
    create.add_argument("name")
    create.add_argument(
        "--pattern",
        action="append",
        required=True,
        help="type pattern; '*' one word, '#' zero or more",
    )
    create.set_defaults(handler=create_exchange)
    listing = actions.add_parser(
        "list", help="list exchanges", epilog="example: router exchange list --json"
    )
    json_flag(listing)
    listing.set_defaults(handler=list_exchanges)
    describe = actions.add_parser(
        "describe",
        help="one exchange: patterns, head, events routed since start",
        epilog="example: router exchange describe orders",
    )
    describe.add_argument("name")
    json_flag(describe)
    describe.set_defaults(handler=describe_exchange)
    delete = actions.add_parser(
        "delete",
        help="delete an exchange (events stay stored)",
        epilog="example: router exchange delete orders",
    )
    delete.add_argument("name")
    delete.set_defaults(handler=delete_exchange)


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
