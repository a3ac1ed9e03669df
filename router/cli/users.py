"""``router user add|remove|list`` and ``router token issue|revoke`` (admin)."""

from __future__ import annotations

import argparse
import json
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
    what = "issue another token for a user (shown once)"
    example = "router token issue billing-service"
    add_command(actions, "issue", issue_token, what, example, arg("user"), listing=True)
    what = "revoke a token by its id (see 'router user list')"
    example = "router token revoke 1f2e3d4c"
    add_command(actions, "revoke", revoke_token, what, example, arg("token_id"))


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
