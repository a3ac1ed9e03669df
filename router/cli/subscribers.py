"""``router subscriber list|describe|reset|delete``, ``router queue list`` and ``router info``."""

from __future__ import annotations

import argparse
from typing import Any

from router import validation
from router.cli.output import json_flag, table
from router.client import RouterClient


def register(commands: Any) -> None:
    queue = commands.add_parser("queue", help="list queues (admin)")
    queue_actions = queue.add_subparsers(dest="action", required=True)
    queues = queue_actions.add_parser(
        "list", help="queues with buffer fill", epilog="example: router queue list --json"
    )
    queues.add_argument("--exchange", default="")
    json_flag(queues)
    queues.set_defaults(handler=list_queues)

    subscriber = commands.add_parser(
        "subscriber", help="list, describe, reset or delete subscribers"
    )
    actions = subscriber.add_subparsers(dest="action", required=True)
    listing = actions.add_parser(
        "list",
        help="subscribers with cursor, lag and state",
        epilog="example: router subscriber list --exchange orders",
    )
    listing.add_argument("--exchange", default="")
    json_flag(listing)
    listing.set_defaults(handler=list_subscribers)
    describe = actions.add_parser(
        "describe",
        help="one subscriber",
        epilog="example: router subscriber describe orders billing",
    )
    describe.add_argument("exchange")
    describe.add_argument("name")
    json_flag(describe)
    describe.set_defaults(handler=describe_subscriber)
    reset = actions.add_parser(
        "reset",
        help="move a sleeping subscriber's cursor",
        epilog="example: router subscriber reset orders billing --to time:2026-11-01T00:00:00Z",
    )
    reset.add_argument("exchange")
    reset.add_argument("name")
    reset.add_argument("--to", required=True, help="earliest | latest | offset:N | time:ISO8601")
    reset.add_argument("--limit-size", type=int, default=0, help="which queue, if several")
    json_flag(reset)
    reset.set_defaults(handler=reset_subscriber)
    delete = actions.add_parser(
        "delete",
        help="delete a sleeping subscriber and its cursor",
        epilog="example: router subscriber delete orders billing",
    )
    delete.add_argument("exchange")
    delete.add_argument("name")
    delete.add_argument("--limit-size", type=int, default=0, help="which queue, if several")
    delete.set_defaults(handler=delete_subscriber)

    info = commands.add_parser("info", help="what the server is", epilog="example: router info")
    json_flag(info)
    info.set_defaults(handler=server_info)


def subscriber_row(s: Any) -> dict[str, object]:
    return {
        "exchange": s.exchange,
        "name": s.name,
        "state": s.state,
        "acked": s.acked_offset,
        "head": s.head_offset,
        "lag": s.lag,
        "fill": f"{s.fill * 100:.1f}%",
        "consumer": s.consumer or "-",
        "queue": s.queue_id,
    }


async def list_queues(client: RouterClient, args: argparse.Namespace) -> None:
    table(
        [
            {
                "exchange": q.exchange,
                "limit_size": q.limit_size,
                "buffered": q.buffered,
                "fill": f"{q.fill * 100:.1f}%",
                "head": q.head_offset,
                "active": q.active,
                "sleeping": q.sleeping,
                "id": q.id,
            }
            for q in await client.list_queues(args.exchange)
        ],
        args.json,
    )


async def list_subscribers(client: RouterClient, args: argparse.Namespace) -> None:
    table([subscriber_row(s) for s in await client.list_subscribers(args.exchange)], args.json)


async def describe_subscriber(client: RouterClient, args: argparse.Namespace) -> None:
    found = await client.list_subscribers(args.exchange, args.name)
    if not found:
        raise LookupError(f"subscriber: no subscriber {args.name!r} on {args.exchange!r}")
    table([subscriber_row(s) for s in found], args.json)


async def reset_subscriber(client: RouterClient, args: argparse.Namespace) -> None:
    validation.start_point(args.to)  # a bad --to is a usage error, before any call
    moved = await client.reset_subscriber(args.exchange, args.name, args.to, args.limit_size)
    table([subscriber_row(moved)], args.json)


async def delete_subscriber(client: RouterClient, args: argparse.Namespace) -> None:
    await client.delete_subscriber(args.exchange, args.name, args.limit_size)
    print(f"deleted subscriber {args.name} of {args.exchange}")


async def server_info(client: RouterClient, args: argparse.Namespace) -> None:
    info = await client.server_info()
    table(
        [
            {
                "version": info.version,
                "storage": info.storage,
                "auth": "on" if info.auth else "OFF",
                "last_seq": info.last_seq,
                "exchanges": info.exchanges,
                "queues": info.queues,
            }
        ],
        args.json,
    )
