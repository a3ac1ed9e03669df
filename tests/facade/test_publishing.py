"""Publishing (router.facade.publishing): the same admission for publish and publish_soon, and
who a publish is stored as."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio

from router.core.errors import InvalidArgument
from router.core.model import Role, UserRecord
from router.facade.publishing import publisher
from tests.facade import opened, orders
from tests.helpers.stories import events


def user(role: Role) -> UserRecord:
    return UserRecord("ann", role, 0)


def test_an_admin_may_republish_any_id_and_another_user_only_its_own() -> None:
    assert publisher(None) == ("", False)
    assert publisher(user(Role.ADMIN)) == ("ann", False)
    assert publisher(user(Role.PUBLISHER)) == ("ann", True)


async def test_publish_soon_tells_what_publish_raises_and_acks_what_it_acks(
    sqlite_url: str,
) -> None:
    async with opened(sqlite_url, max_batch_events=2) as router:
        await orders(router, 0)
        told: list[tuple[Any, bool]] = []
        done = trio.Event()

        def tell(answer: Any, failed: bool) -> None:
            told.append((answer, failed))
            done.set()

        with pytest.raises(InvalidArgument, match="over the maximum of 2"):
            await router.publish(events(3))
        router.publish_soon(tell, events(3))
        assert isinstance(told[0][0], InvalidArgument) and told[0][1]  # told at once
        done = trio.Event()
        router.publish_soon(tell, events(2))
        await done.wait()
        acks, failed = told[1]
        assert not failed and [a.seq for a in acks] == [1, 2]
        assert [a.seq for a in await router.publish(events(1))] == [3]


async def test_an_enforced_contract_refuses_the_batch_on_both_paths(sqlite_url: str) -> None:
    async with opened(sqlite_url) as router:
        schema = json.dumps({"type": "object", "required": ["sku"]})
        await router.register_type("order.*", schema)
        with pytest.raises(InvalidArgument, match=r"events\[0\]\.payload"):
            await router.publish(events(1))
        told: list[tuple[Any, bool]] = []
        router.publish_soon(lambda answer, failed: told.append((answer, failed)), events(1))
        assert isinstance(told[0][0], InvalidArgument) and told[0][1]
