"""``router subscriber list|describe|reset|delete|settings|parked|redrive|discard``,
``router queue list`` and ``router info``."""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from typing import Any

from router._proto.router.v1 import router_pb2 as pb
from router.cli.output import add_command, arg, json_flag, table
from router.client import RouterClient
from router.core import validation
from router.core.printable import escape

# ``subscriber settings`` flags: (flag, settings field, type, help)
SETTINGS = (
    ("--mode", "mode", str, "exclusive | shared (while no consumer is attached)"),
    ("--max-consumers", "max_consumers", int, "shared: consumers at once"),
    ("--prefetch", "prefetch", int, "unsettled deliveries out per consumer"),
    ("--dispatch", "dispatch", str, "shared: round_robin | pinned"),
    ("--key-header", "key_header", str, "pinned: the header that keys an event"),
    ("--ack-wait", "ack_wait_s", float, "seconds before an unsettled delivery is sent again"),
    ("--max-deliveries", "max_deliveries", int, "deliveries before an event is parked (0: never)"),
    ("--backoff-initial", "backoff_initial_s", float, "seconds before the first redelivery"),
    ("--backoff-max", "backoff_max_s", float, "the back-off's cap, in seconds"),
    ("--backoff-multiplier", "backoff_multiplier", float, "each redelivery waits this much longer"),
    ("--stall-after", "stall_after_s", float, "seconds of an unmoved floor with lag: stalled"),
)


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
    what = "change a subscriber's settlement and sharing settings"
    example = "router subscriber settings orders billing --mode shared --prefetch 50"
    flags = [arg(flag, dest=field, type=kind, help=text) for flag, field, kind, text in SETTINGS]
    add_command(
        actions, "settings", set_settings, what, example, *named, *flags, which_queue, listing=True
    )
    what = "the events a subscriber parked, with reason, deliveries and age"
    example = "router subscriber parked orders billing --json"
    after = arg("--after", type=int, default=0, help="the page after this offset")
    most = arg("--max", type=int, default=1000, help="events at most (1..10000)")
    follow = arg(
        "--follow",
        action="store_true",
        help="after the list, print each event parked from then on, until interrupted",
    )
    add_command(
        actions,
        "parked",
        list_parked,
        what,
        example,
        *named,
        after,
        most,
        follow,
        which_queue,
        listing=True,
    )
    offsets = arg("--offset", type=int, action="append", default=[], help="a parked offset")
    every = arg("--all", action="store_true", help="every parked event")
    what = "deliver parked events again through the same subscriber"
    example = "router subscriber redrive orders billing --all"
    add_command(actions, "redrive", redrive, what, example, *named, offsets, every, which_queue)
    what = "drop parked events from the list"
    example = "router subscriber discard orders billing --offset 17"
    add_command(actions, "discard", discard, what, example, *named, offsets, every, which_queue)

    info = commands.add_parser("info", help="what the server is", epilog="example: router info")
    json_flag(info)
    info.set_defaults(handler=server_info)


def subscriber_row(s: Any) -> dict[str, object]:
    return {
        "exchange": s.exchange,
        "name": s.name,
        "state": "stalled" if s.stalled else s.state,
        "mode": s.settings.mode or "exclusive",
        "acked": s.acked_offset,
        "head": s.head_offset,
        "lag": s.lag,
        "consumers": s.consumers,
        "unsettled": s.unsettled,
        "parked": s.parked,
        "holding": "yes" if s.holding_log else "-",
        "fill": f"{s.fill * 100:.1f}%",
        "consumer": s.consumer or "-",
        "queue": s.queue_id,
    }


def described(s: Any) -> dict[str, object]:
    """A subscriber's row with its settings and settlement figures (``describe``)."""
    row = subscriber_row(s)
    row.update({f"settings.{field.name}": value for field, value in s.settings.ListFields()})
    row.update(
        redelivered=s.redelivered,
        oldest_unsettled_s=round(s.oldest_unsettled_s, 3),
        oldest_parked_s=round(s.oldest_parked_s, 3),
        stalled_at=s.stalled_at,
    )
    return row


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
    if args.json:
        table([described(s) for s in found], True)
        return
    for key, value in described(found[0]).items():
        print(f"{key:<28} {escape(str(value))}")


