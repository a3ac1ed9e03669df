"""Users, roles and bearer tokens.

A token is ``rtr_<id>_<secret>``: ``id`` (8 hex characters) is public and names the token in
listings and revocations; the secret is 192 random bits. Only the SHA-256 of the whole text is
stored. Every check is a dictionary look-up in memory; changes go through the StateActor (one
transaction each) and then update the cache, and listeners hear of removed users and revoked
tokens so the edges can end the streams they opened.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable

import attrs

from actors.state import StateActor
from router import validation
from router.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from router.model import Role, TokenRecord, UserRecord, now_us

log = logging.getLogger("router.auth")
MIN_TOKEN_CHARS = 22  # ~128 bits of base64 text, for tokens an operator supplies
Revoked = Callable[[str | None, str | None], Awaitable[None]]  # (user name, token id)


def token_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def new_token(user: str, text: str | None = None) -> tuple[TokenRecord, str]:
    """A new token for ``user`` (or the record of ``text`` given by an operator) and its text."""
    token_id = secrets.token_hex(4)
    if text is None:
        text = f"rtr_{token_id}_{secrets.token_urlsafe(24)}"
    elif len(text) < MIN_TOKEN_CHARS:
        raise InvalidArgument(f"token: at least {MIN_TOKEN_CHARS} characters are needed")
    return TokenRecord(token_id, user, token_hash(text), now_us()), text


def role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidArgument(
            f"role: {value!r} is not one of {', '.join(r.value for r in Role)}"
        ) from None


@attrs.define(eq=False)
class Auth:
    state: StateActor
    enabled: bool = True
    users: dict[str, UserRecord] = attrs.Factory(dict)
    tokens: dict[str, TokenRecord] = attrs.Factory(dict)  # by hash
    listeners: list[Revoked] = attrs.Factory(list)

    def load(self, users: tuple[UserRecord, ...], tokens: tuple[TokenRecord, ...]) -> None:
        self.users = {u.name: u for u in users}
        self.tokens = {t.hash: t for t in tokens}

    # --- checks (edges call these on every request) ---

    def authenticate(self, authorization: str | None) -> tuple[UserRecord, TokenRecord] | None:
        """The user and token of an ``authorization: Bearer <token>`` value; None when auth is off."""
        if not self.enabled:
            return None
        if not authorization:
            raise Unauthenticated("authorization: a 'Bearer <token>' header is needed")
        scheme, _, text = authorization.partition(" ")
        if scheme.lower() != "bearer" or not text.strip():
            raise Unauthenticated("authorization: expected 'Bearer <token>'")
        token = self.tokens.get(token_hash(text.strip()))
        user = self.users.get(token.user) if token is not None else None
        if token is None or user is None:
            raise Unauthenticated("authorization: unknown or revoked token")
        return user, token

    def authorize(self, authorization: str | None, needed: Role) -> UserRecord | None:
        found = self.authenticate(authorization)
        if found is None:
            return None
        user, _ = found
        if not user.role.allows(needed):
            raise PermissionDenied(
                f"role: user {user.name!r} is {user.role.value}; this needs {needed.value}"
            )
        return user

    # --- changes ---

    async def bootstrap(self, admin_token: str | None) -> str | None:
        """On a store with no users, create ``admin``; return its token text to show once."""
        if not self.enabled or self.users:
            return None
        user = UserRecord("admin", Role.ADMIN, now_us())
        token, text = new_token(user.name, admin_token)
        await self.state.write(lambda storage: storage.add_user(user, token))
        self.users[user.name] = user
        self.tokens[token.hash] = token
        log.warning("created the first user: admin (token id %s)", token.id)
        return text

    async def add_user(self, name: str, role_name: str) -> tuple[UserRecord, TokenRecord, str]:
        user = UserRecord(validation.name(name, "name"), role(role_name), now_us())
        token, text = new_token(user.name)
        await self.state.write(lambda storage: storage.add_user(user, token))
        self.users[user.name] = user
        self.tokens[token.hash] = token
        log.info("user added name=%s role=%s", user.name, user.role.value)
        return user, token, text

    async def remove_user(self, name: str) -> None:
        validation.name(name, "name")
        user = self.users.get(name)
        admins = [u for u in self.users.values() if u.role is Role.ADMIN]
        if self.enabled and user is not None and admins == [user]:
            raise FailedPrecondition(f"name: {name!r} is the last admin; add another admin first")
        await self.state.write(lambda storage: storage.remove_user(name))
        self.users.pop(name, None)
        self.tokens = {h: t for h, t in self.tokens.items() if t.user != name}
        log.info("user removed name=%s", name)
        for listener in list(self.listeners):
            await listener(name, None)

    async def issue_token(self, user: str) -> tuple[TokenRecord, str]:
        if user not in self.users:
            raise NotFound(f"user: no user named {user!r}")
        token, text = new_token(user)
        await self.state.write(lambda storage: storage.add_token(token))
        self.tokens[token.hash] = token
        log.info("token issued user=%s id=%s", user, token.id)
        return token, text

    async def revoke_token(self, token_id: str) -> None:
        await self.state.write(lambda storage: storage.revoke_token(token_id))
        self.tokens = {h: t for h, t in self.tokens.items() if t.id != token_id}
        log.info("token revoked id=%s", token_id)
        for listener in list(self.listeners):
            await listener(None, token_id)

    def list_users(self) -> list[tuple[UserRecord, list[str]]]:
        """Each user with the ids of its tokens."""
        ids: dict[str, list[str]] = {}
        for token in self.tokens.values():
            ids.setdefault(token.user, []).append(token.id)
        return [(u, sorted(ids.get(u.name, []))) for u in sorted(self.users.values(), key=_name)]


def _name(user: UserRecord) -> str:
    return user.name
