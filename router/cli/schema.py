"""``router migrate-schema``: apply the store's schema migrations now, by hand.

A router applies them itself when it starts alone (SQLite) or once it leads (PostgreSQL); a
standby never does, so that a router of a newer version started beside a running leader leaves
the leader's schema alone (docs/deploy.md, "Upgrading"). This command is for an operator who
wants the migration done at a moment of their choosing.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from router.core.build import build
from router.core.settings import default_db_url


def register(commands: Any) -> None:
    migrate = commands.add_parser(
        "migrate-schema",
        help="apply the store's schema migrations now (a router applies them when it leads)",
        epilog="example: router migrate-schema --db postgresql://localhost/router --dry-run",
    )
    migrate.add_argument(
        "--db",
        default=None,
        help="sqlite:///path or postgresql://... (env ROUTER_DB; default: sqlite:///./router.db)",
    )
    migrate.add_argument(
        "--dry-run", action="store_true", help="say what would be applied, change nothing"
    )
    migrate.set_defaults(run=run_migrate)


def run_migrate(args: argparse.Namespace) -> None:
    from storage import open_storage

    storage = open_storage(args.db or os.environ.get("ROUTER_DB") or default_db_url())
    try:
        schema = storage.schema_state()
        schema.check()
        if not schema.missing:
            print(f"schema: at version {schema.applied}, the newest router {build()} knows")
            return
        if args.dry_run:
            print(
                f"schema: at version {schema.applied}; would apply"
                f" {', '.join(map(str, schema.missing))} (router {build()})"
            )
            return
        applied = storage.migrate()
        print(
            f"schema: version {schema.applied} -> {schema.known}; applied"
            f" {', '.join(map(str, applied))} (router {build()})"
        )
    finally:
        storage.close()
