"""``router stats [--watch]``: in/s, out/s, fill and lag per exchange and subscriber, and each
subscriber's consumers, unsettled, redelivered/s and parked (admin)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from router.cli.output import json_flag, table
from router.client import RouterClient
from router.core.errors import InvalidArgument


def register(commands: Any) -> None:
    stats = commands.add_parser(
        "stats",
        help="exchanges and subscribers: in/s, out/s, fill %%, lag, state (admin)",
        epilog="example: router stats --watch --interval 2",
    )
    stats.add_argument("--watch", action="store_true", help="refresh in place until Ctrl-C")
    stats.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")
    stats.add_argument("--count", type=int, default=0, help="with --watch: stop after N frames")
    json_flag(stats, "one JSON object per refresh")
    stats.set_defaults(handler=show_stats)


def rate(now: Any, before: Any, field: str, seconds: float) -> str:
    if before is None or seconds <= 0:
        return "-"
    return f"{max(0, getattr(now, field) - getattr(before, field)) / seconds:,.0f}"


def stats_frame(now: Any, before: Any) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """The exchanges' and subscribers' rows; rates from the counters' change since ``before``."""
    seconds = (now.at_us - before.at_us) / 1e6 if before is not None else 0.0
    old_exchanges = {e.name: e for e in before.exchanges} if before else {}
    old_queues = {q.id: q for q in before.queues} if before else {}
    old_subscribers = {(s.queue_id, s.name): s for s in before.subscribers} if before else {}
    queues = {q.id: q for q in now.queues}
    exchanges = [
        {
            "exchange": e.name,
            "head": e.head_offset,
            "in/s": rate(e, old_exchanges.get(e.name), "events_in", seconds),
            "patterns": " ".join(e.patterns),
        }
        for e in now.exchanges
    ]
    subscribers = [
        {
            "exchange": s.exchange,
            "subscriber": s.name,
            "state": "stalled" if s.stalled else s.state,
            "consumers": s.consumers,
            "in/s": rate(queues[s.queue_id], old_queues.get(s.queue_id), "events_in", seconds)
            if s.queue_id in queues
            else "-",
            "out/s": rate(s, old_subscribers.get((s.queue_id, s.name)), "events_out", seconds),
            "fill": f"{queues[s.queue_id].fill * 100:.0f}%" if s.queue_id in queues else "-",
            "lag": s.lag,
            "acked": s.acked_offset,
            "unsettled": s.unsettled,
            "redelivered/s": rate(
                s, old_subscribers.get((s.queue_id, s.name)), "redelivered", seconds
            ),
            "parked": s.parked,
        }
        for s in now.subscribers
    ]
    return exchanges, subscribers


async def show_stats(client: RouterClient, args: argparse.Namespace) -> None:
    before = None
    frames = 0
    if args.watch and args.interval <= 0:
        raise InvalidArgument("--interval: must be more than 0")
    while True:
        now = await client.stats()
        exchanges, subscribers = stats_frame(now, before)
        links = json.loads(now.links_json or "{}")
        if args.json:
            frame = {
                "at_us": now.at_us,
                "exchanges": exchanges,
                "subscribers": subscribers,
                "links": links,
            }
            print(json.dumps(frame))
        else:
            if args.watch and sys.stdout.isatty():
                print("\x1b[H\x1b[2J", end="")  # refresh in place
            print(f"published since start: {now.published}   last seq: {now.last_seq}")
            for link, values in links.items():
                print(f"{link}: " + "  ".join(f"{k}={v}" for k, v in values.items() if v != ""))
            table(exchanges, False)
            print()
            table(subscribers, False)
        sys.stdout.flush()
        frames += 1
        if not args.watch or (args.count and frames >= args.count):
            return
        before = now
        await asyncio.sleep(args.interval)  # the refresh period asked for
