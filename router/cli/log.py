"""``router log trim``: remove the oldest events by hand (admin), with progress."""

from __future__ import annotations

import argparse
import datetime
from typing import Any

from router.cli.output import add_command, arg, progress
from router.client import RouterClient
from router.core.errors import InvalidArgument


def register(commands: Any) -> None:
    actions = commands.add_parser("log", help="the event log itself (admin)")
    actions = actions.add_subparsers(dest="action", required=True)
    add_command(
        actions,
        "trim",
        trim_log,
        "remove the events before a seq or a time, with their exchange offsets; subscribers"
        " behind are told by a gap notice",
        "router log trim --before time:2026-11-01T00:00:00Z --dry-run",
        arg("--before", required=True, help="seq:N (kept from N) or time:ISO-8601"),
        arg("--dry-run", action="store_true", help="count only; remove nothing"),
        arg("--step", type=int, default=10_000, help="events removed per step (default 10000)"),
    )


async def trim_log(client: RouterClient, args: argparse.Namespace) -> None:
    if not 1 <= args.step <= 100_000:
        raise InvalidArgument(f"--step: {args.step} is outside 1..100000")
    try:
        first = await client.trim_log(args.before, args.dry_run, args.step)
    except ValueError as error:
        raise InvalidArgument(f"--{error}") from error
    if args.dry_run:
        print(f"would remove {first.removed} events; the log would begin at seq {first.first_seq}")
        return
    removed, parked, report = first.removed, first.parked_dropped, first
    while report.remaining and report.removed:
        progress(f"... removed {removed} events, {report.remaining} to go")
        report = await client.trim_log(args.before, False, args.step)
        removed += report.removed
        parked += report.parked_dropped
    until = _when(report.removed_until_us) if report.removed_until_us else "-"
    print(
        f"removed {removed} events; the log begins at seq {report.first_seq}"
        f" (newest removed published {until}); parked references dropped: {parked}"
    )


def _when(us: int) -> str:
    return datetime.datetime.fromtimestamp(us / 1e6, datetime.UTC).isoformat(timespec="seconds")
