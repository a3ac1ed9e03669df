"""Tethers of long-lived calls: lost once, with the reason, when the token, the user or a
needed grant goes; checked again as they are taken."""

from __future__ import annotations

import attrs

from router.control.tethers import Tethers
from router.core.errors import PermissionDenied, RouterError, Unauthenticated
from router.core.model import Access, Grant, Role, UserRecord

USER = UserRecord("ann", Role.CONSUMER, 0, (Grant(Access.CONSUME, "orders"),))


def standing(users: dict[tuple[str, str], UserRecord]) -> Tethers:
    return Tethers(lambda user, token: users.get((user, token)))


async def test_a_revoked_token_loses_its_tethers_once_and_no_others() -> None:
    tethers = standing({("ann", "t1"): USER, ("ann", "t2"): USER})
    lost: list[tuple[str, RouterError]] = []
    one = tethers.hold("ann", "t1", ((Access.CONSUME, "orders"),), lambda e: lost.append(("1", e)))
    tethers.hold("ann", "t2", ((Access.CONSUME, "orders"),), lambda e: lost.append(("2", e)))
    await tethers.revoked(None, "t1")
    await tethers.revoked("nobody", "t1")
    assert [(n, type(e)) for n, e in lost] == [("1", Unauthenticated)]
    assert one.lost is lost[0][1]
    tethers.release(one)
    assert len(tethers) == 1
    await tethers.revoked("ann", None)
    assert [n for n, _ in lost] == ["1", "2"] and "'ann' was removed" in str(lost[1][1])


async def test_a_grant_taken_loses_only_the_calls_that_needed_it() -> None:
    tethers = standing({("ann", "t1"): USER})
    lost: list[str] = []
    tethers.hold("ann", "t1", ((Access.CONSUME, "orders"),), lambda e: lost.append("orders"))
    tethers.hold("ann", "t1", ((Access.CONSUME, "jobs"),), lambda e: lost.append("jobs"))
    assert lost == ["jobs"]  # never held: lost as it is taken
    await tethers.regranted(attrs.evolve(USER, grants=(Grant(Access.CONSUME, "ord*"),)))
    assert lost == ["jobs"]
    await tethers.regranted(attrs.evolve(USER, grants=()))
    assert lost == ["jobs", "orders"]


def test_a_token_gone_before_the_tether_is_taken_is_not_missed() -> None:
    tethers = standing({})
    lost: list[RouterError] = []
    tether = tethers.hold("ann", "t1", ((Access.MONITOR, ""),), lost.append)
    assert isinstance(tether.lost, Unauthenticated) and lost == [tether.lost]
    assert not isinstance(tether.lost, PermissionDenied)
