"""Idempotency ids are each user's own: a publish re-using an id another user published is
refused (ALREADY_EXISTS / 409 naming the id), stores nothing and shows nothing of the other
user's event; the same user re-publishing is acked as a duplicate. Real router, both stores."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from grpclib.const import Status

from router._proto.router.v1 import router_pb2 as pb
from router.client import OutgoingEvent, RouterClient
from tests.helpers.server import RouterProcess, running_router
from tests.integration.test_auth_admin import refused


@pytest.fixture
def router(db_url: str, tmp_path: object) -> Iterator[RouterProcess]:
    with running_router(db_url, str(tmp_path)) as process:
        yield process


def test_one_users_ids_neither_suppress_nor_reveal_another_users_events(
    router: RouterProcess,
) -> None:
    async def story() -> tuple[str, str, int]:
        async with RouterClient(router.address) as admin:
            await admin.create_exchange("orders", ["order.#"])
            await admin.create_exchange("payments", ["payment.#"])
            tokens = {}
            for team, types in (("orders-team", "order.#"), ("payments-team", "payment.#")):
                tokens[team] = (await admin.add_user(team, "publisher")).token.token
                await admin.revoke_grants(team, [pb.Grant(action="publish", pattern="#")])
                await admin.add_grants(team, [pb.Grant(action="publish", pattern=types)])
            async with RouterClient(router.address, token=tokens["orders-team"]) as orders:
                taken = OutgoingEvent("order.created", b"card on file")
                (first,) = await orders.publish([taken])
                before = (await admin.server_info()).last_seq
            async with RouterClient(router.address, token=tokens["payments-team"]) as payments:
                message = await refused(
                    payments.publish(
                        [
                            OutgoingEvent("payment.captured", b"1"),
                            OutgoingEvent("payment.captured", b"2", id=taken.id),
                        ]
                    ),
                    Status.ALREADY_EXISTS,
                    f"events[1].id: {taken.id}",
                )
                assert "orders" not in message  # neither the other user nor its exchange
                assert (await admin.server_info()).last_seq == before  # nothing stored
                (own,) = await payments.publish([OutgoingEvent("payment.captured", b"3")])
                assert not own.duplicate
            async with RouterClient(router.address, token=tokens["orders-team"]) as orders:
                (again,) = await orders.publish([OutgoingEvent("order.created", id=taken.id)])
                assert again.duplicate and again.seq == first.seq
            (by_admin,) = await admin.publish([OutgoingEvent("order.created", id=taken.id)])
            assert by_admin.duplicate and by_admin.seq == first.seq
            return tokens["payments-team"], taken.id, before + 1

    token, taken_id, last_seq = asyncio.run(story())
    body = {"events": [{"type": "payment.captured", "id": taken_id, "data": 1}]}
    answer = httpx.post(
        f"{router.http}/v1/events", json=body, headers={"authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 409, answer.text
    assert f"events[0].id: {taken_id}" in answer.json()["error"]["message"]
    assert "acks" not in answer.json()

    async def stored() -> int:
        async with RouterClient(router.address) as admin:
            return (await admin.server_info()).last_seq

    assert asyncio.run(stored()) == last_seq
