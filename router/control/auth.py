"""Users, roles and bearer tokens.

A token is ``rtr_<id>_<secret>``: ``id`` (8 hex characters) is public and names the token in
listings and revocations; the secret is 192 random bits. Only the SHA-256 of the whole text is
stored. Every check is a dictionary look-up in memory; changes go through the StateActor (one
transaction each) and then update the cache, and listeners hear of removed users and revoked
tokens so the edges can end the streams they opened. A token may expire: past its time it is
refused like an unknown one, and its listeners hear of it as of a revoked one when it expires.
When each token was last used is kept in memory and written every USED_EVERY_S.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Awaitable, Callable

import attrs
import trio

from actors.state import StateActor
from router.control.quotas import Limiter, Places, QuotaExceeded
from router.control.tethers import Tethers
from router.core import permissions, validation
from router.core.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from router.core.model import Access, Grant, NewEvent, Quotas, Role, TokenRecord, UserRecord, now_us
from router.core.storable import storable
from storage import StorageUnavailable

log = logging.getLogger("router.control.auth")
MIN_TOKEN_CHARS = 22  # ~128 bits of base64 text, for tokens an operator supplies
Revoked = Callable[[str | None, str | None], Awaitable[None]]  # (user name, token id)
Regranted = Callable[[UserRecord], Awaitable[None]]  # the user with its grants as they now are
USED_EVERY_S = 60.0  # how often the last-used times are written, and their precision
MAX_EXPIRY_S = 10 * 365 * 86_400


_TOKEN_TEXT = re.compile(r"[\x21-\x7e]+")


def token_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def new_token(user: str, text: str | None = None, expires_in_s: int = 0) -> tuple[TokenRecord, str]:
    """A new token for ``user`` (or the record of ``text`` given by an operator) and its text;
    it expires ``expires_in_s`` from now (0: never)."""
    if not 0 <= expires_in_s <= MAX_EXPIRY_S:
        raise InvalidArgument(f"expires_in_s: {expires_in_s} is outside 0..{MAX_EXPIRY_S}")
    token_id = secrets.token_hex(4)
    if text is None:
        text = f"rtr_{token_id}_{secrets.token_urlsafe(24)}"
    elif len(text) < MIN_TOKEN_CHARS:
        raise InvalidArgument(f"token: at least {MIN_TOKEN_CHARS} characters are needed")
    elif not _TOKEN_TEXT.fullmatch(text):
        # A caller's 'Bearer <token>' is read without its surrounding spaces: a token holding
        # one (a trailing newline from a file) could never be presented.
        raise InvalidArgument("token: printable ASCII characters only, no spaces or newlines")
    now = now_us()
    expires_at = now + expires_in_s * 1_000_000 if expires_in_s else 0
    return TokenRecord(token_id, user, token_hash(text), now, expires_at), text


def event_size(event: NewEvent) -> int:
    """What an event costs a ``bytes_per_s`` quota: its payload and its headers' keys and values
    (as UTF-8), so that bytes sent as headers are paid for like any others."""
    return len(event.payload) + sum(len(k.encode()) + len(v.encode()) for k, v in event.headers)


def role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidArgument(
            f"role: {value!r} is not one of {', '.join(r.value for r in Role)}"
        ) from None


@attrs.define(eq=False)
class Auth:
    """Who the callers are and what they may do: users, tokens, grants and quotas, in memory."""

    state: StateActor
    enabled: bool = True
    users: dict[str, UserRecord] = attrs.Factory(dict)
    tokens: dict[str, TokenRecord] = attrs.Factory(dict)  # by hash
    listeners: list[Revoked] = attrs.Factory(list)
    regranted: list[Regranted] = attrs.Factory(list)
    _decided: dict[tuple[str, Access, str], bool] = attrs.Factory(dict)  # cleared on changes
    limiter: Limiter = attrs.Factory(Limiter)
    creating: Places = attrs.Factory(Places)  # subscribers being created, per user
    owners: dict[tuple[str, str], str] = attrs.Factory(dict)  # (queue id, subscriber) -> user
    used: dict[str, int] = attrs.Factory(dict)  # token id -> last used, not yet written
    _changed: trio.Event = attrs.Factory(trio.Event)  # a token was issued: expiries to look at
    tethers: Tethers = attrs.field(init=False)  # long-lived calls, ended when access goes

    def __attrs_post_init__(self) -> None:
        self.tethers = Tethers(self.standing)
        self.listeners.append(self.tethers.revoked)
        self.regranted.append(self.tethers.regranted)

    def standing(self, user: str, token_id: str) -> UserRecord | None:
        """``user`` as it is now, if it and its token ``token_id`` still stand (not revoked,
        removed or expired); None otherwise. Read from any thread."""
        now = now_us()
        for token in list(self.tokens.values()):
            if token.id == token_id and token.user == user:
                if token.expires_at and now >= token.expires_at:
                    return None
                return self.users.get(user)
        return None

    def load(
        self,
        users: tuple[UserRecord, ...],
        tokens: tuple[TokenRecord, ...],
        owners: tuple[tuple[str, str, str], ...] = (),
    ) -> None:
        self.users = {u.name: u for u in users}
        self.tokens = {t.hash: t for t in tokens}
        self.owners = {(queue, name): user for queue, name, user in owners}

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
        now = now_us()
        if token is None or user is None or (token.expires_at and now >= token.expires_at):
            raise Unauthenticated("authorization: unknown, expired or revoked token")
        if now - token.last_used_at >= USED_EVERY_S * 1_000_000:
            self.used[token.id] = now
        return user, token

    def caller(self, authorization: str | None) -> UserRecord | None:
        """The user of a call that has been let in already (None when auth is off)."""
        found = self.authenticate(authorization)
        return found[0] if found is not None else None

    def authorize(
        self, authorization: str | None, access: Access, target: str = ""
    ) -> tuple[UserRecord, TokenRecord] | None:
        """The caller and its token, if it may do ``access`` on ``target``; with no target (a
        call whose target is read later), if it holds any grant of ``access``. None when auth
        is off."""
        found = self.authenticate(authorization)
        if found is None:
            return None
        user = found[0]
        if target or access in (Access.ADMIN, Access.MONITOR):
            self.permit(user, access, target)
        elif not permissions.holds(user, user.grants, access):
            raise PermissionDenied(permissions.refusal(user, access, ""))
        return found

    def permit(self, user: UserRecord | None, access: Access, target: str = "") -> None:
        """PermissionDenied unless ``user`` (None: auth is off) may do ``access`` on
        ``target``. Decisions are remembered until users or grants change."""
        if user is None or user.role is Role.ADMIN:
            return
        key = (user.name, access, target)
        allowed = self._decided.get(key)
        if allowed is None:
            allowed = permissions.permitted(user, user.grants, access, target)
            if len(self._decided) >= 65_536:
                self._decided.clear()
            self._decided[key] = allowed
        if not allowed:
            raise PermissionDenied(permissions.refusal(user, access, target))

    def permit_types(self, user: UserRecord | None, types: list[str]) -> None:
        """PermissionDenied naming the first event whose type ``user`` may not publish."""
        if user is None or user.role is Role.ADMIN:
            return
        for event_type in dict.fromkeys(types):  # each type once, in the order they come
            try:
                self.permit(user, Access.PUBLISH, event_type)
            except PermissionDenied as error:
                index = types.index(event_type)
                raise PermissionDenied(f"events[{index}].type: {error}") from None

    def charge(self, user: UserRecord | None, events: list[NewEvent]) -> QuotaExceeded | None:
        """Take a publish from ``user``'s rate quotas; or take nothing and return why not
        (the edge refuses the call with it)."""
        if user is None or not (user.quotas.events_per_s or user.quotas.bytes_per_s):
            return None
        size = sum([event_size(e) for e in events]) if user.quotas.bytes_per_s else 0
        try:
            self.limiter.publish(user.name, user.quotas, len(events), size)
        except QuotaExceeded as error:
            return error
        return None

    def take_subscriber(
        self, user: UserRecord, key: tuple[str, str], where: Callable[[str, str], str | None]
    ) -> None:
        """Count the subscriber ``key`` (exchange, name) that ``user`` is creating against its
        quota, with those it created that still exist (``where`` gives the exchange of a live
        subscriber: queue id, name -> exchange or None), and those it is creating now. A name
        counts once per exchange whatever its queue options. QuotaExceeded, taking nothing,
        past the quota; the caller gives the place back (``creating.give_back``) once the
        subscriber is owned or the call failed."""
        most = user.quotas.subscribers
        held: frozenset[object] = frozenset()
        if most:
            held = frozenset(
                (exchange, name)
                for (queue_id, name), owner in self.owners.items()
                if owner == user.name and (exchange := where(queue_id, name)) is not None
            )
        if not self.creating.take(user.name, most, key, held):
            self.limiter.count(user.name)
            raise QuotaExceeded(
                f"subscribers: user {user.name!r} has created {most}, its quota; delete one"
                " first (router subscriber delete)"
            )

    def quota_use(self) -> dict[str, tuple[Quotas, int]]:
        """Each user that has a quota or was refused for one: its quotas and the calls refused."""
        refused = dict(self.limiter.refused)
        return {
            name: (user.quotas, refused.get(name, 0))
            for name, user in sorted(self.users.items())
            if user.quotas != Quotas() or name in refused
        }

    async def own(self, user: UserRecord, queue_id: str, name: str) -> None:
        """Note that ``user`` created this subscriber."""
        await self.state.write(lambda storage: storage.own_subscriber(queue_id, name, user.name))
        self.owners[(queue_id, name)] = user.name

    # --- changes ---

    async def bootstrap(
        self, admin_token: str | None, keep: Callable[[str], None] | None = None
    ) -> str | None:
        """On a store with no users, create ``admin`` with ``admin_token``, or with a token made
        here and handed to ``keep`` before it is stored (so a token nobody could read is never
        stored); return a made token's text (None for a given one: it is the operator's)."""
        if not self.enabled or self.users:
            return None
        user = UserRecord("admin", Role.ADMIN, now_us())
        try:
            token, text = new_token(user.name, admin_token)
        except InvalidArgument as error:
            raise InvalidArgument(
                "ROUTER_ADMIN_TOKEN: " + str(error).removeprefix("token: ")
            ) from None
        if admin_token is None and keep is not None:
            keep(text)
        await self.state.write(lambda storage: storage.add_user(user, token))
        self.users[user.name] = user
        self.tokens[token.hash] = token
        given = " given in ROUTER_ADMIN_TOKEN" if admin_token is not None else ""
        log.warning("created the first user: admin (token id %s%s)", token.id, given)
        return text if admin_token is None else None

    async def add_user(self, name: str, role_name: str) -> tuple[UserRecord, TokenRecord, str]:
        kind = role(role_name)
        user = UserRecord(validation.name(name, "name"), kind, now_us(), permissions.defaults(kind))
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
        self._decided.clear()
        self.limiter.forget(name)
        self.tokens = {h: t for h, t in self.tokens.items() if t.user != name}
        log.info("user removed name=%s", name)
        for listener in list(self.listeners):
            await listener(name, None)

    def user(self, name: str) -> UserRecord:
        found = self.users.get(validation.name(name, "name"))
        if found is None:
            raise NotFound(f"name: no user named {name!r}")
        return found

    async def change_grants(self, name: str, given: list[Grant], taken: list[Grant]) -> UserRecord:
        """Give ``name`` the ``given`` grants (one on the same action and pattern is replaced)
        and take the ``taken`` ones (matched by action and pattern); the streams it may no longer
        read end (the ``regranted`` listeners)."""
        user = self.user(name)
        held = {(g.access, g.pattern): g for g in user.grants}
        for one in taken:
            if held.pop((one.access, one.pattern), None) is None:
                raise NotFound(
                    f"grants: user {name!r} holds no {one.access.value} grant on {one.pattern!r}"
                )
        held.update({(g.access, g.pattern): g for g in given})
        if len(held) > permissions.MAX_GRANTS:
            raise InvalidArgument(f"grants: a user holds at most {permissions.MAX_GRANTS}")
        grants = tuple(sorted(held.values(), key=lambda g: (g.access.value, g.pattern)))
        changed = attrs.evolve(user, grants=grants)
        await self.state.write(lambda storage: storage.save_user(changed))
        self.users[name] = changed
        self._decided.clear()
        log.info("grants changed user=%s grants=%s", name, ", ".join(map(str, grants)) or "-")
        for listener in list(self.regranted):
            await listener(changed)
        return changed

    async def set_quotas(self, name: str, quotas: Quotas) -> UserRecord:
        changed = attrs.evolve(self.user(name), quotas=quotas)
        await self.state.write(lambda storage: storage.save_user(changed))
        self.users[name] = changed
        self.limiter.forget(name)
        log.info("quotas changed user=%s %s", name, quotas)
        return changed

    async def issue_token(self, user: str, expires_in_s: int = 0) -> tuple[TokenRecord, str]:
        if user not in self.users:
            raise NotFound(f"user: no user named {user!r}")
        token, text = new_token(user, expires_in_s=expires_in_s)
        await self.state.write(lambda storage: storage.add_token(token))
        self.tokens[token.hash] = token
        self._changed.set()
        log.info("token issued user=%s id=%s expires_at_us=%d", user, token.id, token.expires_at)
        return token, text

    async def revoke_token(self, token_id: str) -> None:
        if len(token_id) > 64:
            raise InvalidArgument("token_id: longer than 64 characters")
        storable(token_id, "token_id")
        await self.state.write(lambda storage: storage.revoke_token(token_id))
        self.tokens = {h: t for h, t in self.tokens.items() if t.id != token_id}
        log.info("token revoked id=%s", token_id)
        for listener in list(self.listeners):
            await listener(None, token_id)

    def list_tokens(self, user: str = "") -> list[TokenRecord]:
        """Every token (of ``user`` if given), with when it was last used."""
        if user and user not in self.users:
            raise NotFound(f"user: no user named {user!r}")
        return sorted(
            (
                attrs.evolve(t, last_used_at=max(t.last_used_at, self.used.get(t.id, 0)))
                for t in self.tokens.values()
                if not user or t.user == user
            ),
            key=lambda t: (t.user, t.created_at, t.id),
        )

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Tell the listeners of each token as it expires (so that its streams end), and write
        the last-used times every USED_EVERY_S."""
        task_status.started()
        written = trio.current_time()
        since = now_us()  # expiries after this one are still to be told
        while True:
            ends = [t.expires_at for t in self.tokens.values() if t.expires_at > since]
            wait = min([USED_EVERY_S, *((at - now_us()) / 1e6 for at in ends)])
            self._changed = trio.Event()
            with trio.move_on_after(max(wait, 0.0)):
                await self._changed.wait()
            later = now_us()
            for token in list(self.tokens.values()):
                if since < token.expires_at <= later:
                    log.info("token expired user=%s id=%s", token.user, token.id)
                    for listener in list(self.listeners):
                        await listener(None, token.id)
            since = later
            if self.used and trio.current_time() - written >= USED_EVERY_S:
                written = trio.current_time()
                await self._write_used()

    async def _write_used(self) -> None:
        used, self.used = self.used, {}
        try:
            await self.state.write(lambda storage: storage.touch_tokens(used))
        except StorageUnavailable:  # kept for the next time
            self.used = {**used, **self.used}
            return
        for token_hash_, token in list(self.tokens.items()):
            if token.id in used:
                self.tokens[token_hash_] = attrs.evolve(token, last_used_at=used[token.id])

    def list_users(self) -> list[tuple[UserRecord, list[str]]]:
        """Each user with the ids of its tokens."""
        ids: dict[str, list[str]] = {}
        for token in self.tokens.values():
            ids.setdefault(token.user, []).append(token.id)
        return [(u, sorted(ids.get(u.name, []))) for u in sorted(self.users.values(), key=_name)]


def _name(user: UserRecord) -> str:
    return user.name
