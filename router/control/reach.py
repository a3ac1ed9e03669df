"""What a user's grants reach beyond one call: the patterns it may give an exchange, whose
cursors it may move, and what of an event it may see.

- **Routing.** An exchange's patterns decide which events its consumers read (history
  included), so a user that is not an admin may give an exchange only patterns *within what it
  may read already*: each must lie inside a pattern of another exchange it may consume. What a
  user reads is the union of the patterns of the exchanges it may consume, and every new
  pattern lies inside it, so no create or delete makes that union grow.
- **A subscriber is its creator's.** Attaching to a subscriber with a recorded creator, or
  acking, nacking and parking on it, is its creator's, or needs ``manage`` on the exchange
  (audited). One with no creator on record is open to any user that may consume the exchange,
  except moving its cursor (a start other than ``stored``, what ``ResetSubscriber`` does),
  which needs ``manage``.
- **Payloads.** Parked listings show an event's payload and headers only to a user that may
  consume the exchange; ``monitor`` alone sees the metadata.

Inclusion (:func:`within`) works on the patterns' automata, in time bounded by their sizes
(``MAX_WORK``): a question too large to answer counts as "not within", which refuses rather
than widens.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from typing import TypeVar

import attrs

from router.control.auth import Auth
from router.core import permissions
from router.core.errors import AlreadyExists, PermissionDenied
from router.core.model import Access, Delivery, Role, StartKind, StartPoint, UserRecord
from router.core.patterns import closure

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
    if all(word == "#" for word in b):
        return True  # every type
    for end in (0, -1):  # a type outer matches begins and ends with outer's own words there
        if b[end] not in ("*", "#") and a[end] != b[end]:
            return False
    if not budget.spend(len(a) + len(b)):  # setting the walk up
        return False
    any_word = [*sorted({w for w in b if w not in ("*", "#")}), _OTHER]
    first = frozenset(closure(b, {0}))
    todo = deque((i, first, False) for i in closure(a, {0}))
    seen = set(todo)
    while todo:
        i, there, moved = todo.popleft()
        if i == len(a):
            if moved and len(b) not in there:
                return False  # a type inner matches and outer does not
            continue
        part = a[i]
        words = any_word if part in ("*", "#") else [part]
        following = closure(a, {i if part == "#" else i + 1})
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
    return frozenset(closure(pattern, following))


def reach(
    user: UserRecord, exchanges: Iterable[tuple[str, Sequence[str]]], besides: str = ""
) -> list[str]:
    """The patterns of the exchanges (name, patterns) ``user`` may consume, ``besides`` left
    out: every type it can read through them matches one of these (each pattern once, those
    naming fewest words first)."""
    found: dict[str, None] = {}
    for name, patterns in exchanges:
        if name != besides and permissions.permitted(user, user.grants, Access.CONSUME, name):
            found.update(dict.fromkeys(patterns))
    return sorted(found, key=_named_words)  # the widest first: a pattern is found within sooner


def _named_words(pattern: str) -> tuple[int, int]:
    words = pattern.split(".")
    return sum(w not in ("*", "#") for w in words), len(words)


def routable(pattern: str, reached: Sequence[str], budget: Budget | None = None) -> bool:
    """Whether ``pattern`` lies within one of the patterns ``reached`` (:func:`reach`)."""
    budget = budget if budget is not None else Budget()
    return any(pattern == r or within(pattern, r, budget) for r in reached)


def permit_patterns(
    user: UserRecord | None,
    patterns: Iterable[str],
    name: str,
    exchanges: Iterable[tuple[str, Sequence[str]]],
) -> None:
    """PermissionDenied naming the first pattern ``user`` (None: auth is off) may not give the
    exchange ``name``: one that lies within no pattern of another of ``exchanges`` (name,
    patterns) it may consume. An exchange ``name`` that exists is AlreadyExists first, as the
    store would answer, whatever the patterns."""
    if user is None or user.role is Role.ADMIN:
        return
    exchanges = list(exchanges)
    if any(other == name for other, _ in exchanges):
        raise AlreadyExists(f"name: exchange {name!r} already exists")
    budget = Budget()
    reached = reach(user, exchanges, besides=name)
    for index, pattern in enumerate(patterns):
        if not routable(pattern, reached, budget):
            if budget.left < 0:
                raise PermissionDenied(
                    f"patterns: comparing these patterns with the exchanges user {user.name!r}"
                    " may consume takes too long; give simpler patterns, or ask an admin"
                )
            shown = ", ".join(reached[:8]) + (", ..." if len(reached) > 8 else "")
            raise PermissionDenied(
                f"patterns[{index}]: user {user.name!r} may not route {pattern!r} into an"
                " exchange: a pattern must lie within a pattern of another exchange it may"
                f" consume ({shown or 'none'}); an admin may route anything"
            )


def moves_cursor(start: StartPoint) -> bool:
    """Whether attaching to an existing subscriber from ``start`` moves its cursor: a start
    marked ``if_new`` leaves an existing subscriber where it is (actors.attaching)."""
    return start.kind is not StartKind.STORED and not start.if_new


@attrs.frozen
class Attach:
    """What attaching to a subscriber that exists does beyond attaching: ``moves`` its cursor
    (audited as ``subscriber.move``), or is a manager's attach to another user's subscriber
    (``foreign``, audited as ``subscriber.attach``)."""

    moves: bool = False
    foreign: bool = False


def permit_attach(
    auth: Auth,
    user: UserRecord | None,
    exchange: str,
    name: str,
    queue_id: str,
    start: StartPoint,
) -> Attach:
    """PermissionDenied unless ``user`` (None: auth is off) may attach from ``start`` to the
    subscriber ``name`` that exists on the queue ``queue_id``: a subscriber with a recorded
    creator is its creator's, another needs ``manage`` on the exchange; one with none on record
    is anyone's that may consume it, but moving its cursor needs ``manage``."""
    moves = moves_cursor(start)
    if user is None or user.role is Role.ADMIN:
        return Attach(moves=moves)
    creator = auth.owners.get((queue_id, name))
    if creator == user.name or (creator is None and not moves):
        return Attach(moves=moves)
    try:
        auth.permit(user, Access.MANAGE, exchange)
    except PermissionDenied:
        if creator is None:
            raise PermissionDenied(
                f"start: user {user.name!r} may not move the cursor of subscriber {name!r} on"
                f" {exchange!r} (no creator is on record, and moving another's cursor needs"
                " manage on the exchange); attach from 'stored'"
            ) from None
        raise _not_its_own(user, exchange, name, creator) from None
    return Attach(moves=moves, foreign=creator is not None and creator != user.name)


def permit_settle(
    auth: Auth, user: UserRecord | None, exchange: str, name: str, queue_id: str
) -> None:
    """PermissionDenied unless ``user`` (None: auth is off) may ack, nack or park on the
    subscriber ``name`` of the queue ``queue_id``: its creator, or a user that may manage the
    exchange (one with no creator on record: anyone that may consume it)."""
    if user is None or user.role is Role.ADMIN:
        return
    creator = auth.owners.get((queue_id, name))
    if creator is None or creator == user.name:
        return
    try:
        auth.permit(user, Access.MANAGE, exchange)
    except PermissionDenied:
        raise _not_its_own(user, exchange, name, creator) from None


def _not_its_own(user: UserRecord, exchange: str, name: str, creator: str) -> PermissionDenied:
    return PermissionDenied(
        f"subscriber: {name!r} on {exchange!r} is user {creator!r}'s; user {user.name!r} may"
        " attach to it or settle on it only with manage on the exchange"
    )


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
