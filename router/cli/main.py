"""``router``: serve, and drive a running router over gRPC.

Errors print one line to stderr and exit non-zero (2: bad usage or input, 1: the server refused).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import re
import sys
import uuid
from collections.abc import Sequence
from typing import Any

import trio
from grpclib.const import Status
from grpclib.exceptions import GRPCError, StreamTerminatedError

from router import validation
from router.client import OutgoingEvent, ReceivedEvent, RouterClient
from router.errors import InvalidArgument
from router.patterns import validate_pattern
from router.settings import (
    DEFAULT_GRPC,
    DEFAULT_HTTP,
    ROLES,
    AmqpSource,
    Settings,
    default_db_url,
    split_host_port,
)

# The cycle collector's thresholds for a serving router (Python's default: 700, 10, 10). Every
# event lives on in its queue's ring buffer for a while as a few GC-tracked objects, so the
# default thresholds had the collector promote them and walk them all again and again in full
# collections. Interleaved runs on PostgreSQL (`benchmarks.peers --peers '' --events 5000`):
# end to end 25.6-33.8k events/s in five runs without these (two with gc.freeze() alone),
# 37.3-46.8k in five with them (three also with gc.freeze()); (20,000, 10, 10) gave 30.8-35.6k.
# Router CPU per event end to end, a steadier measure on this noisy machine (SQLite, 100,000
# events, /proc counters, four runs each, interleaved): 29.9-34.7 us user without, 25.8-29.1
# with. Collector time over a whole benchmark run: 2.1 s with the default (22 full collections
# of up to 136 ms), 0.2 s with these (the longest pause 50 ms); see benchmarks/README.md.
# Cyclic garbage still goes in the young collections; only what outlives them waits.
SERVER_GC_THRESHOLDS = (20_000, 20, 100)
PROGRESS_EVERY = 10_000  # events between progress lines on stderr for long publishes
EXAMPLES = """examples:
  router serve --db sqlite:///router.db --grpc 127.0.0.1:50051
  export ROUTER_TOKEN=...            # printed once by the first start, or ROUTER_ADMIN_TOKEN
  router exchange create orders --pattern 'order.*'
  router publish order.created --data '{"id": 1}'
  echo '{"type":"order.paid","data":{"id":1}}' | router publish --stdin
  router tail orders --name billing --from earliest --max 10
  router user add billing-service --role consumer
  router subscriber list --exchange orders
  router subscriber reset orders billing --to earliest
  router stats --watch
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
    top.add_argument(
        "--token",
        default=None,
        help="bearer token (env ROUTER_TOKEN); the role must allow the command",
    )
    top.add_argument(
        "--tls-ca",
        default=os.environ.get("ROUTER_TLS_CA"),
        help="connect with TLS, trusting this CA file (env ROUTER_TLS_CA)",
    )
    top.add_argument(
        "--tls", action="store_true", help="connect with TLS, trusting the system's CAs"
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
        "--http",
        default=DEFAULT_HTTP,
        help="REST API listen address, or 'off' (default %(default)s)",
    )
    serve.add_argument(
        "--consumer-timeout", type=float, default=30.0, help="seconds a consumer may stay silent"
    )
    serve.add_argument(
        "--shutdown-grace",
        type=float,
        default=10.0,
        help="seconds in-flight calls get to finish after SIGTERM/Ctrl-C (default %(default)s)",
    )
    serve.add_argument("--log-level", default="INFO")
    serve.add_argument(
        "--dev", action="store_true", help="turn authentication OFF (development only)"
    )
    serve.add_argument(
        "--metrics", choices=["on", "off"], default="on", help="rate sampling and /metrics"
    )
    serve.add_argument("--tls-cert", default=None, help="PEM certificate: TLS for gRPC and HTTP")
    serve.add_argument("--tls-key", default=None, help="PEM private key of --tls-cert")
    form = serve.add_argument_group("deployment form")
    form.add_argument(
        "--role",
        choices=list(ROLES),
        default="all",
        help="all: ingest, store, route, deliver (default); ingest: accept publishes and serve"
        " the committed log; route: follow --upstream and deliver",
    )
    form.add_argument("--upstream", default=None, help="route: the ingest node's gRPC HOST:PORT")
    form.add_argument(
        "--upstream-token",
        default=None,
        help="route: an admin token of the ingest node (env ROUTER_UPSTREAM_TOKEN)",
    )
    form.add_argument(
        "--upstream-tls-ca", default=None, help="route: CA file to reach the ingest node by TLS"
    )
    form.add_argument(
        "--node",
        default="route",
        help="route: this node's name; its tables live in PostgreSQL schema route_NODE",
    )
    amqp = serve.add_argument_group("RabbitMQ ingest")
    amqp.add_argument("--amqp-url", default=None, help="amqp://user:pass@host:5672/vhost")
    amqp.add_argument("--amqp-exchange", default=None, help="the RabbitMQ exchange to ingest from")
    amqp.add_argument(
        "--amqp-binding",
        action="append",
        default=None,
        help="binding key of the ingest queue (repeatable; default '#': everything)",
    )
    amqp.add_argument("--amqp-queue", default="", help="queue name (default router.EXCHANGE)")
    amqp.add_argument(
        "--amqp-prefetch", type=int, default=1000, help="unacked messages held at most"
    )
    amqp.add_argument(
        "--amqp-queue-type",
        choices=["classic", "quorum"],
        default="classic",
        help="the ingest queue's type (quorum: replicated across a RabbitMQ cluster)",
    )

    user = commands.add_parser("user", help="add, remove or list users (admin)")
    user_actions = user.add_subparsers(dest="action", required=True)
    add = user_actions.add_parser(
        "add",
        help="add a user and print its first token (shown once)",
        epilog="example: router user add billing-service --role consumer",
    )
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=["publisher", "consumer", "admin"])
    add.add_argument("--json", action="store_true")
    remove = user_actions.add_parser(
        "remove",
        help="remove a user: its tokens stop working and its streams end",
        epilog="example: router user remove billing-service",
    )
    remove.add_argument("name")
    users = user_actions.add_parser("list", help="list users", epilog="example: router user list")
    users.add_argument("--json", action="store_true")

    token = commands.add_parser("token", help="issue or revoke tokens (admin)")
    token_actions = token.add_subparsers(dest="action", required=True)
    issue = token_actions.add_parser(
        "issue",
        help="issue another token for a user (shown once)",
        epilog="example: router token issue billing-service",
    )
    issue.add_argument("user")
    issue.add_argument("--json", action="store_true")
    revoke = token_actions.add_parser(
        "revoke",
        help="revoke a token by its id (see 'router user list')",
        epilog="example: router token revoke 1f2e3d4c",
    )
    revoke.add_argument("token_id")

    queue = commands.add_parser("queue", help="list queues (admin)")
    queue_actions = queue.add_subparsers(dest="action", required=True)
    queues = queue_actions.add_parser(
        "list", help="queues with buffer fill", epilog="example: router queue list --json"
    )
    queues.add_argument("--exchange", default="")
    queues.add_argument("--json", action="store_true")

    sub = commands.add_parser("subscriber", help="list, describe, reset or delete subscribers")
    sub_actions = sub.add_subparsers(dest="action", required=True)
    subs = sub_actions.add_parser(
        "list",
        help="subscribers with cursor, lag and state",
        epilog="example: router subscriber list --exchange orders",
    )
    subs.add_argument("--exchange", default="")
    subs.add_argument("--json", action="store_true")
    describe = sub_actions.add_parser(
        "describe",
        help="one subscriber",
        epilog="example: router subscriber describe orders billing",
    )
    for action in (describe,):
        action.add_argument("exchange")
        action.add_argument("name")
        action.add_argument("--json", action="store_true")
    reset = sub_actions.add_parser(
        "reset",
        help="move a sleeping subscriber's cursor",
        epilog="example: router subscriber reset orders billing --to time:2026-11-01T00:00:00Z",
    )
    reset.add_argument("exchange")
    reset.add_argument("name")
    reset.add_argument("--to", required=True, help="earliest | latest | offset:N | time:ISO8601")
    reset.add_argument("--limit-size", type=int, default=0, help="which queue, if several")
    reset.add_argument("--json", action="store_true")
    forget = sub_actions.add_parser(
        "delete",
        help="delete a sleeping subscriber and its cursor",
        epilog="example: router subscriber delete orders billing",
    )
    forget.add_argument("exchange")
    forget.add_argument("name")
    forget.add_argument("--limit-size", type=int, default=0, help="which queue, if several")

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
    replay.add_argument("--json", action="store_true", help="one JSON object per line")

    stats = commands.add_parser(
        "stats",
        help="exchanges and subscribers: in/s, out/s, fill %%, lag, state (admin)",
        epilog="example: router stats --watch --interval 2",
    )
    stats.add_argument("--watch", action="store_true", help="refresh in place until Ctrl-C")
    stats.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")
    stats.add_argument("--count", type=int, default=0, help="with --watch: stop after N frames")
    stats.add_argument("--json", action="store_true", help="one JSON object per refresh")

    info = commands.add_parser("info", help="what the server is", epilog="example: router info")
    info.add_argument("--json", action="store_true")

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
    describe_exchange = actions.add_parser(
        "describe",
        help="one exchange: patterns, head, events routed since start",
        epilog="example: router exchange describe orders",
    )
    describe_exchange.add_argument("name")
    describe_exchange.add_argument("--json", action="store_true")
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
    except LookupError as error:
        fail(str(error).strip("'\""), 1)
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
        http_address=None if args.http == "off" else args.http,
        consumer_timeout_s=args.consumer_timeout,
        shutdown_grace_s=args.shutdown_grace,
        auth=not args.dev,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        metrics=args.metrics == "on",
        amqp=amqp_source(args),
        role=args.role,
        upstream=args.upstream,
        upstream_tls_ca=args.upstream_tls_ca,
        node=args.node,
        **({"upstream_token": args.upstream_token} if args.upstream_token else {}),
    )
    check_form(settings)
    if bool(args.tls_cert) != bool(args.tls_key):
        raise InvalidArgument("--tls-cert and --tls-key go together")
    gc.set_threshold(*SERVER_GC_THRESHOLDS)
    trio.run(serve, settings)


