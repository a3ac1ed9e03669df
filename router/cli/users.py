"""``router user add|remove|list|show|grant|revoke-grant|quotas``, ``router token issue|revoke|list``
and ``router audit`` (admin)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from router._proto.router.v1 import router_pb2 as pb
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
    what = "show a user: role, grants, quotas, token ids"
    example = "router user show billing-service"
    add_command(actions, "show", show_user, what, example, arg("name"), listing=True)
    what = "give a user grants on event types and exchanges (deny ones with --deny)"
    example = "router user grant billing-service --publish 'order.*' --consume orders"
    add_command(actions, "grant", grant, what, example, arg("name"), *GRANT_FLAGS, listing=True)
    what = "take grants from a user; the streams it may no longer read end"
    example = "router user revoke-grant billing-service --consume orders"
    add_command(
        actions,
        "revoke-grant",
        revoke_grant,
        what,
        example,
        arg("name"),
        *GRANT_FLAGS,
        listing=True,
    )
    what = "set a user's quotas (0: no limit); those not given become 0"
    example = "router user quotas billing-service --events-per-s 500 --streams 4"
    add_command(
        actions,
        "quotas",
        set_quotas,
        what,
        example,
        arg("name"),
        *(
            arg(f"--{field.replace('_', '-')}", type=int, default=0, help=meaning)
            for field, meaning in QUOTAS
        ),
        listing=True,
    )

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


GRANT_FLAGS = (
    arg(
        "--publish",
        action="append",
        default=[],
        metavar="TYPES",
        help="event types it may publish: a pattern such as 'order.*', 'order.#' or '#'",
    ),
    arg(
        "--consume",
        action="append",
        default=[],
        metavar="EXCHANGES",
        help="exchanges it may subscribe to and read: a name, '*' standing for any characters",
    ),
    arg(
        "--manage",
        action="append",
        default=[],
        metavar="EXCHANGES",
        help="exchanges it may create, delete and whose subscribers it may reset",
    ),
    arg("--monitor", action="store_true", help="stats, metrics, listings and the page"),
    arg("--deny", action="store_true", help="the grants given deny: they beat every allow"),
)
QUOTAS = (
    ("events_per_s", "events it may publish a second"),
    ("bytes_per_s", "bytes (payloads and headers) it may publish a second"),
    ("streams", "Subscribe streams it may hold open at once"),
    ("subscribers", "durable subscribers it may create"),
)
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
            {
                "name": u.name,
                "role": u.role,
                "grants": len(u.grants),
                "tokens": ",".join(u.token_ids),
            }
            for u in await client.list_users()
        ],
        args.json,
    )


def _grants(args: argparse.Namespace) -> list[pb.Grant]:
    grants = [
        pb.Grant(action=action, pattern=pattern, deny=args.deny)
        for action in ("publish", "consume", "manage")
        for pattern in getattr(args, action)
    ]
    if args.monitor:
        grants.append(pb.Grant(action="monitor", pattern="*", deny=args.deny))
    if not grants:
        raise SystemExit("router: name a grant: --publish, --consume, --manage or --monitor")
    return grants


def show(user: pb.User, as_json: bool) -> None:
    grants = [f"{'deny ' if g.deny else ''}{g.action} {g.pattern}".rstrip() for g in user.grants]
    limits = {field: getattr(user.quotas, field) for field, _ in QUOTAS}
    if as_json:
        print(
            json.dumps(
                {
                    "name": user.name,
                    "role": user.role,
                    "grants": [
                        {"action": g.action, "pattern": g.pattern, "deny": g.deny}
                        for g in user.grants
                    ],
                    "quotas": limits,
                    "token_ids": list(user.token_ids),
                }
            )
        )
        return
    print(f"user {user.name} role={user.role}")
    print("grants: " + ("; ".join(grants) if grants else "(none)"))
    quota = ", ".join(f"{k}={v}" for k, v in limits.items() if v)
    print("quotas: " + (quota or "none"))
    print("tokens: " + (",".join(user.token_ids) or "(none)"))


async def show_user(client: RouterClient, args: argparse.Namespace) -> None:
    show(await client.get_user(args.name), args.json)


async def grant(client: RouterClient, args: argparse.Namespace) -> None:
    show(await client.add_grants(args.name, _grants(args)), args.json)


async def revoke_grant(client: RouterClient, args: argparse.Namespace) -> None:
    show(await client.revoke_grants(args.name, _grants(args)), args.json)


async def set_quotas(client: RouterClient, args: argparse.Namespace) -> None:
    limits = {field: getattr(args, field) for field, _ in QUOTAS}
    show(await client.set_quotas(args.name, **limits), args.json)


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
