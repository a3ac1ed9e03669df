"""``router publish``, ``router tail`` (a durable subscriber) and ``router replay`` (stored
events, printed or re-emitted into RabbitMQ)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from grpclib.const import Status
from grpclib.exceptions import GRPCError

from router.cli.output import json_flag, progress
from router.client import ClientSubscription, OutgoingEvent, ReceivedEvent, RouterClient
from router.core import jsontext
from router.core.errors import InvalidArgument
from router.core.ids import uuid7

PROGRESS_EVERY = 10_000  # events between progress lines on stderr for long publishes
REEMIT_ATTEMPTS = 10
REEMIT_RETRY_S = 0.5  # between attempts while the router still holds the old stream
HEARTBEAT_S = 5.0  # well inside the server's consumer timeout


def register(commands: Any) -> None:
    publish = commands.add_parser(
        "publish",
        help="publish events",
        epilog="example: router publish order.created --data '{\"id\": 1}'",
    )
    publish.add_argument("type", nargs="?")
    publish.add_argument("--data", default="null", help="JSON payload")
    publish.add_argument("--id", default=None, help="event id (UUID); the idempotency key")
    publish.add_argument(
        "--stdin", action="store_true", help='read JSON lines {"type":..,"data":..,"id":..}'
    )
    publish.add_argument("--batch", type=int, default=500, help="events per request with --stdin")
    publish.set_defaults(handler=publish_events)

    tail = commands.add_parser(
        "tail",
        help="print an exchange's events as a durable subscriber",
        epilog="example: router tail orders --name billing --from earliest --until-head",
    )
    tail.add_argument("exchange")
    tail.add_argument("--name", required=True, help="the durable subscriber's name")
    tail.add_argument(
        "--from",
        dest="start",
        default="stored",
        help="stored | earliest | latest | offset:N | time:ISO8601",
    )
    tail.add_argument(
        "--max", type=int, default=0, help="exit after N events (0: run until Ctrl-C)"
    )
    tail.add_argument(
        "--until-head",
        action="store_true",
        help="exit at the exchange's head as it was when the tail began (with --max: at"
        " whichever comes first)",
    )
    tail.add_argument(
        "--limit-size", type=int, default=0, help="the queue's buffer size (0: default)"
    )
    json_flag(tail)
    tail.set_defaults(handler=tail_events)

    replay = commands.add_parser(
        "replay",
        help="print stored events of an exchange from a start point (no subscriber, no cursor),"
        " or re-emit them into a RabbitMQ exchange",
        epilog="examples: router replay orders --from time:2026-11-01T00:00:00Z --max 1000 --json\n"
        "          router replay orders --from earliest --to-amqp-exchange orders.replayed",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    replay.add_argument("exchange")
    replay.add_argument(
        "--from",
        dest="start",
        default=None,
        help="earliest | latest | offset:N | time:ISO8601 (default: earliest; with"
        " --to-amqp-exchange: where the last re-emit stopped)",
    )
    replay.add_argument(
        "--to-amqp-exchange",
        default=None,
        help="publish into this RabbitMQ exchange (publisher confirms, resumable) instead of"
        " printing",
    )
    replay.add_argument(
        "--amqp-url", default="", help="with --to-amqp-exchange (default: the router's own)"
    )
    replay.add_argument(
        "--name",
        default="",
        help="with --to-amqp-exchange: the durable subscriber that keeps the position"
        " (default reemit.EXCHANGE)",
    )
    replay.add_argument("--max", type=int, default=0, help="stop after N events (0: to the head)")
    json_flag(replay)
    replay.set_defaults(handler=replay_events)


def event_from_json(line: str, number: int) -> OutgoingEvent:
    try:
        record = jsontext.loads(line)
    except ValueError as error:
        raise InvalidArgument(f"stdin line {number}: not JSON: {error}") from None
    if not isinstance(record, dict) or not isinstance(record.get("type"), str):
        raise InvalidArgument(
            f'stdin line {number}: expected {{"type": "...", "data": ..., "id": ...}}'
        )
    event_id = record.get("id") or uuid7()
    return OutgoingEvent(record["type"], json.dumps(record.get("data")).encode(), id=str(event_id))


async def publish_events(client: RouterClient, args: argparse.Namespace) -> None:
    if args.stdin:
        batch: list[OutgoingEvent] = []
        total = 0
        for number, line in enumerate(sys.stdin, 1):
            if line.strip():
                batch.append(event_from_json(line, number))
            if len(batch) >= args.batch:
                total += len(await client.publish(batch))
                batch = []
                if total % PROGRESS_EVERY < args.batch:
                    progress(f"... {total} events published")
        if batch:
            total += len(await client.publish(batch))
        print(f"published {total} events")
        return
    if not args.type:
        raise InvalidArgument("type: give an event type, or --stdin")
    try:
        data = jsontext.loads(args.data)
    except ValueError as error:
        raise InvalidArgument(f"--data: not JSON: {error}") from None
    event = OutgoingEvent(args.type, json.dumps(data).encode(), id=args.id or uuid7())
    (ack,) = await client.publish([event])
    where = " ".join(f"{x}:{o}" for x, o in ack.offsets.items()) or "(no exchange matched)"
    print(f"{'duplicate of' if ack.duplicate else 'stored'} seq={ack.seq} id={ack.id} {where}")


def render(event: ReceivedEvent, as_json: bool) -> str:
    try:
        data: object = jsontext.loads(event.payload)
    except ValueError:  # not JSON, or JSON that could not be printed back (NaN, deep...)
        data = event.payload.decode("utf-8", "replace")
    if as_json:
        return json.dumps(
            {
                "offset": event.offset,
                "type": event.type,
                "id": event.id,
                "seq": event.seq,
                "published_at_us": event.published_at_us,
                "data": data,
                "headers": event.headers,
            }
        )
    return f"{event.offset}\t{event.type}\t{json.dumps(data)}"


async def tail_events(client: RouterClient, args: argparse.Namespace) -> None:
    """``--from`` is explicit: it moves an existing (sleeping) subscriber's cursor too."""
    if args.max < 0:
        raise InvalidArgument("--max: must be 0 or more")
    seen = 0
    async with client.subscribe(
        args.exchange, args.name, args.start, args.limit_size, start_if_new=False
    ) as subscription:
        head = subscription.head_offset if args.until_head else None
        if head is not None and subscription.start_offset > head:
            return  # nothing stored from the start point up to the head
        heartbeat = asyncio.ensure_future(keep_alive(subscription))
        try:
            async for received in subscription:
                batch = received[: args.max - seen] if args.max else received[:]
                if head is not None:
                    batch = [event for event in batch if event.offset <= head]
                for event in batch:
                    print(render(event, args.json), flush=True)
                seen += len(batch)
                if batch:
                    await subscription.ack(batch[-1].offset)
                if args.max and seen >= args.max:
                    break
                if head is not None and received and received[-1].offset >= head:
                    break
        finally:
            heartbeat.cancel()


