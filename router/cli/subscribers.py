"""``router subscriber list|describe|reset|delete``, ``router queue list`` and ``router info``."""

from __future__ import annotations

import argparse
from typing import Any

from router import validation
from router.cli.output import add_command, arg, json_flag, table
from router.client import RouterClient


def register(commands: Any) -> None:
    queues = commands.add_parser("queue", help="list queues (admin)")
    actions = queues.add_subparsers(dest="action", required=True)
    exchange_filter = arg("--exchange", default="")
    what, example = "queues with buffer fill", "router queue list --json"
    add_command(actions, "list", list_queues, what, example, exchange_filter, listing=True)

    subscribers = commands.add_parser(
        "subscriber", help="list, describe, reset or delete subscribers"
    )
    actions = subscribers.add_subparsers(dest="action", required=True)
    named = (arg("exchange"), arg("name"))
    which_queue = arg("--limit-size", type=int, default=0, help="which queue, if several")
    to = arg("--to", required=True, help="earliest | latest | offset:N | time:ISO8601")
    what = "subscribers with cursor, lag and state"
    example = "router subscriber list --exchange orders"
    add_command(actions, "list", list_subscribers, what, example, exchange_filter, listing=True)
    example = "router subscriber describe orders billing"
    add_command(
        actions, "describe", describe_subscriber, "one subscriber", example, *named, listing=True
    )
    what = "move a sleeping subscriber's cursor"
    example = "router subscriber reset orders billing --to time:2026-11-01T00:00:00Z"
    add_command(
        actions, "reset", reset_subscriber, what, example, *named, to, which_queue, listing=True
    )
    what = "delete a sleeping subscriber and its cursor"
    example = "router subscriber delete orders billing"
    add_command(actions, "delete", delete_subscriber, what, example, *named, which_queue)

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
