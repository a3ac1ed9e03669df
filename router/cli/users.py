"""``router user add|remove|list`` and ``router token issue|revoke`` (admin)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from router.cli.output import json_flag, table
from router.client import RouterClient


def register(commands: Any) -> None:
    user = commands.add_parser("user", help="add, remove or list users (admin)")
    user_actions = user.add_subparsers(dest="action", required=True)
    add = user_actions.add_parser(
        "add",
        help="add a user and print its first token (shown once)",
        epilog="example: router user add billing-service --role consumer",
    )
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=["publisher", "consumer", "admin"])
    json_flag(add)
    add.set_defaults(handler=add_user)
    remove = user_actions.add_parser(
        "remove",
        help="remove a user: its tokens stop working and its streams end",
        epilog="example: router user remove billing-service",
    )
    remove.add_argument("name")
    remove.set_defaults(handler=remove_user)
    users = user_actions.add_parser("list", help="list users", epilog="example: router user list")
    json_flag(users)
    users.set_defaults(handler=list_users)

    token = commands.add_parser("token", help="issue or revoke tokens (admin)")
    token_actions = token.add_subparsers(dest="action", required=True)
    issue = token_actions.add_parser(
        "issue",
        help="issue another token for a user (shown once)",
        epilog="example: router token issue billing-service",
    )
    issue.add_argument("user")
    json_flag(issue)
    issue.set_defaults(handler=issue_token)
    revoke = token_actions.add_parser(
        "revoke",
        help="revoke a token by its id (see 'router user list')",
        epilog="example: router token revoke 1f2e3d4c",
    )
    revoke.add_argument("token_id")
    revoke.set_defaults(handler=revoke_token)


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
    issued = await client.issue_token(args.user)
    show_token(issued.user, issued.token_id, issued.token, args.json)


async def revoke_token(client: RouterClient, args: argparse.Namespace) -> None:
    await client.revoke_token(args.token_id)
    print(f"revoked token {args.token_id}")