def check_form(settings: Settings) -> None:
    """The flags of one deployment form go together; the others are refused, naming the flag."""
    if not 0 < settings.shutdown_grace_s <= 600:
        raise InvalidArgument(f"--shutdown-grace: {settings.shutdown_grace_s} is outside (0, 600]")
    if settings.role == "route":
        if not settings.upstream:
            raise InvalidArgument(
                "--upstream: a route node follows an ingest node; give its address"
            )
        split_host_port(settings.upstream, "--upstream")
        if not re.fullmatch(r"[a-z0-9_]{1,40}", settings.node):
            raise InvalidArgument(f"--node: {settings.node!r} must be 1-40 of a-z, 0-9, _")
        if not settings.db_url.startswith(("postgresql://", "postgres://")):
            raise InvalidArgument(
                "--db: a route node shares the ingest node's PostgreSQL (postgresql://...)"
            )
        if settings.amqp is not None:
            raise InvalidArgument("--amqp-url: RabbitMQ ingest runs on an ingest or all node")
    elif settings.upstream:
        raise InvalidArgument("--upstream: only a route node (--role route) follows an upstream")


def amqp_source(args: argparse.Namespace) -> AmqpSource | None:
    if not args.amqp_url and not args.amqp_exchange:
        return None
    if not (args.amqp_url and args.amqp_exchange):
        raise InvalidArgument("--amqp-url and --amqp-exchange go together")
    if not 1 <= args.amqp_prefetch <= 65_535:
        raise InvalidArgument(f"--amqp-prefetch: {args.amqp_prefetch} is outside 1..65535")
    bindings = tuple(args.amqp_binding or ("#",))
    for index, key in enumerate(bindings):
        validate_pattern(key, f"--amqp-binding[{index}]")
    return AmqpSource(
        args.amqp_url,
        args.amqp_exchange,
        bindings,
        args.amqp_queue,
        args.amqp_prefetch,
        args.amqp_queue_type,
    )