async def keep_alive(subscription: ClientSubscription) -> None:
    while True:
        await asyncio.sleep(HEARTBEAT_S)  # the heartbeat period
        await subscription.heartbeat()


async def replay_events(client: RouterClient, args: argparse.Namespace) -> None:
    """Page through stored events up to the head as it was at the start; progress on stderr."""
    if args.max < 0:
        raise InvalidArgument("--max: must be 0 or more")
    if args.to_amqp_exchange:
        await reemit_events(client, args)
        return
    start = args.start or "earliest"
    printed = 0
    head = None
    while True:
        page = 1000 if not args.max else min(1000, args.max - printed)
        events, current_head, following = await client.read(
            args.exchange, start, page, on_gap=say_gap
        )
        head = current_head if head is None else head
        for event in events:
            if event.offset > head:
                break
            print(render(event, args.json))
            printed += 1
        if printed and printed % PROGRESS_EVERY < len(events):
            progress(f"... {printed} events")
        if not events or following > head or (args.max and printed >= args.max):
            break
        start = f"offset:{following}"
    print(f"replayed {printed} events (head {head})", file=sys.stderr)


def say_gap(gap: Any) -> None:
    """A gap notice on stderr: the events retention removed before they were read."""
    first = gap.from_offset or "?"
    print(f"gap: offsets {first}..{gap.to_offset} were removed by retention", file=sys.stderr)


async def reemit_events(client: RouterClient, args: argparse.Namespace) -> None:
    """The router publishes into RabbitMQ; this prints its progress on stderr.

    A re-emit interrupted a moment ago may still hold its subscriber while the router notices
    the lost connection: that refusal is retried for a few seconds before it is reported.
    """
    last = None
    for attempt in range(REEMIT_ATTEMPTS):
        try:
            async for step in client.reemit(
                args.exchange,
                args.to_amqp_exchange,
                args.start,
                subscriber=args.name,
                amqp_url=args.amqp_url,
                most=args.max,
            ):
                last = step
                progress(
                    f"... {step.confirmed} confirmed (offset {step.last_offset}"
                    f" of {step.until_offset})"
                )
            break
        except GRPCError as error:
            busy = error.status is Status.FAILED_PRECONDITION and "consumer attached" in str(
                error.message
            )
            if not busy or attempt == REEMIT_ATTEMPTS - 1:
                raise
            # Back-off between a bounded number of attempts: the router frees the subscriber
            # when it notices the old stream's connection is gone, and tells no one when, so
            # there is no condition to wait on from here.
            await asyncio.sleep(REEMIT_RETRY_S)
    if last is not None:
        print(
            f"re-emitted {last.confirmed} events into {args.to_amqp_exchange}"
            f" (through offset {last.last_offset})",
            file=sys.stderr,
        )
