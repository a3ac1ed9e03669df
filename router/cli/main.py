"""``router``: serve, and drive a running router over gRPC.

Each command group lives in its own module and registers its commands with the handler they
run: ``serve``, ``exchanges``, ``events`` (publish, tail, replay), ``subscribers`` (subscriber,
queue, info), ``users`` (user, token), ``stats``, ``log`` (trim), ``types`` (type, asyncapi),
``schema`` (migrate-schema). Errors print one line to stderr and exit non-zero (2: bad usage or
input, 1: the server or the store refused).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from typing import Any

from grpclib.exceptions import GRPCError, StreamTerminatedError

from router.cli import events, exchanges, log, schema, serve, stats, subscribers, types, users
from router.client import RouterClient
from router.core.build import build
from router.core.errors import InvalidArgument, RouterError
from router.core.printable import escape
from router.core.settings import DEFAULT_GRPC

COMMAND_GROUPS = (serve, schema, exchanges, events, subscribers, users, stats, log, types)
EXAMPLES = """examples:
  router serve --db sqlite:///router.db --grpc 127.0.0.1:50051
  export ROUTER_TOKEN=$(cat router.db.admin-token)   # the first start's, or ROUTER_ADMIN_TOKEN
  router exchange create orders --pattern 'order.*'
  router publish order.created --data '{"id": 1}'
  echo '{"type":"order.paid","data":{"id":1}}' | router publish --stdin
  router tail orders --name billing --from earliest --max 10
  router user add billing-service --role consumer
  router subscriber list --exchange orders
  router subscriber reset orders billing --to earliest
  router stats --watch
  router log trim --before time:2026-11-01T00:00:00Z --dry-run
  router type register 'order.created' --schema order-created.json --mode enforce
  router asyncapi > router.yaml
"""


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="router",
        description="A durable event router: store once, route by pattern, replay to subscribers.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument(
        "--version", action=_Version, help="show the version and the commit it was built from"
    )
    top.add_argument(
        "--server",
        default=os.environ.get("ROUTER_ADDR", DEFAULT_GRPC),
        help="router address HOST:PORT, or several routers' as HOST:PORT,HOST:PORT (calls go"
        " to the one that leads; env ROUTER_ADDR; default %(default)s)",
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
    for group in COMMAND_GROUPS:
        group.register(commands)
    return top


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        if hasattr(args, "run"):
            args.run(args)
        else:
            asyncio.run(with_client(args))
    except KeyboardInterrupt:
        sys.exit(130)
    except GRPCError as error:
        fail(f"{error.status.name}: {error.message}", 1)
    except (InvalidArgument, ValueError) as error:
        fail(str(error), 2)
    except RouterError as error:  # a store that cannot be reached, a schema refused...
        fail(str(error), 1)
    except LookupError as error:
        fail(str(error).strip("'\""), 1)
    except (ConnectionError, OSError, StreamTerminatedError) as error:
        fail(f"cannot reach the router at {args.server}: {error}", 1)


async def with_client(args: argparse.Namespace) -> None:
    """Run the command's handler with a client connected as the top-level flags say."""
    tls: str | bool | None = args.tls_ca or (True if args.tls else None)
    async with RouterClient(args.server, args.token, tls=tls) as client:
        await args.handler(client, args)


class _Version(argparse.Action):
    """``--version``: the build is read only when asked (it may run git)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **options: Any) -> None:
        super().__init__(option_strings, argparse.SUPPRESS, nargs=0, **options)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        found = build()
        print(f"router {found} (version {found.version}, commit {found.commit})")
        parser.exit()


def fail(message: str, code: int) -> None:
    print(f"router: {escape(message)}", file=sys.stderr)
    sys.exit(code)