async def dispatch(args: argparse.Namespace) -> None:
    tls: str | bool | None = args.tls_ca or (True if args.tls else None)
    async with RouterClient(args.server, args.token, tls=tls) as client:
        if args.command == "exchange":
            await exchange_command(client, args)
        elif args.command == "publish":
            await publish_command(client, args)
        elif args.command == "tail":
            await tail_command(client, args)
        elif args.command in ("user", "token"):
            await user_command(client, args)
        elif args.command in ("queue", "subscriber", "info"):
            await inspect_command(client, args)
        elif args.command == "stats":
            await stats_command(client, args)
        elif args.command == "replay":
            await replay_command(client, args)


def table(rows: list[dict[str, object]], as_json: bool) -> None:
    """Rows as JSON lines with --json, else as aligned columns with a header."""
    if as_json:
        for row in rows:
            print(json.dumps(row))
        return
    if not rows:
        print("(none)")
        return
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(str(r[k])) for r in rows)) for k in keys}
    print("  ".join(k.upper().ljust(widths[k]) for k in keys).rstrip())
    for row in rows:
        print("  ".join(str(row[k]).ljust(widths[k]) for k in keys).rstrip())


def show_token(user: str, token_id: str, token: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"user": user, "token_id": token_id, "token": token}))
    else:
        print(f"token for {user} (id {token_id}), shown only now:\n{token}")


