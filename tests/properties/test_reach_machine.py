"""No sequence of deletes and creates widens what a user reads, driven by hypothesis.

A real router on a SQLite file holds a history of every event type the story knows, and the
exchanges ``orders``, ``payments`` and ``team-a.x`` an admin made. Teams holding ``manage`` (on
their exchange, or on ``team-a.*``) and ``publish #`` or narrower, and a consumer holding
``consume *``, delete exchanges and create them again with random names and patterns, through
the facade and the grant check as the edges call them. A user's reach is the set of types it can
read: those matched by a pattern of an exchange it may consume. After each step no user's reach
is larger than before it, and every event each user reads through the real router is of a type
within its reach as it was when the admin had made the exchanges. The model decides with its own
matcher (a table over words), over every type of up to four words, independently of
router.control.reach; it does not restate the router's rule.
"""

from __future__ import annotations

import fnmatch
import itertools
import tempfile
import uuid
from functools import cache

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from router.app import open_router
from router.core.errors import AlreadyExists, NotFound, PermissionDenied
from router.core.model import Access, Grant, NewEvent, StartKind, StartPoint
from router.core.settings import Settings
from tests.helpers.machines import machine_settings
from tests.helpers.topics import type_matches
from tests.helpers.trio_thread import TrioThread

WORDS = ["order", "payment", "user", "secret", "created", "captured", "zzz"]
UNIVERSE = [".".join(words) for n in range(1, 5) for words in itertools.product(WORDS, repeat=n)]
STORED_TYPES = ["order.created", "order.secret.key", "payment.captured", "user.created"]
NAMES = ["orders", "payments", "team-a.x", "team-a.y", "misc"]
PATTERNS = [
    "#",
    "order.#",
    "order.*",
    "order.created",
    "order.secret.#",
    "payment.#",
    "*.captured",
    "#.created",
    "*.*",
]
ADMIN_MADE = {"orders": ("order.#",), "payments": ("payment.#",), "team-a.x": ("order.*",)}
USERS: dict[str, list[Grant]] = {
    "orders-team": [
        Grant(Access.PUBLISH, "#"),
        Grant(Access.CONSUME, "orders"),
        Grant(Access.MANAGE, "orders"),
    ],
    "payments-team": [
        Grant(Access.PUBLISH, "payment.#"),
        Grant(Access.CONSUME, "payments"),
        Grant(Access.MANAGE, "payments"),
    ],
    "team-a": [
        Grant(Access.PUBLISH, "order.#"),
        Grant(Access.PUBLISH, "order.secret.#", deny=True),
        Grant(Access.CONSUME, "team-a.*"),
        Grant(Access.MANAGE, "team-a.*"),
    ],
    "reader": [Grant(Access.CONSUME, "*"), Grant(Access.MANAGE, "misc")],
}


def allowed(user: str, access: Access, target: str) -> bool:
    """The grant rule, by the model: an allow grant matches and no deny grant does."""

    def hits(g: Grant) -> bool:
        if g.access is not access:
            return False
        if access is Access.PUBLISH:
            return type_matches(g.pattern, target)
        return fnmatch.fnmatchcase(target, g.pattern)

    matching = [g for g in USERS[user] if hits(g)]
    return bool(matching) and not any(g.deny for g in matching)


@cache
def carried(pattern: str) -> frozenset[str]:
    return frozenset(t for t in UNIVERSE if type_matches(pattern, t))


def reach(user: str, exchanges: dict[str, tuple[str, ...]]) -> frozenset[str]:
    """The types ``user`` can read: those a pattern of an exchange it may consume matches."""
    found: set[str] = set()
    for name, patterns in exchanges.items():
        if allowed(user, Access.CONSUME, name):
            for pattern in patterns:
                found |= carried(pattern)
    return frozenset(found)


class ReachMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.TemporaryDirectory()
        self.trio = TrioThread()
        settings_ = Settings(db_url=f"sqlite:///{self.folder.name}/reach.db")
        self.router, self._leave = self.trio.host(lambda: open_router(settings_))
        auth = self.router.auth
        for name, grants in USERS.items():
            self.trio.run(auth.add_user, name, "consumer")
            self.trio.run(auth.change_grants, name, grants, [Grant(Access.CONSUME, "*")])
        for name, patterns in ADMIN_MADE.items():
            self.trio.run(self.router.create_exchange, name, list(patterns))
        self.trio.run(
            self.router.publish, [NewEvent(str(uuid.uuid4()), t, b"{}") for t in STORED_TYPES]
        )
        self.exchanges: dict[str, tuple[str, ...]] = dict(ADMIN_MADE)
        self.before = {user: reach(user, self.exchanges) for user in USERS}
        self.first = {  # the patterns each user reads through when the admin has made them
            user: {
                p
                for n, held in ADMIN_MADE.items()
                if allowed(user, Access.CONSUME, n)
                for p in held
            }
            for user in USERS
        }

    def teardown(self) -> None:
        self._leave()
        self.trio.close()
        self.folder.cleanup()

    @rule(
        user=st.sampled_from(sorted(USERS)),
        name=st.sampled_from(NAMES),
        patterns=st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=2, unique=True),
    )
    def create(self, user: str, name: str, patterns: list[str]) -> None:
        record = self.router.auth.users[user]
        try:
            self.router.auth.permit(record, Access.MANAGE, name)
            self.trio.run(self.router.create_exchange, name, patterns, record)
        except PermissionDenied:
            if allowed(user, Access.MANAGE, name) and name not in self.exchanges:
                # patterns some other exchange it may consume has already must be let through
                others = {
                    p
                    for other, held in self.exchanges.items()
                    if other != name and allowed(user, Access.CONSUME, other)
                    for p in held
                }
                assert not set(patterns) <= others, (user, name, patterns)
            return
        except AlreadyExists:
            assert name in self.exchanges
            return
        assert allowed(user, Access.MANAGE, name)
        self.exchanges[name] = tuple(patterns)

    @rule(user=st.sampled_from(sorted(USERS)), name=st.sampled_from(NAMES))
    def delete(self, user: str, name: str) -> None:
        try:
            self.router.auth.permit(self.router.auth.users[user], Access.MANAGE, name)
            self.trio.run(self.router.delete_exchange, name)
        except PermissionDenied:
            assert not allowed(user, Access.MANAGE, name)
            return
        except NotFound:
            assert name not in self.exchanges
            return
        del self.exchanges[name]

    @rule(event_type=st.sampled_from(STORED_TYPES))
    def publish(self, event_type: str) -> None:
        self.trio.run(self.router.publish, [NewEvent(str(uuid.uuid4()), event_type, b"{}")])

    @invariant()
    def no_users_reach_grows(self) -> None:
        for user in USERS:
            now = reach(user, self.exchanges)
            assert now <= self.before[user], (user, sorted(now - self.before[user])[:5])
            self.before[user] = now

    @invariant()
    def every_user_reads_only_what_it_could_read_at_first(self) -> None:
        for name, patterns in self.exchanges.items():
            readers = [u for u in USERS if allowed(u, Access.CONSUME, name)]
            if not readers:
                continue
            deliveries, *_ = self.trio.run(
                self.router.read, name, StartPoint(StartKind.EARLIEST), 10_000
            )
            for delivery in deliveries:
                event_type = delivery.event.type
                assert any(type_matches(p, event_type) for p in patterns)
                for reader in readers:
                    first = self.first[reader]
                    assert any(type_matches(p, event_type) for p in first), (reader, event_type)


ReachMachine.TestCase.settings = machine_settings(20, 25)
TestReach = ReachMachine.TestCase
