"""What a user's grants reach beyond one call, over real gRPC and REST (router.reach): the
patterns it may give an exchange, whose cursors it may move, what of a parked event it sees,
which broker a re-emit reaches, and which exchanges the AsyncAPI document shows it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
from grpclib.const import Status

from router._proto.router.v1 import router_pb2 as pb
from router.client import OutgoingEvent, RouterClient
from tests.helpers.server import ADMIN_TOKEN, RouterProcess, free_port, running_router
from tests.integration.test_auth_admin import refused

CARD = b'{"card": "4111 1111 1111 1111"}'


def grant(action: str, pattern: str = "*", deny: bool = False) -> pb.Grant:
    return pb.Grant(action=action, pattern=pattern, deny=deny)


def team(types: str, exchange: str) -> list[pb.Grant]:
    return [grant("publish", types), grant("consume", exchange), grant("manage", exchange)]


@pytest.fixture
def served(db_url: str, tmp_path: object) -> Iterator[tuple[RouterProcess, dict[str, str]]]:
    """The users of docs/security.md on a router with orders and payments and their history:
    (router, user -> token)."""
    with running_router(db_url, str(tmp_path)) as process:

        async def setup() -> dict[str, str]:
            tokens = {"admin": ADMIN_TOKEN}
            async with RouterClient(process.address) as admin:
                await admin.create_exchange("orders", ["order.#"])
                await admin.create_exchange("payments", ["payment.#"])
                await admin.publish(
                    [OutgoingEvent("order.created", b"{}"), OutgoingEvent("payment.captured", CARD)]
                )
                users = {
                    "orders-team": ([grant("consume")], team("order.#", "orders")),
                    "payments-team": ([grant("consume")], team("payment.#", "payments")),
                    "team-a": (
                        [grant("consume")],
                        [grant("publish", "order.#"), *team("order.#", "team-a.*")[1:]],
                    ),
                    "consumer": ([], []),
                    "monitor": ([grant("consume")], [grant("monitor")]),
                }
                for name, (taken, given) in users.items():
                    tokens[name] = (await admin.add_user(name, "consumer")).token.token
                    if taken:
                        await admin.revoke_grants(name, taken)
                    if given:
                        await admin.add_grants(name, given)
            return tokens

        yield process, asyncio.run(setup())


def rest(process: RouterProcess, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=process.http, headers={"authorization": f"Bearer {token}"}, timeout=30
    )


def test_managing_an_exchange_does_not_widen_what_its_manager_reads(
    served: tuple[RouterProcess, dict[str, str]],
) -> None:
    process, tokens = served

    async def story() -> None:
        async with RouterClient(process.address, token=tokens["orders-team"]) as orders:
            await orders.delete_exchange("orders")
            for wide in (["#"], ["payment.#"], ["order.#", "*.captured"]):
                message = await refused(
                    orders.create_exchange("orders", wide), Status.PERMISSION_DENIED
                )
                assert "'orders-team' may not route" in message and "order.#" in message
            await orders.create_exchange("orders", ["order.#"])
            page, _, _ = await orders.read("orders", "earliest")
            assert [d.type for d in page] == ["order.created"]
        async with RouterClient(process.address, token=tokens["team-a"]) as team_a:
            await refused(team_a.create_exchange("team-a.all", ["#"]), Status.PERMISSION_DENIED)
            await team_a.create_exchange("team-a.orders", ["order.*"])
            page, _, _ = await team_a.read("team-a.orders", "earliest")
            assert [d.type for d in page] == ["order.created"]
        async with RouterClient(process.address) as admin:
            names = {e.name for e in await admin.list_exchanges()}
            assert "team-a.all" not in names  # the refused created nothing
            await admin.add_grants("team-a", [grant("publish", "order.secret.#", deny=True)])
        async with RouterClient(process.address, token=tokens["team-a"]) as team_a:
            message = await refused(
                team_a.create_exchange("team-a.more", ["order.#"]), Status.PERMISSION_DENIED
            )
            assert "patterns[0]" in message

    asyncio.run(story())
    with rest(process, tokens["team-a"]) as team_a:
        refused_rest = team_a.post("/v1/exchanges", json={"name": "team-a.x", "patterns": ["#"]})
        assert refused_rest.status_code == 403, refused_rest.text
        assert "patterns[0]" in refused_rest.json()["error"]["message"]
    with rest(process, ADMIN_TOKEN) as admin:
        made = admin.post("/v1/exchanges", json={"name": "everything", "patterns": ["#"]})
        assert made.status_code == 200, made.text  # an admin may route anything


def pull(client: httpx.Client, exchange: str, name: str, start: str = "stored") -> httpx.Response:
    return client.get(f"/v1/exchanges/{exchange}/subscribers/{name}/events?from={start}&max=10")


def test_only_its_creator_or_a_manager_moves_a_subscribers_cursor(
    served: tuple[RouterProcess, dict[str, str]],
) -> None:
    process, tokens = served
    ledger = "/v1/exchanges/payments/subscribers/ledger"

    def acked() -> int:
        with rest(process, ADMIN_TOKEN) as admin:
            return int(admin.get(ledger).json()["acked_offset"])

    with rest(process, tokens["payments-team"]) as payments:
        first = pull(payments, "payments", "ledger", "earliest")
        assert [e["offset"] for e in first.json()["events"]] == [1]
    with rest(process, ADMIN_TOKEN) as admin:
        published = admin.post(
            "/v1/events", json={"events": [{"type": "payment.captured"} for _ in range(5)]}
        )
        assert published.status_code == 200
    assert acked() == 0
    with rest(process, tokens["consumer"]) as consumer:  # consume *, no manage
        for start in ("latest", "earliest", "offset:3"):
            moved = pull(consumer, "payments", "ledger", start)
            assert moved.status_code == 403, moved.text
            assert "move the cursor of subscriber 'ledger'" in moved.json()["error"]["message"]
        never = consumer.post(f"{ledger}/ack", json={"offset": 6})
        assert never.status_code == 409, never.text
        assert "never delivered" in never.json()["error"]["message"]
        parked = consumer.post(f"{ledger}/settle", json={"park": [{"offset": 6}]})
        assert parked.status_code == 409 and "never delivered" in parked.text
    assert acked() == 0  # nothing moved

    async def over_grpc() -> None:
        async with RouterClient(process.address, token=tokens["consumer"]) as consumer:
            for start in ("latest", "earliest"):
                async with asyncio.timeout(20):
                    message = await refused(
                        _attach(consumer, "payments", "ledger", start), Status.PERMISSION_DENIED
                    )
                assert "'consumer' may not move the cursor" in message
            # A start for new subscribers only (what apps send) moves nothing: let through,
            # and no move is audited (the list of moves below has none by 'consumer' here).
            async with consumer.subscribe("payments", "ledger", "latest"):
                pass
            await _attach(consumer, "payments", "newcomer", "latest")  # a new one starts there
        async with RouterClient(process.address, token=tokens["payments-team"]) as payments:
            await _attach(payments, "payments", "ledger", "earliest")  # its own

    asyncio.run(over_grpc())
    with rest(process, tokens["payments-team"]) as payments:  # the creator, on REST
        again = pull(payments, "payments", "ledger", "offset:2")
        assert again.status_code == 200 and again.json()["events"][0]["offset"] == 2
        assert payments.post(f"{ledger}/ack", json={"offset": 4}).status_code == 200
    assert acked() == 4
    with rest(process, tokens["orders-team"]) as orders:  # manage on orders, not payments
        assert pull(orders, "payments", "ledger", "latest").status_code == 403

    async def audited() -> list[pb.AuditEntry]:
        async with RouterClient(process.address) as admin:
            await admin.add_grants("consumer", [grant("manage", "payments")])
        async with RouterClient(process.address, token=tokens["consumer"]) as consumer:
            await _attach(consumer, "payments", "ledger", "latest")  # manage: may move it
        async with RouterClient(process.address) as admin:
            await admin.revoke_grants("consumer", [grant("manage", "payments")])
            return [e for e in await admin.list_audit() if e.action == "subscriber.move"]

    moves = asyncio.run(audited())
    assert [(e.user, e.target) for e in moves] == [
        ("payments-team", "payments/ledger"),
        ("payments-team", "payments/ledger"),
        ("consumer", "payments/ledger"),
    ]
    assert json.loads(moves[-1].detail) == {"start": "latest"}
    process.stop()
    process.start()  # who created the subscriber is kept with the store
    with rest(process, tokens["payments-team"]) as payments:
        assert pull(payments, "payments", "ledger", "earliest").status_code == 200
    with rest(process, tokens["consumer"]) as consumer:
        moved = pull(consumer, "payments", "ledger", "latest")
        assert moved.status_code == 403 and "move the cursor" in moved.text


async def _attach(client: RouterClient, exchange: str, name: str, start: str) -> None:
    """Attach from ``start`` even if the subscriber exists (an explicit move), and leave at
    once (the router answers the start first)."""
    async with client.subscribe(exchange, name, start, start_if_new=False):
        pass


def test_a_monitor_sees_parked_events_without_their_payloads(
    served: tuple[RouterProcess, dict[str, str]],
) -> None:
    process, tokens = served
    route = "/v1/exchanges/payments/subscribers/ledger"
    with rest(process, tokens["payments-team"]) as payments:
        assert pull(payments, "payments", "ledger", "earliest").status_code == 200
        parked = payments.post(f"{route}/settle", json={"park": [{"offset": 1, "reason": "x"}]})
        assert parked.status_code == 200, parked.text
    with rest(process, tokens["monitor"]) as monitor:
        (shown,) = monitor.get(f"{route}/parked").json()["parked"]
        assert (shown["offset"], shown["reason"], shown["event"]["type"]) == (
            1,
            "x",
            "payment.captured",
        )
        assert "card" not in json.dumps(shown)
        assert "data" not in shown["event"] and "payload_base64" not in shown["event"]
    with rest(process, ADMIN_TOKEN) as admin:
        assert admin.get(f"{route}/parked").json()["parked"][0]["event"]["data"]["card"]

    async def over_grpc() -> None:
        async with RouterClient(process.address, token=tokens["monitor"]) as monitor:
            (listed,) = (await monitor.list_parked("payments", "ledger")).parked
            assert listed.event.type == "payment.captured" and listed.event.id
            assert listed.event.payload == b"" and not listed.event.headers
            async with asyncio.timeout(20):
                async for followed in monitor.follow_parked("payments", "ledger"):
                    assert followed.event.type == "payment.captured"
                    assert followed.event.payload == b""
                    break
        async with RouterClient(process.address, token=tokens["payments-team"]) as payments:
            await refused(payments.list_parked("payments", "ledger"), Status.PERMISSION_DENIED)
        async with RouterClient(process.address) as admin:
            await admin.add_grants("payments-team", [grant("monitor")])
        async with RouterClient(process.address, token=tokens["payments-team"]) as payments:
            (listed,) = (await payments.list_parked("payments", "ledger")).parked
            assert listed.event.payload == CARD  # monitor and consume: the payload too

    asyncio.run(over_grpc())


def test_reemit_goes_only_to_the_configured_broker_and_says_nothing_of_closed_ports(
    served: tuple[RouterProcess, dict[str, str]],
) -> None:
    process, tokens = served

    async def failure(client: RouterClient, url: str) -> tuple[Status, str]:
        try:
            async for _ in client.reemit("orders", "x", "earliest", amqp_url=url):
                pass
        except Exception as error:  # GRPCError: its status and message
            return error.status, error.message  # type: ignore[attr-defined]
        raise AssertionError("the re-emit went through")

    async def story() -> None:
        async with RouterClient(process.address, token=tokens["orders-team"]) as orders:
            status, message = await failure(orders, "amqp://guest:guest@127.0.0.1:5672/")
            assert status is Status.PERMISSION_DENIED and "amqp_url" in message
            status, message = await failure(orders, "")  # this router has no --amqp-url
            assert status is Status.INVALID_ARGUMENT and "amqp_url" in message
        async with RouterClient(process.address) as admin:
            closed = await failure(admin, f"amqp://guest:guest@127.0.0.1:{free_port()}/")
            not_a_broker = await failure(admin, f"amqp://guest:guest@{process.address}/")
            assert (
                closed
                == not_a_broker
                == (
                    Status.UNAVAILABLE,
                    "amqp_url: cannot connect to the broker",
                )
            )
            entries = [e for e in await admin.list_audit() if e.action == "reemit"]
            assert entries == []  # none went through

    asyncio.run(story())


def test_the_asyncapi_document_shows_a_user_only_the_exchanges_it_may_see(
    served: tuple[RouterProcess, dict[str, str]],
) -> None:
    process, tokens = served

    def channels(token: str) -> set[str]:
        with rest(process, token) as client:
            found = client.get("/asyncapi.json")
            assert found.status_code == 200, found.text
            return {c["address"] for c in found.json()["channels"].values() if c["address"]}

    assert channels(tokens["orders-team"]) == {"orders"}
    assert channels(tokens["monitor"]) == {"orders", "payments"}
    assert channels(tokens["consumer"]) == {"orders", "payments"}  # consume *
    assert channels(ADMIN_TOKEN) == {"orders", "payments"}

    async def over_grpc() -> None:
        async with RouterClient(process.address, token=tokens["payments-team"]) as payments:
            document = await payments.asyncapi()
            shown = {c["address"] for c in document["channels"].values() if c["address"]}
            assert shown == {"payments"}
            assert "publish" in document["channels"]  # types stay open to every user

    asyncio.run(over_grpc())
