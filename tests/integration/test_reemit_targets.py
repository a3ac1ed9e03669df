"""Which RabbitMQ exchanges a re-emit may publish into, against the real broker: never the
router's own ingest exchange, for users other than admins only those the operator lists
(``--reemit-exchanges``), and a broker's own error text stays in the router's log."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiormq
import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from router._proto.router.v1 import router_pb2 as pb
from router.client import OutgoingEvent, RouterClient
from tests.helpers import rabbit
from tests.helpers.server import RouterProcess


@pytest.fixture
def names() -> Iterator[dict[str, str]]:
    rabbit.require_rabbitmq()
    base = f"test.{uuid.uuid4().hex[:10]}"
    found = {
        "ingest": base,
        "allowed": f"{base}.out",
        "capture": f"{base}.capture",
        "direct": f"{base}.direct",
        "unlisted": f"{base}.unlisted",
    }
    yield found
    asyncio.run(rabbit.delete(f"router.{base}", f"{base}.dead", *found.values()))


async def declare_direct(name: str) -> None:
    """An exchange of another type: declaring it as a topic exchange fails on the broker."""
    connection = await aiormq.connect(rabbit.AMQP_URL)
    try:
        channel = await connection.channel()
        await channel.exchange_declare(name, exchange_type="direct", durable=True)
    finally:
        await connection.close()


async def failure(client: RouterClient, target: str) -> tuple[Status, str]:
    try:
        async for _ in client.reemit("orders", target, "earliest"):
            pass
    except GRPCError as error:
        return error.status, error.message or ""
    raise AssertionError(f"the re-emit into {target} went through")


def test_reemit_goes_only_into_the_exchanges_the_operator_lists(
    sqlite_url: str, tmp_path: Path, names: dict[str, str]
) -> None:
    log = tmp_path / "router.log"
    listed = f"{names['allowed']},{names['direct']}"
    process = RouterProcess(
        sqlite_url,
        str(log),
        None,
        "--amqp-url",
        rabbit.AMQP_URL,
        "--amqp-exchange",
        names["ingest"],
        "--reemit-exchanges",
        listed,
    ).start()
    try:

        async def story() -> None:
            await rabbit.declare_capture(names["allowed"], names["capture"])
            await declare_direct(names["direct"])
            async with RouterClient(process.address) as admin:
                await admin.create_exchange("orders", ["order.#"])
                await admin.publish([OutgoingEvent("order.created", b"{}")])
                token = (await admin.add_user("orders-team", "consumer")).token.token
                await admin.add_grants("orders-team", [pb.Grant(action="manage", pattern="orders")])
                status, message = await failure(admin, names["ingest"])  # a loop, for anyone
                assert status is Status.INVALID_ARGUMENT and "amqp_exchange" in message
                assert "ingest exchange" in message
            async with RouterClient(process.address, token=token) as team:
                status, message = await failure(team, names["ingest"])
                assert status is Status.INVALID_ARGUMENT and "amqp_exchange" in message
                status, message = await failure(team, names["unlisted"])
                assert status is Status.PERMISSION_DENIED and "amqp_exchange" in message
                assert "allows only" in message and "--reemit-exchanges" in message
                status, message = await failure(team, names["direct"])  # the broker refuses
                assert (status, message) == (
                    Status.UNAVAILABLE,
                    "amqp: the broker refused or lost the re-emit; the router's log has the cause",
                )
                async for _ in team.reemit("orders", names["allowed"], "earliest"):
                    pass
            got = await rabbit.take_all(names["capture"])
            assert [m.routing_key for m in got] == ["order.created"]
            async with RouterClient(process.address) as admin:
                audited = [e for e in await admin.list_audit() if e.action == "reemit"]
                assert [(e.user, e.target) for e in audited] == [("orders-team", "orders")]

        asyncio.run(story())
        assert "inequivalent arg" in log.read_text()  # the broker's words, in the log only
        process.stop()
        process.extra = process.extra[:-2]  # no --reemit-exchanges: none for non-admins
        process.start()

        async def none_listed() -> None:
            async with RouterClient(process.address) as admin:
                token = (await admin.issue_token("orders-team")).token
            async with RouterClient(process.address, token=token) as team:
                status, message = await failure(team, names["allowed"])
                assert status is Status.PERMISSION_DENIED
                assert "the operator allows none" in message and "amqp_exchange" in message

        asyncio.run(none_listed())
    finally:
        process.stop()
