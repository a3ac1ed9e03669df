"""What a user's grants reach beyond one call: the patterns it may give an exchange, whose
cursors it may move, and what of an event it may see.

- **Routing.** An exchange's patterns decide which events its consumers read (history
  included), so a user that is not an admin may give an exchange only patterns *within the
  types it may publish*: each pattern must lie inside one of its allow ``publish`` grants and
  share no type with any of its deny ``publish`` grants. Then every type the exchange carries is
  one the user may publish, and no delete and create widens what anyone reads beyond the types
  of the users that made the exchanges.
- **Moving a cursor.** Attaching with a start other than ``stored`` to a subscriber that exists
  moves its cursor (what ``ResetSubscriber`` does): the user that created the subscriber may,
  any other needs ``manage`` on the exchange.
- **Payloads.** Parked listings show an event's payload and headers only to a user that may
  consume the exchange; ``monitor`` alone sees the metadata.

Pattern algebra (:func:`within`, :func:`overlaps`) works on the patterns' automata, in time
bounded by their sizes (``MAX_WORK``): a question too large to answer counts as "not within"
and "overlaps", which refuses rather than widens.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import TypeVar

import attrs

from router import permissions
from router.auth import Auth
from router.errors import PermissionDenied
from router.model import Access, Delivery, Role, StartKind, StartPoint, UserRecord

T = TypeVar("T")
MAX_WORK = 300_000  # automaton states the questions of one call may visit and step through
_OTHER = "\x00"  # stands for every word the outer pattern does not name


@attrs.define
class Budget:
    """How many automaton states the questions of one call may still visit: past it, a
    question is answered the refusing way (not within, overlapping)."""

    left: int = MAX_WORK

    def spend(self, work: int = 1) -> bool:
        self.left -= work
        return self.left >= 0


def within(inner: str, outer: str, budget: Budget | None = None) -> bool:
    """Whether every event type that ``inner`` matches also matches ``outer`` (AMQP topic
    rules: ``*`` one word, ``#`` any number of words; a type has one word at least).

    Follows each path of ``inner``'s automaton beside the set of states ``outer``'s is in,
    over the words that matter at each step: the word ``inner`` names there, or, under its
    ``*`` and ``#``, each word ``outer`` names and one it does not. The sets come from
    ``outer`` (a grant an admin wrote), so a long ``inner`` costs its length, not more."""
    budget = budget if budget is not None else Budget()
    a, b = tuple(inner.split(".")), tuple(outer.split("."))
    any_word = [*sorted({w for w in b if w not in ("*", "#")}), _OTHER]
    first = _closure(b, (0,))
    todo = deque((i, first, False) for i in _closure(a, (0,)))
    seen = set(todo)
    while todo:
        i, there, moved = todo.popleft()
        if i == len(a):
            if moved and len(b) not in there:
                return False  # a type inner matches and outer does not
            continue
        part = a[i]
        words = any_word if part in ("*", "#") else [part]
        following = _closure(a, (i if part == "#" else i + 1,))
        for word in words:
            if not budget.spend(len(there)):
                return False
            then = _step(b, there, word)
            for j in following:
                state = (j, then, True)
                if state not in seen:
                    if not budget.spend():
                        return False
                    seen.add(state)
                    todo.append(state)
    return True


def overlaps(first: str, second: str, budget: Budget | None = None) -> bool:
    """Whether some event type matches both patterns: a walk over pairs of the two automata's
    states, each step one word both accept (at most twice the product of their lengths)."""
    budget = budget if budget is not None else Budget()
    a, b = tuple(first.split(".")), tuple(second.split("."))
    todo = deque((i, j, False) for i in _closure(a, (0,)) for j in _closure(b, (0,)))
    seen = set(todo)
    while todo:
        i, j, moved = todo.popleft()
        if i == len(a) or j == len(b):
            if moved and i == len(a) and j == len(b):
                return True
            continue
        left, right = a[i], b[j]
        if left not in ("*", "#") and right not in ("*", "#") and left != right:
            continue  # no word is both
        for x in _closure(a, (i if left == "#" else i + 1,)):
            for y in _closure(b, (j if right == "#" else j + 1,)):
                state = (x, y, True)
                if state not in seen:
                    if not budget.spend():
                        return True
                    seen.add(state)
                    todo.append(state)
    return False


def _closure(pattern: tuple[str, ...], states: Iterable[int]) -> frozenset[int]:
    """``states`` (how many of the pattern's words are matched) with those a ``#`` reaches by
    matching no word."""
    found = set(states)
    for state in sorted(found):
        while state < len(pattern) and pattern[state] == "#":
            state += 1
            found.add(state)
    return frozenset(found)


def _step(pattern: tuple[str, ...], states: frozenset[int], word: str) -> frozenset[int]:
    following = set()
    for state in states:
        if state == len(pattern):
            continue
        part = pattern[state]
        if part == "#":
            following.add(state)  # the # takes this word and may take more
        elif part == "*" or part == word:
            following.add(state + 1)
    return _closure(pattern, following)


def routable(user: UserRecord, pattern: str, budget: Budget | None = None) -> bool:
    """Whether ``user`` may give an exchange ``pattern``: it lies within an allow publish grant
    and shares no type with a deny publish grant."""
    if user.role is Role.ADMIN:
        return True
    budget = budget if budget is not None else Budget()
    grants = [g for g in user.grants if g.access is Access.PUBLISH]
    if any(g.deny and overlaps(g.pattern, pattern, budget) for g in grants):
        return False
    return any(not g.deny and within(pattern, g.pattern, budget) for g in grants)


def permit_patterns(user: UserRecord | None, patterns: Iterable[str]) -> None:
    """PermissionDenied naming the first pattern ``user`` (None: auth is off) may not give an
    exchange."""
    if user is None or user.role is Role.ADMIN:
        return
    budget = Budget()
    for index, pattern in enumerate(patterns):
        if not routable(user, pattern, budget):
            if budget.left < 0:
                raise PermissionDenied(
                    f"patterns: comparing these patterns with the grants of user {user.name!r}"
                    " takes too long; give simpler patterns, or ask an admin"
                )
            held = [g.pattern for g in user.grants if g.access is Access.PUBLISH and not g.deny]
            raise PermissionDenied(
                f"patterns[{index}]: user {user.name!r} may not route {pattern!r} into an"
                f" exchange: a pattern must lie within the types it may publish"
                f" ({', '.join(held) or 'none'})"
            )


def moves_cursor(start: StartPoint) -> bool:
    """Whether attaching to an existing subscriber from ``start`` moves its cursor: a start
    marked ``if_new`` leaves an existing subscriber where it is (actors.attaching)."""
    return start.kind is not StartKind.STORED and not start.if_new


def permit_move(
    auth: Auth, user: UserRecord | None, exchange: str, name: str, queue_ids: Iterable[str]
) -> None:
    """PermissionDenied unless ``user`` (None: auth is off) may move the cursor of the
    subscriber ``name`` (on the queues ``queue_ids``): it created it, or it may manage the
    exchange."""
    if user is None or user.role is Role.ADMIN:
        return
    if all(auth.owners.get((queue_id, name)) == user.name for queue_id in queue_ids):
        return
    try:
        auth.permit(user, Access.MANAGE, exchange)
    except PermissionDenied:
        raise PermissionDenied(
            f"start: user {user.name!r} may not move the cursor of subscriber {name!r} on"
            f" {exchange!r} (it did not create it, and moving another's cursor needs manage on"
            " the exchange); attach from 'stored'"
        ) from None


def payloads_shown(
    user: UserRecord | None, exchange: str, page: list[tuple[T, Delivery | None]]
) -> list[tuple[T, Delivery | None]]:
    """A page of a parked listing as ``user`` (None: auth is off) may see it: with the events'
    payloads and headers if it may consume ``exchange``, else without (:func:`withheld`)."""
    if sees_payloads(user, exchange):
        return page
    return [(item, withheld(d) if d is not None else None) for item, d in page]


def sees_payloads(user: UserRecord | None, exchange: str) -> bool:
    """Whether ``user`` (None: auth is off) may see the payloads of ``exchange``'s events: it
    may consume it."""
    return user is None or permissions.permitted(user, user.grants, Access.CONSUME, exchange)


def sees_exchange(user: UserRecord | None, exchange: str) -> bool:
    """Whether ``user`` (None: auth is off) may learn of ``exchange`` and its patterns: it may
    monitor (which lists every exchange) or consume it."""
    if user is None or user.role is Role.ADMIN:
        return True
    return permissions.permitted(user, user.grants, Access.MONITOR, "") or permissions.permitted(
        user, user.grants, Access.CONSUME, exchange
    )


def as_now(auth: Auth, user: UserRecord | None) -> UserRecord | None:
    """``user`` with its role and grants as they are now (a removed one holds nothing), for a
    long call that checks again as it goes."""
    if user is None:
        return None
    return auth.users.get(user.name) or attrs.evolve(user, role=Role.CONSUMER, grants=())


def withheld(delivery: Delivery) -> Delivery:
    """``delivery`` with its event's payload and headers left out (what ``monitor`` sees); its
    wire form is made again without them."""
    event = attrs.evolve(delivery.event, payload=b"", headers=(), wire=b"")
    return attrs.evolve(delivery, event=event)
