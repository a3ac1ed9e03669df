"""``router user add|remove|list``, ``router token issue|revoke|list`` and ``router audit`` (admin)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from router.cli.output import add_command, arg, table
from router.client import RouterClient


def register(commands: Any) -> None:
    users = commands.add_parser("user", help="add, remove or list users (admin)")
    actions = users.add_subparsers(dest="action", required=True)
    roles = ["publisher", "consumer", "admin"]
    what = "add a user and print its first token (shown once)"
    example = "router user add billing-service --role consumer"
    role = arg("--role", required=True, choices=roles)
    add_command(actions, "add", add_user, what, example, arg("name"), role, listing=True)
    what = "remove a user: its tokens stop working and its streams end"
    example = "router user remove billing-service"
    add_command(actions, "remove", remove_user, what, example, arg("name"))
    add_command(actions, "list", list_users, "list users", "router user list", listing=True)

    tokens = commands.add_parser("token", help="issue or revoke tokens (admin)")
    actions = tokens.add_subparsers(dest="action", required=True)
    what = "issue another token for a user (shown once), optionally expiring"
    example = "router token issue billing-service --expires 30d"
    expires = arg(
        "--expires",
        type=duration,
        default=0,
        help="how long it is valid: 90s, 45m, 12h, 30d (default: no expiry)",
    )
    add_command(actions, "issue", issue_token, what, example, arg("user"), expires, listing=True)
    what = "revoke a token by its id (see 'router token list')"
    example = "router token revoke 1f2e3d4c"
    add_command(actions, "revoke", revoke_token, what, example, arg("token_id"))
    what = "list tokens: id, user, created, expires, last used (never the text)"
    example = "router token list --user billing-service"
    who = arg("--user", default="", help="only this user's")
    add_command(actions, "list", list_tokens, what, example, who, listing=True)

    what = "the audit trail: every admin change, who made it, when and from where"
    example = "router audit --since 24h"
    since = arg(
        "--since",
        type=moment_before,
        default=0,
        help="a duration back from now (30m, 24h, 7d) or a time (2026-12-01T00:00:00Z)",
    )
    most = arg("--max", type=int, default=1000, help="at most this many entries (oldest first)")
    add_command(commands, "audit", list_audit, what, example, since, most, listing=True)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def duration(text: str) -> int:
    """Seconds of ``90s``, ``45m``, ``12h`` or ``30d``."""
    number, unit = text[:-1], text[-1:]
    if unit not in _UNITS or not number.isdigit() or int(number) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 90s, 45m, 12h, 30d")
    return int(number) * _UNITS[unit]


def moment_before(text: str) -> int:
    """Microseconds since the epoch of ``30m`` (back from now) or of an ISO 8601 time."""
    if text[-1:] in _UNITS and text[:-1].isdigit():
        return int((datetime.now(UTC).timestamp() - duration(text)) * 1e6)
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a duration (30m, 24h) nor a time (2026-12-01T00:00:00Z)"
        ) from None
    return int((at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp() * 1e6)


def _moment(at_us: int, none: str) -> str:
    if not at_us:
        return none
    return datetime.fromtimestamp(at_us / 1e6, UTC).isoformat(timespec="seconds")


def show_token(user: str, token_id: str, token: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"user": user, "token_id": token_id, "token": token}))
    else:
        print(f"token for {user} (id {token_id}), shown only now:\n{token}")


async def add_user(client: RouterClient, args: argparse.Namespace) -> None:
    added = await client.add_user(args.name, args.role)
    if not args.json:
        print(f"added user {added.user.name} role={added.user.role}")
    show_token(added.user.name, added.token.token_id, added.token.token, args.json)


async def remove_user(client: RouterClient, args: argparse.Namespace) -> None:
    await client.remove_user(args.name)
    print(f"removed user {args.name}")


async def list_users(client: RouterClient, args: argparse.Namespace) -> None:
    table(
        [
            {"name": u.name, "role": u.role, "tokens": ",".join(u.token_ids)}
            for u in await client.list_users()
        ],
        args.json,
    )


async def issue_token(client: RouterClient, args: argparse.Namespace) -> None:
    issued = await client.issue_token(args.user, args.expires)
    show_token(issued.user, issued.token_id, issued.token, args.json)
    if issued.expires_at_us and not args.json:
        print(f"it expires at {_moment(issued.expires_at_us, '')}")


async def list_tokens(client: RouterClient, args: argparse.Namespace) -> None:
    table(
        [
            {
                "id": t.token_id,
                "user": t.user,
                "created": _moment(t.created_at_us, ""),
                "expires": _moment(t.expires_at_us, "never"),
                "last_used": _moment(t.last_used_us, "never"),
            }
            for t in await client.list_tokens(args.user)
        ],
        args.json,
    )


async def revoke_token(client: RouterClient, args: argparse.Namespace) -> None:
    await client.revoke_token(args.token_id)
    print(f"revoked token {args.token_id}")


async def list_audit(client: RouterClient, args: argparse.Namespace) -> None:
    table(
        [
            {
                "at": _moment(e.at_us, ""),
                "user": e.user,
                "action": e.action,
                "target": e.target,
                "source": e.source,
                "detail": e.detail,
            }
            for e in await client.list_audit(args.since, args.max)
        ],
        args.json,
    )
