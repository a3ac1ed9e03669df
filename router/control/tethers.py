"""Long-lived calls held to the token and the grants that let them in.

A call that may last (a gRPC stream, a REST long-poll) holds a :class:`Tether` for as long as it
runs: who opened it, with which token, and what it needs (an action on a target). When the
token is revoked or expires, the user is removed, or its grants change so that it no longer
holds one of those needs, the tether is *lost*: its ``lose`` callback runs once, with the
reason (UNAUTHENTICATED or PERMISSION_DENIED), and the edge ends the call with it. The same
listeners of router.control.auth end the Subscribe streams.

Tethers are held from the gRPC loop's thread and from Trio, and lost from Trio (where the
changes happen), so a lock guards the set. A tether is checked again as it is taken: a change
that happened between the call's token check and the tether is not missed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

import attrs
import trio

from router.core import permissions
from router.core.errors import PermissionDenied, RouterError, Unauthenticated
from router.core.model import Access, UserRecord

log = logging.getLogger("router.control.tethers")
Needs = tuple[tuple[Access, str], ...]  # (action, target: an exchange, a type, or "")
Lose = Callable[[RouterError], None]
T = TypeVar("T")


@attrs.define(eq=False)
class Tether:
    user: str
    token_id: str
    needs: Needs
    lose: Lose
    lost: RouterError | None = None


def refusal(user: UserRecord, needs: Needs) -> PermissionDenied | None:
    """PermissionDenied for the first of ``needs`` that ``user`` no longer holds, or None."""
    for access, target in needs:
        if target or access in (Access.ADMIN, Access.MONITOR):
            allowed = permissions.permitted(user, user.grants, access, target)
        else:
            allowed = permissions.holds(user, user.grants, access)
        if not allowed:
            return PermissionDenied(permissions.refusal(user, access, target))
    return None


@attrs.define(eq=False)
class Tethers:
    """The tethers of the calls running now. ``current`` answers, as the tether is taken,
    whether its token and user still stand: (the user, or None when gone)."""

    current: Callable[[str, str], UserRecord | None]
    _held: set[Tether] = attrs.Factory(set)
    _lock: threading.Lock = attrs.Factory(threading.Lock)

    def hold(self, user: str, token_id: str, needs: Needs, lose: Lose) -> Tether:
        """Tether a call that ``user`` opened with ``token_id``; ``lose`` may run at once, if
        the token or a need went while the call was being let in."""
        tether = Tether(user, token_id, needs, lose)
        with self._lock:
            self._held.add(tether)
        found = self.current(user, token_id)
        if found is None:
            self._lose(tether, Unauthenticated("authorization: the token was revoked or expired"))
        else:
            self._lose(tether, refusal(found, needs))
        return tether

    def release(self, tether: Tether) -> None:
        with self._lock:
            self._held.discard(tether)

    def __len__(self) -> int:
        return len(self._held)

    async def revoked(self, user: str | None, token_id: str | None) -> None:
        """A user removed, or a token revoked or expired (an router.control.auth listener)."""
        error = Unauthenticated(
            "authorization: the token was revoked or has expired"
            if token_id
            else f"authorization: user {user!r} was removed"
        )
        for tether in self._snapshot():
            if tether.user == user or tether.token_id == token_id:
                self._lose(tether, error)

    async def regranted(self, user: UserRecord) -> None:
        """A user's grants changed (an router.control.auth listener): its calls that need what it no
        longer holds end."""
        for tether in self._snapshot():
            if tether.user == user.name:
                self._lose(tether, refusal(user, tether.needs))

    def _snapshot(self) -> list[Tether]:
        with self._lock:
            return list(self._held)

    def _lose(self, tether: Tether, error: RouterError | None) -> None:
        if error is None:
            return
        with self._lock:
            if tether.lost is not None:
                return
            tether.lost = error
        log.info("call ended user=%s token=%s reason=%s", tether.user, tether.token_id, error)
        tether.lose(error)


async def within(
    tethers: Tethers, user: str, token_id: str, needs: Needs, body: Callable[[], Awaitable[T]]
) -> T:
    """In Trio: await ``body()`` for as long as the tether holds; once it is lost, ``body`` is
    cancelled and the reason (UNAUTHENTICATED or PERMISSION_DENIED) is raised instead."""
    with trio.CancelScope() as scope:
        tether = tethers.hold(user, token_id, needs, lambda _: scope.cancel())
        try:
            return await body()
        finally:
            tethers.release(tether)
    assert tether.lost is not None  # only a lost tether cancels the scope
    raise tether.lost