async def user_command(client: RouterClient, args: argparse.Namespace) -> None:
    if args.command == "token":
        if args.action == "issue":
            issued = await client.issue_token(args.user)
            show_token(issued.user, issued.token_id, issued.token, args.json)
        else:
            await client.revoke_token(args.token_id)
            print(f"revoked token {args.token_id}")
    elif args.action == "add":
        added = await client.add_user(args.name, args.role)
        if not args.json:
            print(f"added user {added.user.name} role={added.user.role}")
        show_token(added.user.name, added.token.token_id, added.token.token, args.json)
    elif args.action == "remove":
        await client.remove_user(args.name)
        print(f"removed user {args.name}")
    else:
        table(
            [
                {"name": u.name, "role": u.role, "tokens": ",".join(u.token_ids)}
                for u in await client.list_users()
            ],
            args.json,
        )


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


async def inspect_command(client: RouterClient, args: argparse.Namespace) -> None:
    if args.command == "info":
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
    elif args.command == "queue":
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
    elif args.action == "list":
        table([subscriber_row(s) for s in await client.list_subscribers(args.exchange)], args.json)
    elif args.action == "describe":
        found = await client.list_subscribers(args.exchange, args.name)
        if not found:
            raise LookupError(f"subscriber: no subscriber {args.name!r} on {args.exchange!r}")
        table([subscriber_row(s) for s in found], args.json)
    elif args.action == "reset":
        validation.start_point(args.to)  # a bad --to is a usage error, before any call
        moved = await client.reset_subscriber(args.exchange, args.name, args.to, args.limit_size)
        table([subscriber_row(moved)], args.json)
    elif args.action == "delete":
        await client.delete_subscriber(args.exchange, args.name, args.limit_size)
        print(f"deleted subscriber {args.name} of {args.exchange}")


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
    elif args.action == "describe":
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
    elif args.action == "delete":
        await client.delete_exchange(args.name)
        print(f"deleted exchange {args.name}")


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
            "state": s.state,
            "in/s": rate(queues[s.queue_id], old_queues.get(s.queue_id), "events_in", seconds)
            if s.queue_id in queues
            else "-",
            "out/s": rate(s, old_subscribers.get((s.queue_id, s.name)), "events_out", seconds),
            "fill": f"{queues[s.queue_id].fill * 100:.0f}%" if s.queue_id in queues else "-",
            "lag": s.lag,
            "acked": s.acked_offset,
        }
        for s in now.subscribers
    ]
    return exchanges, subscribers


