"""``router``: serve, and drive a running router over gRPC.

Errors print one line to stderr and exit non-zero (2: bad usage or input, 1: the server refused).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import uuid
from collections.abc import Sequence

import trio
from grpclib.exceptions import GRPCError, StreamTerminatedError

from router.client import OutgoingEvent, ReceivedEvent, RouterClient
from router.errors import InvalidArgument
from router.settings import DEFAULT_GRPC, Settings, default_db_url

EXAMPLES = """examples:
  router serve --db sqlite:///router.db --grpc 127.0.0.1:50051
  router exchange create orders --pattern 'order.*'
  router publish order.created --data '{"id": 1}'
  echo '{"type":"order.paid","data":{"id":1}}' | router publish --stdin
  router tail orders --name billing --from earliest --max 10
"""


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="router",
        description="A durable event router: store once, route by pattern, replay to subscribers.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument(
        "--server",
        default=os.environ.get("ROUTER_ADDR", DEFAULT_GRPC),
        help="router address HOST:PORT (env ROUTER_ADDR; default %(default)s)",
    )
    commands = top.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve",
        help="run the router",
        epilog="example: router serve --db postgresql://localhost/router",
    )
    serve.add_argument(
        "--db",
        default=None,
        help="sqlite:///path or postgresql://... (env ROUTER_DB; default ./router.db)",
    )
    serve.add_argument(
        "--grpc", default=DEFAULT_GRPC, help="gRPC listen address (default %(default)s)"
    )
    serve.add_argument(
        "--consumer-timeout", type=float, default=30.0, help="seconds a consumer may stay silent"
    )
    serve.add_argument("--log-level", default="INFO")

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
    listing = actions.add_parser(
        "list", help="list exchanges", epilog="example: router exchange list --json"
    )
    listing.add_argument("--json", action="store_true")
    delete = actions.add_parser(
        "delete",
        help="delete an exchange (events stay stored)",
        epilog="example: router exchange delete orders",
    )
    delete.add_argument("name")

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

    tail = commands.add_parser(
        "tail",
        help="print an exchange's events as a durable subscriber",
        epilog="example: router tail orders --name billing --from earliest --max 10",
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
        "--limit-size", type=int, default=0, help="the queue's buffer size (0: default)"
    )
    tail.add_argument("--json", action="store_true", help="one JSON object per line")
    return top


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        if args.command == "serve":
            run_serve(args)
        else:
            asyncio.run(dispatch(args))
    except KeyboardInterrupt:
        sys.exit(130)
    except GRPCError as error:
        fail(f"{error.status.name}: {error.message}", 1)
    except (InvalidArgument, ValueError) as error:
        fail(str(error), 2)
    except (ConnectionError, OSError, StreamTerminatedError) as error:
        fail(f"cannot reach the router at {args.server}: {error}", 1)


def fail(message: str, code: int) -> None:
    print(f"router: {message}", file=sys.stderr)
    sys.exit(code)


def run_serve(args: argparse.Namespace) -> None:
    from router.serve import serve

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    settings = Settings(
        db_url=args.db or default_db_url(),
        grpc_address=args.grpc,
        consumer_timeout_s=args.consumer_timeout,
    )
    trio.run(serve, settings)


async def dispatch(args: argparse.Namespace) -> None:
    async with RouterClient(args.server) as client:
        if args.command == "exchange":
            await exchange_command(client, args)
        elif args.command == "publish":
            await publish_command(client, args)
        elif args.command == "tail":
            await tail_command(client, args)


async def exchange_command(client: RouterClient, args: argparse.Namespace) -> None:
    if args.action == "create":
        created = await client.create_exchange(args.name, args.pattern)
        print(
            f"created exchange {created.name} patterns={','.join(created.patterns)} history={created.head_offset}"
        )
    elif args.action == "list":
        exchanges = await client.list_exchanges()
        if args.json:
            for e in exchanges:
                print(
                    json.dumps(
                        {"name": e.name, "patterns": list(e.patterns), "head": e.head_offset}
                    )
                )
        else:
            print(f"{'NAME':24} {'HEAD':>10}  PATTERNS")
            for e in exchanges:
                print(f"{e.name:24} {e.head_offset:>10}  {' '.join(e.patterns)}")
    elif args.action == "delete":
        await client.delete_exchange(args.name)
        print(f"deleted exchange {args.name}")


def event_from_json(line: str, number: int) -> OutgoingEvent:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise InvalidArgument(f"stdin line {number}: not JSON: {error}") from None
    if not isinstance(record, dict) or not isinstance(record.get("type"), str):
        raise InvalidArgument(
            f'stdin line {number}: expected {{"type": "...", "data": ..., "id": ...}}'
        )
    event_id = record.get("id") or str(uuid.uuid4())
    return OutgoingEvent(record["type"], json.dumps(record.get("data")).encode(), id=str(event_id))


async def publish_command(client: RouterClient, args: argparse.Namespace) -> None:
    if args.stdin:
        batch: list[OutgoingEvent] = []
        total = 0
        for number, line in enumerate(sys.stdin, 1):
            if line.strip():
                batch.append(event_from_json(line, number))
            if len(batch) >= args.batch:
                total += len(await client.publish(batch))
                batch = []
        if batch:
            total += len(await client.publish(batch))
        print(f"published {total} events")
        return
    if not args.type:
        raise InvalidArgument("type: give an event type, or --stdin")
    try:
        data = json.loads(args.data)
    except json.JSONDecodeError as error:
        raise InvalidArgument(f"--data: not JSON: {error}") from None
    event = OutgoingEvent(args.type, json.dumps(data).encode(), id=args.id or str(uuid.uuid4()))
    (ack,) = await client.publish([event])
    where = " ".join(f"{x}:{o}" for x, o in ack.offsets.items()) or "(no exchange matched)"
    print(f"{'duplicate of' if ack.duplicate else 'stored'} seq={ack.seq} id={ack.id} {where}")


def render(event: ReceivedEvent, as_json: bool) -> str:
    try:
        data: object = json.loads(event.payload)
    except (json.JSONDecodeError, UnicodeDecodeError):
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


async def tail_command(client: RouterClient, args: argparse.Namespace) -> None:
    seen = 0
    async with client.subscribe(
        args.exchange, args.name, args.start, args.limit_size
    ) as subscription:
        heartbeat = asyncio.ensure_future(keep_alive(subscription))
        try:
            async for batch in subscription:
                if args.max:
                    batch = batch[: args.max - seen]
                for event in batch:
                    print(render(event, args.json), flush=True)
                seen += len(batch)
                if batch:
                    await subscription.ack(batch[-1].offset)
                if args.max and seen >= args.max:
                    break
        finally:
            heartbeat.cancel()


async def keep_alive(subscription: object) -> None:
    while True:
        await asyncio.sleep(5)  # the heartbeat interval, well inside the server's timeout
        await subscription.heartbeat()  # type: ignore[attr-defined]
