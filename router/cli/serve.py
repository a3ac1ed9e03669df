"""``router serve``: the flags of a serving router, checked, turned into Settings, and run."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import re
import sys
from typing import Any

import trio

from router.cli.environment import check_choices, from_environment
from router.cli.output import arg
from router.core.build import build
from router.core.errors import InvalidArgument
from router.core.patterns import validate_pattern
from router.core.printable import escape, escape_log_lines
from router.core.settings import (
    DEFAULT_GRPC,
    DEFAULT_HTTP,
    ROLES,
    AmqpSource,
    Settings,
    default_db_url,
    split_host_port,
)
from router.core.urls import check_db_url
from router.node.startup import leaves, refusal

# The cycle collector's thresholds for a serving router (Python's default: 700, 10, 10). Every
# event lives on in its queue's ring buffer for a while as a few GC-tracked objects; with the
# default thresholds the collector promoted them and walked them all again in full collections,
# which cost throughput and long pauses (benchmarks/README.md, "Garbage collection pauses"). Cyclic
# garbage still goes in the young collections; only what outlives them waits.
SERVER_GC_THRESHOLDS = (20_000, 20, 100)


# The flags of ``router serve``, by group: (flags, add_argument's options). Each can come from
# the environment instead (router.cli.environment): --help names the variable and the default.
SERVE_FLAGS = (
    arg("--db", help="sqlite:///path or postgresql://...", shown_default="sqlite:///./router.db"),
    arg("--grpc", default=DEFAULT_GRPC, help="gRPC listen address HOST:PORT"),
    arg("--http", default=DEFAULT_HTTP, help="REST API and /metrics address, or 'off'"),
    arg("--consumer-timeout", type=float, default=30.0, help="seconds a consumer may be silent"),
    arg(
        "--shutdown-grace",
        type=float,
        default=10.0,
        help="seconds in-flight calls get to finish after SIGTERM/Ctrl-C",
    ),
    arg("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR"),
    arg("--dev", action="store_true", help="turn authentication OFF (development only)"),
    arg(
        "--admin-token-file",
        help="where the first start writes the token it makes for user admin, readable by its"
        " owner only; a token given in ROUTER_ADMIN_TOKEN is never written or shown",
        shown_default="<sqlite db>.admin-token, or ./router-admin-token",
    ),
    arg("--metrics", choices=["on", "off"], default="on", help="rate sampling and /metrics"),
    arg(
        "--metrics-subscribers",
        type=int,
        default=1_000,
        help="/metrics has series per subscriber up to this many, then per exchange only",
    ),
    arg(
        "--max-queues-per-exchange",
        type=int,
        default=64,
        help="distinct queue options (limit_size) one exchange may have",
    ),
    arg("--tls-cert", help="PEM certificate: TLS for gRPC and HTTP"),
    arg("--tls-key", help="PEM private key of --tls-cert"),
)
FORM_FLAGS = (
    arg(
        "--role",
        choices=list(ROLES),
        default="all",
        help="all: ingest, store, route, deliver; ingest: accept publishes and serve"
        " the committed log; route: follow --upstream and deliver",
    ),
    arg("--upstream", help="route: the ingest node's gRPC HOST:PORT"),
    arg("--upstream-token", help="route: an ingest node admin token"),
    arg("--upstream-tls-ca", help="route: CA file to reach the ingest node by TLS"),
    arg("--node", default="route", help="route: this node's name (PostgreSQL schema route_NODE)"),
)
AMQP_FLAGS = (
    arg(
        "--amqp-url",
        help="amqp://user:pass@host:5672/vhost (a secret: prefer the variable)",
    ),
    arg("--amqp-exchange", help="the RabbitMQ exchange to ingest from"),
    arg(
        "--amqp-binding",
        action="append",
        help="binding key of the ingest queue (repeatable; the variable: comma-separated)",
        shown_default="#: everything",
    ),
    arg("--amqp-queue", default="", help="queue name", shown_default="router.EXCHANGE"),
    arg("--amqp-prefetch", type=int, default=1000, help="unacked messages held at most"),
    arg(
        "--amqp-queue-type",
        choices=["classic", "quorum"],
        default="classic",
        help="the ingest queue's type (quorum: replicated across a RabbitMQ cluster)",
    ),
    arg(
        "--reemit-exchanges",
        default="",
        help="comma-separated RabbitMQ exchanges of --amqp-url that users other than admins may"
        " re-emit into (default none: re-emit is the admin role's)",
    ),
)


RETENTION_FLAGS = (
    arg(
        "--retain-for",
        help="remove events older than this: 7d, 12h, 30m, 20s",
        shown_default="keep every event",
    ),
    arg(
        "--retain-bytes",
        help="remove the oldest events while the log takes more: 50GiB, 500MB",
        shown_default="no limit",
    ),
    arg(
        "--retain-until-acked",
        action="store_true",
        help="keep events a durable subscriber has not acked, past the limits above,"
        " up to --retain-max-for",
    ),
    arg(
        "--retain-max-for",
        help="with --retain-until-acked: remove events older than this whoever waits",
        shown_default="no cap",
    ),
)
LEADERSHIP_FLAGS = (
    arg(
        "--lease",
        default="5s",
        help="how long a leader that stops answering keeps leading before a standby takes"
        " over (PostgreSQL; a killed one is replaced at once)",
    ),
    arg(
        "--name",
        help="this router among those sharing the database",
        shown_default="HOSTNAME:GRPC_PORT",
    ),
    arg(
        "--advertise",
        help="the gRPC HOST:PORT other machines reach this router at, sent to clients by standbys",
        shown_default="--grpc",
    ),
    arg(
        "--advertise-http",
        help="the same for HTTP",
        shown_default="--http",
    ),
)
GRPC_FLAGS = (
    arg(
        "--grpc-max-message",
        default="16MiB",
        help="largest gRPC request message taken; larger ones are refused before being read",
    ),
    arg(
        "--grpc-max-connections",
        type=int,
        help="gRPC connections open at once",
        shown_default="half the descriptor limit",
    ),
    arg(
        "--grpc-max-connections-per-source",
        type=int,
        default=256,
        help="gRPC connections open at once from one address",
    ),
    arg(
        "--grpc-handshake-timeout",
        default="10s",
        help="close a connection that sends no HTTP/2 preface for this long",
    ),
    arg(
        "--grpc-idle-timeout",
        default="5m",
        help="close a connection with no call running for this long",
    ),
    arg(
        "--grpc-start-timeout",
        default="10s",
        help="end a Subscribe stream that sends no start message for this long",
    ),
)
ALL_FLAGS = SERVE_FLAGS + FORM_FLAGS + AMQP_FLAGS + RETENTION_FLAGS + LEADERSHIP_FLAGS + GRPC_FLAGS
_DURATION = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
_SIZE = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def duration_s(text: str | None, flag: str) -> float | None:
    """``7d``, ``12h``, ``30m``, ``20s`` or seconds, as seconds; None when not given."""
    if text is None:
        return None
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text.lower())
    if not found or float(found.group(1)) <= 0:
        raise InvalidArgument(
            f"{flag}: expected a duration above 0 such as 7d, 12h, 30m, 20s; got {text!r}"
        )
    return float(found.group(1)) * _DURATION[found.group(2) or "s"]


def size_bytes(text: str | None, flag: str) -> int | None:
    """``50GiB``, ``500MB`` or bytes, as bytes; None when not given."""
    if text is None:
        return None
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", text.lower())
    if not found or found.group(2) not in _SIZE or float(found.group(1)) <= 0:
        raise InvalidArgument(
            f"{flag}: expected a size above 0 such as 50GiB or 500MB; got {text!r}"
        )
    return int(float(found.group(1)) * _SIZE[found.group(2)])


def register(commands: Any) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the router",
        epilog="example: router serve --db postgresql://localhost/router",
    )
    groups = (
        (serve, SERVE_FLAGS),
        (serve.add_argument_group("deployment form"), FORM_FLAGS),
        (serve.add_argument_group("RabbitMQ ingest"), AMQP_FLAGS),
        (serve.add_argument_group("retention"), RETENTION_FLAGS),
        (serve.add_argument_group("standby routers (PostgreSQL)"), LEADERSHIP_FLAGS),
        (serve.add_argument_group("gRPC connections"), GRPC_FLAGS),
    )
    for group, flags in groups:
        for flag in flags:
            names, options = from_environment(flag, os.environ)
            group.add_argument(*names, **options)
    serve.set_defaults(run=run_serve)


def run_serve(args: argparse.Namespace) -> None:
    from router.grpc.trim import few_arenas
    from router.node.serve import serve
    from router.observe import tracing

    escape_log_lines(args.log_level.upper(), "%(asctime)s %(levelname)s %(name)s %(message)s")
    check_choices(ALL_FLAGS, vars(args))
    settings = Settings(
        db_url=check_db_url(args.db or default_db_url()),
        grpc_address=args.grpc,
        http_address=None if args.http == "off" else args.http,
        consumer_timeout_s=args.consumer_timeout,
        shutdown_grace_s=args.shutdown_grace,
        auth=not args.dev,
        admin_token_file=args.admin_token_file,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        metrics=args.metrics == "on",
        metrics_subscribers=args.metrics_subscribers,
        max_queues_per_exchange=args.max_queues_per_exchange,
        amqp=amqp_source(args),
        reemit_exchanges=tuple(n.strip() for n in args.reemit_exchanges.split(",") if n.strip()),
        role=args.role,
        upstream=args.upstream,
        upstream_tls_ca=args.upstream_tls_ca,
        node=args.node,
        **({"upstream_token": args.upstream_token} if args.upstream_token else {}),
        retain_for_s=duration_s(args.retain_for, "--retain-for"),
        retain_bytes=size_bytes(args.retain_bytes, "--retain-bytes"),
        retain_until_acked=args.retain_until_acked,
        retain_max_for_s=duration_s(args.retain_max_for, "--retain-max-for"),
        lease_s=lease_s(args.lease),
        name=args.name,
        advertise_grpc=args.advertise,
        advertise_http=args.advertise_http,
        **grpc_bounds(args),
    )
    check_form(settings)
    if bool(args.tls_cert) != bool(args.tls_key):
        raise InvalidArgument("--tls-cert and --tls-key go together")
    tracing.exporters(os.environ)  # OTEL_* asking for what the router cannot do: said now
    gc.set_threshold(*SERVER_GC_THRESHOLDS)
    few_arenas()  # before the router's threads start (router.grpc.trim says why)
    logging.getLogger("router").info("router %s", build())  # read once, before serving
    try:
        trio.run(serve, settings)
    except Exception as error:  # a group of the tasks' failures: a reason, or a defect
        reason = refusal(error)
        if reason is None:
            raise
        print(f"router: {escape(reason)}", file=sys.stderr)
        bad_input = all(isinstance(leaf, InvalidArgument) for leaf in leaves(error))
        sys.exit(2 if bad_input else 1)  # as the CLI's other refusals: 2 for a setting refused


def check_form(settings: Settings) -> None:
    """The flags of one deployment form go together; the others are refused, naming the flag."""
    if not 0 < settings.shutdown_grace_s <= 600:
        raise InvalidArgument(f"--shutdown-grace: {settings.shutdown_grace_s} is outside (0, 600]")
    if not 0 <= settings.metrics_subscribers <= 1_000_000:
        raise InvalidArgument(
            f"--metrics-subscribers: {settings.metrics_subscribers} is outside 0..1000000"
        )
    if not 1 <= settings.max_queues_per_exchange <= 100_000:
        raise InvalidArgument(
            f"--max-queues-per-exchange: {settings.max_queues_per_exchange} is outside 1..100000"
        )
    if settings.role == "route":
        if not settings.upstream:
            raise InvalidArgument(
                "--upstream: a route node follows an ingest node; give its address"
            )
        for address in settings.upstream.split(","):
            split_host_port(address.strip(), "--upstream")
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
    if settings.grpc_max_message_bytes < settings.max_payload_bytes + 1024:
        raise InvalidArgument(
            f"--grpc-max-message: {settings.grpc_max_message_bytes} bytes cannot hold one event"
            f" of the largest payload ({settings.max_payload_bytes} bytes)"
        )
    check_retention(settings)


def lease_s(text: str) -> float:
    """The lease, 1 s to 10 min: shorter would depose a leader for a pause of its own."""
    lease = duration_s(text, "--lease")
    assert lease is not None
    if not 1 <= lease <= 600:
        raise InvalidArgument(f"--lease: {text!r} is outside 1s..10m")
    return lease


def check_leadership(settings: Settings) -> None:
    for flag, address in (
        ("--advertise", settings.advertise_grpc),
        ("--advertise-http", settings.advertise_http),
    ):
        if address is not None:
            split_host_port(address, flag)
    if settings.name is not None and not re.fullmatch(r"[\w.:@-]{1,100}", settings.name):
        raise InvalidArgument(f"--name: {settings.name!r} must be 1-100 letters, digits, . : @ - _")


def check_retention(settings: Settings) -> None:
    if settings.retains_all:
        if settings.retain_until_acked or settings.retain_max_for_s is not None:
            raise InvalidArgument(
                "--retain-until-acked: goes with --retain-for or --retain-bytes (what to remove)"
            )
        return
    if settings.role != "all":
        raise InvalidArgument(
            f"--retain-for: retention runs on a whole router (--role all); route nodes index"
            f" the ingest node's log and would point at removed events (role {settings.role})"
        )
    if settings.retain_max_for_s is not None and not settings.retain_until_acked:
        raise InvalidArgument("--retain-max-for: caps --retain-until-acked; give that too")


def grpc_bounds(args: argparse.Namespace) -> dict[str, Any]:
    """The gRPC port's bounds from their flags, as Settings fields; a bound of 0 is refused."""
    for flag, value in (
        ("--grpc-max-connections", args.grpc_max_connections),
        ("--grpc-max-connections-per-source", args.grpc_max_connections_per_source),
    ):
        if value is not None and value < 1:
            raise InvalidArgument(f"{flag}: {value} must be 1 or more")
    return {
        "grpc_max_message_bytes": size_bytes(args.grpc_max_message, "--grpc-max-message"),
        "grpc_max_connections": args.grpc_max_connections,
        "grpc_max_connections_per_source": args.grpc_max_connections_per_source,
        "grpc_handshake_timeout_s": duration_s(
            args.grpc_handshake_timeout, "--grpc-handshake-timeout"
        ),
        "grpc_idle_timeout_s": duration_s(args.grpc_idle_timeout, "--grpc-idle-timeout"),
        "grpc_start_timeout_s": duration_s(args.grpc_start_timeout, "--grpc-start-timeout"),
    }


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
