"""Users and grants over gRPC: what the permission and reach tests set up a router with."""

from __future__ import annotations

from collections.abc import Mapping

from router._proto.router.v1 import router_pb2 as pb
from router.client import RouterClient

# user -> (role, grants taken from the role's defaults, grants given)
Users = Mapping[str, tuple[str, list[pb.Grant], list[pb.Grant]]]


def grant(action: str, pattern: str = "*", deny: bool = False) -> pb.Grant:
    return pb.Grant(action=action, pattern=pattern, deny=deny)


def team(types: str, exchange: str) -> list[pb.Grant]:
    """What a team owning ``exchange`` and publishing ``types`` is given."""
    return [grant("publish", types), grant("consume", exchange), grant("manage", exchange)]


async def add_users(admin: RouterClient, users: Users) -> dict[str, str]:
    """Adds each user with its role, takes and gives its grants: user -> its first token."""
    tokens: dict[str, str] = {}
    for name, (role, taken, given) in users.items():
        tokens[name] = (await admin.add_user(name, role)).token.token
        if taken:
            await admin.revoke_grants(name, taken)
        if given:
            await admin.add_grants(name, given)
    return tokens
