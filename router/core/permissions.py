"""Who may do what: grants on event types and exchanges, and the rule that decides a call.

A user holds a role and grants. The ``admin`` role may do everything; any other user may do
exactly what its grants allow:

- ``publish`` on event-type patterns (AMQP topic rules, as exchanges bind: ``order.*`` one word,
  ``order.#`` any words, ``#`` every type);
- ``consume`` on exchanges (Subscribe, Read, REST pull, ack and settle);
- ``manage`` on exchanges (create, delete, subscriber resets and settings, parked events,
  re-emit);
- ``monitor`` (stats, metrics, the listings and the page's views; its pattern is ``*``).

Exchange patterns are names in which ``*`` stands for any characters (``team-a.*``, ``*``).
A deny grant of an action beats every allow grant of it. A new user starts with the grant its
role stands for (publisher: ``publish #``, consumer: ``consume *``); so did every user stored
before grants existed, so an upgrade locks nobody out.
"""

from __future__ import annotations

import re

from router.core import patterns
from router.core.errors import InvalidArgument
from router.core.model import GRANTABLE, Access, Grant, Role, UserRecord

MAX_GRANTS = 1000  # a user's grants at most
_NAME_PATTERN = re.compile(r"[A-Za-z0-9_.:*-]{1,128}")
_WHAT = {
    Access.PUBLISH: "type",
    Access.CONSUME: "exchange",
    Access.MANAGE: "exchange",
}


def grant(access: str, pattern: str, deny: bool = False, field: str = "grants") -> Grant:
    """A checked grant; InvalidArgument naming ``field`` when it is not one."""
    try:
        kind = Access(access)
    except ValueError:
        kind = Access.ADMIN
    if kind not in GRANTABLE:
        names = ", ".join(a.value for a in GRANTABLE)
        raise InvalidArgument(f"{field}.action: {access[:40]!r} is not one of {names}")
    if kind is Access.MONITOR:
        if pattern not in ("", "*"):
            raise InvalidArgument(f"{field}.pattern: monitor takes no pattern (or '*')")
        pattern = "*"
    elif kind is Access.PUBLISH:
        patterns.validate_pattern(pattern, f"{field}.pattern")
    elif not _NAME_PATTERN.fullmatch(pattern):
        raise InvalidArgument(
            f"{field}.pattern: {pattern[:40]!r} is not an exchange name or a name with '*'"
        )
    return Grant(kind, pattern, deny)


def defaults(role: Role) -> tuple[Grant, ...]:
    """The grants a new user of ``role`` starts with."""
    if role is Role.PUBLISHER:
        return (Grant(Access.PUBLISH, "#"),)
    if role is Role.CONSUMER:
        return (Grant(Access.CONSUME, "*"),)
    return ()


def matches(grant: Grant, target: str) -> bool:
    if grant.access is Access.MONITOR:
        return True
    if grant.access is Access.PUBLISH:
        return patterns.matches(grant.pattern, target)
    return name_matches(grant.pattern, target)


def name_matches(pattern: str, name: str) -> bool:
    """True when ``name`` is ``pattern`` with each ``*`` standing for any characters.

    Each piece between stars is found at its leftmost place after the one before: no
    backtracking, so the work is at most the pattern's length times the name's, whatever the
    stars (a regular expression of ``.*`` pieces backtracks for ever on ``*a*a*a...b``).
    """
    pieces = pattern.split("*")
    if len(pieces) == 1:
        return pattern == name
    first, *middle, last = pieces
    if len(name) < len(first) + len(last) or not name.startswith(first):
        return False
    if not name.endswith(last):
        return False
    position, end = len(first), len(name) - len(last)
    for piece in middle:
        found = name.find(piece, position, end)
        if found < 0:
            return False
        position = found + len(piece)
    return True


def permitted(user: UserRecord, grants: tuple[Grant, ...], access: Access, target: str) -> bool:
    """The rule: admins may do everything; others what an allow grant matches and no deny
    grant of the same action does."""
    if user.role is Role.ADMIN:
        return True
    if access is Access.ADMIN:
        return False
    allowed = False
    for one in grants:
        if one.access is access and matches(one, target):
            if one.deny:
                return False
            allowed = True
    return allowed


def holds(user: UserRecord, grants: tuple[Grant, ...], access: Access) -> bool:
    """Whether ``user`` may do ``access`` on anything at all (the gate before a call's target
    is known)."""
    if user.role is Role.ADMIN:
        return True
    return any(g.access is access and not g.deny for g in grants)


def refusal(user: UserRecord, access: Access, target: str) -> str:
    """The message of a refusal: the user, the action and what it was on."""
    if access is Access.ADMIN:
        return f"role: user {user.name!r} is {user.role.value}; this needs admin"
    if access is Access.MONITOR:
        return f"grants: user {user.name!r} may not monitor (needs a monitor grant or admin)"
    if not target:
        return f"grants: user {user.name!r} holds no {access.value} grant"
    return f"grants: user {user.name!r} may not {access.value} {_WHAT[access]} {target!r}"
