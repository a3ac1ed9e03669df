"""Grants against a plain-Python model of the rules, driven by hypothesis.

A real router on a SQLite file; rules give and take random grants (allow and deny, every action,
patterns with wildcards), change a user's role, restart the router on the same file, and ask
whether random calls are allowed. The answer of ``Auth.permit`` (with its remembered decisions)
must always be the model's, which matches types with a table over words and exchange names with
``fnmatch``, independently of router.core.permissions.
"""

from __future__ import annotations

import fnmatch
import tempfile

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from router.app import open_router
from router.core.errors import NotFound, PermissionDenied
from router.core.model import Access, Grant, Role
from router.core.settings import Settings
from tests.helpers.machines import machine_settings
from tests.helpers.topics import type_matches
from tests.helpers.trio_thread import TrioThread

WORDS = ["order", "payment", "created", "eu"]
TYPES = [".".join(t) for t in (("order", "created"), ("order", "eu", "created"), ("payment",))]
EXCHANGES = ["orders", "orders-eu", "payments", "team-a.jobs"]
TYPE_PATTERNS = ["#", "order.*", "order.#", "*.created", "#.created", "payment", "order.eu.#"]
NAME_PATTERNS = ["*", "orders", "orders*", "*s", "team-a.*", "pay*nts"]
USERS = ["ann", "bob"]


def model_allows(role: Role, grants: set[Grant], access: Access, target: str) -> bool:
    if role is Role.ADMIN:
        return True
    if access is Access.ADMIN:
        return False

    def hits(g: Grant) -> bool:
        if g.access is not access:
            return False
        if access is Access.MONITOR:
            return True
        if access is Access.PUBLISH:
            return type_matches(g.pattern, target)
        return fnmatch.fnmatchcase(target, g.pattern)

    matching = [g for g in grants if hits(g)]
    return bool(matching) and not any(g.deny for g in matching)


grants = st.one_of(
    st.builds(Grant, st.just(Access.PUBLISH), st.sampled_from(TYPE_PATTERNS), st.booleans()),
    st.builds(
        Grant,
        st.sampled_from([Access.CONSUME, Access.MANAGE]),
        st.sampled_from(NAME_PATTERNS),
        st.booleans(),
    ),
    st.builds(Grant, st.just(Access.MONITOR), st.just("*"), st.booleans()),
)
calls = st.one_of(
    st.tuples(st.just(Access.PUBLISH), st.sampled_from(TYPES)),
    st.tuples(st.sampled_from([Access.CONSUME, Access.MANAGE]), st.sampled_from(EXCHANGES)),
    st.tuples(st.sampled_from([Access.MONITOR, Access.ADMIN]), st.just("")),
)


class PermissionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.TemporaryDirectory()
        self.settings = Settings(db_url=f"sqlite:///{self.folder.name}/grants.db")
        self.trio = TrioThread()
        self._start()
        self.model: dict[str, tuple[Role, dict[tuple[Access, str], Grant]]] = {}
        for name in USERS:
            self.trio.run(self.router.auth.add_user, name, "consumer")
            self.model[name] = (Role.CONSUMER, {(Access.CONSUME, "*"): Grant(Access.CONSUME, "*")})

    def _start(self) -> None:
        self.router, self._leave = self.trio.host(lambda: open_router(self.settings))

    def teardown(self) -> None:
        self._leave()
        self.trio.close()
        self.folder.cleanup()

    @rule(user=st.sampled_from(USERS), given=st.lists(grants, min_size=1, max_size=4))
    def give(self, user: str, given: list[Grant]) -> None:
        self.trio.run(self.router.auth.change_grants, user, given, [])
        held = self.model[user][1]
        held.update({(g.access, g.pattern): g for g in given})

    @rule(user=st.sampled_from(USERS), data=st.data())
    def take(self, user: str, data: st.DataObject) -> None:
        held = self.model[user][1]
        taken = data.draw(grants)
        if (taken.access, taken.pattern) not in held:
            try:
                self.trio.run(self.router.auth.change_grants, user, [], [taken])
            except NotFound:
                return
            raise AssertionError(f"taking {taken} that {user} does not hold was let through")
        self.trio.run(self.router.auth.change_grants, user, [], [taken])
        del held[(taken.access, taken.pattern)]

    @rule(user=st.sampled_from(USERS), role=st.sampled_from(list(Role)))
    def change_role(self, user: str, role: Role) -> None:
        """Roles change only in the store (there is no call for it): seen after a restart."""
        self.trio.run(self.router.state.write, lambda storage: _set_role(storage, user, role))
        self.model[user] = (role, self.model[user][1])
        self.restart()

    @rule()
    def restart(self) -> None:
        self._leave()
        self._start()

    @rule(user=st.sampled_from(USERS), call=calls)
    def check(self, user: str, call: tuple[Access, str]) -> None:
        access, target = call
        role, held = self.model[user]
        expected = model_allows(role, set(held.values()), access, target)
        record = self.router.auth.users[user]
        assert set(record.grants) == set(held.values())
        try:
            self.router.auth.permit(record, access, target)
            allowed = True
        except PermissionDenied as error:
            allowed = False
            assert repr(user) in str(error)
        assert allowed == expected, (role, sorted(map(str, held.values())), access, target)


def _set_role(storage: object, user: str, role: Role) -> None:
    with storage._control() as run:  # type: ignore[attr-defined]
        run("UPDATE users SET role = ? WHERE name = ?", (role.value, user))


PermissionMachine.TestCase.settings = machine_settings(25, 30)
TestPermissions = PermissionMachine.TestCase