async def reset_subscriber(client: RouterClient, args: argparse.Namespace) -> None:
    validation.start_point(args.to)  # a bad --to is a usage error, before any call
    moved = await client.reset_subscriber(args.exchange, args.name, args.to, args.limit_size)
    table([subscriber_row(moved)], args.json)


async def delete_subscriber(client: RouterClient, args: argparse.Namespace) -> None:
    await client.delete_subscriber(args.exchange, args.name, args.limit_size)
    print(f"deleted subscriber {args.name} of {args.exchange}")


async def set_settings(client: RouterClient, args: argparse.Namespace) -> None:
    changes = {
        field: getattr(args, field)
        for _, field, _, _ in SETTINGS
        if getattr(args, field, None) is not None
    }
    if not changes:
        raise ValueError("settings: give at least one setting to change (see --help)")
    changed = await client.set_subscriber_settings(
        args.exchange, args.name, pb.SubscriberSettings(**changes), args.limit_size
    )
    table([described(changed)], args.json)


async def list_parked(client: RouterClient, args: argparse.Namespace) -> None:
    if args.follow:
        async for parked in client.follow_parked(args.exchange, args.name, args.limit_size):
            row = _parked_row(parked)
            print(json.dumps(row) if args.json else "  ".join(escape(str(v)) for v in row.values()))
            sys.stdout.flush()
        return
    found = await client.list_parked(
        args.exchange, args.name, args.after, args.max, args.limit_size
    )
    rows = [_parked_row(p) for p in found.parked]
    table(rows, args.json)
    if not args.json and len(rows) < found.total:
        print(f"({len(rows)} of {found.total}; --after {rows[-1]['offset']} for more)")


def _parked_row(p: pb.ParkedEvent) -> dict[str, object]:
    return {
        "offset": p.offset,
        "type": p.event.type,
        "id": p.event.id,
        "deliveries": p.deliveries,
        "parked_at": _when(p.parked_at_us),
        "state": "redriving" if p.redriving else "parked",
        "reason": p.reason,
    }


def _chosen(args: argparse.Namespace) -> list[int]:
    if args.all == bool(args.offset):
        raise ValueError("offsets: give --offset N (one or more) or --all")
    return list(args.offset)


async def redrive(client: RouterClient, args: argparse.Namespace) -> None:
    done = await client.redrive_parked(args.exchange, args.name, _chosen(args), args.limit_size)
    print(f"re-driving {len(done)} parked event(s) of {args.name}: {_listed(done)}")


async def discard(client: RouterClient, args: argparse.Namespace) -> None:
    done = await client.discard_parked(args.exchange, args.name, _chosen(args), args.limit_size)
    print(f"discarded {len(done)} parked event(s) of {args.name}: {_listed(done)}")


def _listed(offsets: list[int]) -> str:
    shown = ", ".join(str(o) for o in offsets[:20])
    return shown + (" ..." if len(offsets) > 20 else "") if offsets else "(none)"


def _when(us: int) -> str:
    return datetime.datetime.fromtimestamp(us / 1e6, datetime.UTC).isoformat(timespec="seconds")


async def server_info(client: RouterClient, args: argparse.Namespace) -> None:
    info = await client.server_info()
    table(
        [
            {
                "version": info.version,
                "storage": info.storage,
                "auth": "on" if info.auth else "OFF",
                "last_seq": info.last_seq,
                "first_seq": info.first_seq,
                "exchanges": info.exchanges,
                "queues": info.queues,
                "retention": info.retention or "keep all",
                **(
                    {
                        "leader": f"{info.leader} (epoch {info.epoch})",
                        "database": info.database_host,
                    }
                    if info.leader
                    else {}
                ),
            }
        ],
        args.json,
    )
    if info.routers and not args.json:
        print()
        table(
            [
                {
                    "router": node.name,
                    "state": "leading" if node.leading else "standby",
                    "grpc": node.grpc_address,
                    "http": node.http_address,
                    "seen": f"{node.seen_s_ago:.1f}s ago",
                }
                for node in info.routers
            ],
            False,
        )