async def stats_command(client: RouterClient, args: argparse.Namespace) -> None:
    before = None
    frames = 0
    if args.watch and args.interval <= 0:
        raise InvalidArgument("--interval: must be more than 0")
    while True:
        now = await client.stats()
        exchanges, subscribers = stats_frame(now, before)
        links = json.loads(now.links_json or "{}")
        if args.json:
            print(
                json.dumps(
                    {
                        "at_us": now.at_us,
                        "exchanges": exchanges,
                        "subscribers": subscribers,
                        "links": links,
                    }
                )
            )
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


async def replay_command(client: RouterClient, args: argparse.Namespace) -> None:
    """Page through stored events up to the head as it was at the start; progress on stderr."""
    if args.max < 0:
        raise InvalidArgument("--max: must be 0 or more")
    if args.to_amqp_exchange:
        await reemit_command(client, args)
        return
    start = args.start or "earliest"
    printed = 0
    head = None
    while True:
        page = 1000 if not args.max else min(1000, args.max - printed)
        events, current_head, following = await client.read(args.exchange, start, page)
        head = current_head if head is None else head
        for event in events:
            if event.offset > head:
                break
            print(render(event, args.json))
            printed += 1
        if printed and printed % PROGRESS_EVERY < len(events):
            print(f"... {printed} events", file=sys.stderr, flush=True)
        if not events or following > head or (args.max and printed >= args.max):
            break
        start = f"offset:{following}"
    print(f"replayed {printed} events (head {head})", file=sys.stderr)


async def reemit_command(client: RouterClient, args: argparse.Namespace) -> None:
    """The router publishes into RabbitMQ; this prints its progress on stderr.

    A re-emit interrupted a moment ago may still hold its subscriber while the router notices
    the lost connection: that refusal is retried for a few seconds before it is reported.
    """
    last = None
    for attempt in range(REEMIT_ATTEMPTS):
        try:
            async for progress in client.reemit(
                args.exchange,
                args.to_amqp_exchange,
                args.start,
                subscriber=args.name,
                amqp_url=args.amqp_url,
                most=args.max,
            ):
                last = progress
                print(
                    f"... {progress.confirmed} confirmed (offset {progress.last_offset}"
                    f" of {progress.until_offset})",
                    file=sys.stderr,
                    flush=True,
                )
            break
        except GRPCError as error:
            busy = error.status is Status.FAILED_PRECONDITION and "consumer attached" in str(
                error.message
            )
            if not busy or attempt == REEMIT_ATTEMPTS - 1:
                raise
            # Back-off between a bounded number of attempts: the router frees the subscriber
            # when it notices the old stream's connection is gone, and tells no one when.
            await asyncio.sleep(0.5)
    if last is not None:
        print(
            f"re-emitted {last.confirmed} events into {args.to_amqp_exchange}"
            f" (through offset {last.last_offset})",
            file=sys.stderr,
        )


REEMIT_ATTEMPTS = 10


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
                if total % PROGRESS_EVERY < args.batch:
                    print(f"... {total} events published", file=sys.stderr, flush=True)
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
            async for received in subscription:
                batch = received[: args.max - seen] if args.max else received[:]
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
