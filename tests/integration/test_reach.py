"""What a user's grants reach beyond one call, over real gRPC and REST (router.control.reach): the
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
from router.client import OutgoingEvent, RouterClient, SubscriberSettings
from tests.helpers.server import ADMIN_TOKEN, RouterProcess, free_port, running_router
from tests.helpers.users import add_users, grant, team
from tests.integration.test_auth_admin import refused

CARD = b'{"card": "4111 1111 1111 1111"}'


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
                consumers = {name: ("consumer", *grants) for name, grants in users.items()}
                tokens.update(await add_users(admin, consumers))
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
            await orders.delete_exchange("orders")  # its only exchange: what it read is gone
            for pattern in (["#"], ["payment.#"], ["order.#"]):
                message = await refused(
                    orders.create_exchange("orders", pattern), Status.PERMISSION_DENIED
                )
                assert "'orders-team' may not route" in message and "consume (none)" in message
        async with RouterClient(process.address) as admin:
            await admin.create_exchange("orders", ["order.#"])
            await admin.create_exchange("team-a.inbox", ["order.*"])
        async with RouterClient(process.address, token=tokens["team-a"]) as team_a:
            for wide in (["#"], ["payment.#"], ["order.#"], ["order.created", "*.captured"]):
                await refused(team_a.create_exchange("team-a.all", wide), Status.PERMISSION_DENIED)
            await team_a.create_exchange("team-a.created", ["order.created"])
            page, _, _ = await team_a.read("team-a.created", "earliest")
            assert [d.type for d in page] == ["order.created"]
        async with RouterClient(process.address) as admin:
            names = {e.name for e in await admin.list_exchanges()}
            assert "team-a.all" not in names  # the refused created nothing
            await admin.add_grants("team-a", [grant("consume", "team-a.inbox", deny=True)])
        async with RouterClient(process.address, token=tokens["team-a"]) as team_a:
            message = await refused(  # within team-a.created only, which it still consumes
                team_a.create_exchange("team-a.more", ["order.*"]), Status.PERMISSION_DENIED
            )
            assert "patterns[0]" in message and "(order.created)" in message

    asyncio.run(story())
    with rest(process, tokens["team-a"]) as team_a:
        refused_rest = team_a.post("/v1/exchanges", json={"name": "team-a.x", "patterns": ["#"]})
        assert refused_rest.status_code == 403, refused_rest.text
        assert "patterns[0]" in refused_rest.json()["error"]["message"]
    with rest(process, ADMIN_TOKEN) as admin:
        made = admin.post("/v1/exchanges", json={"name": "everything", "patterns": ["#"]})
        assert made.status_code == 200, made.text  # an admin may route anything


def test_a_publisher_managing_its_exchanges_reads_no_more_than_before(
    db_url: str, tmp_path: object
) -> None:
    """``publish #`` (the publisher role's grant, which AddGrants adds to) no longer lets a
    manager route every type into an exchange of its own and read the history."""
    with running_router(db_url, str(tmp_path)) as process:

        async def setup() -> str:
            async with RouterClient(process.address) as admin:
                token = (await admin.add_user("teama", "publisher")).token.token
                await admin.add_grants(
                    "teama", [grant("manage", "team-a.*"), grant("consume", "team-a.*")]
                )
                await admin.create_exchange("payx", ["payment.#"])
                await admin.publish([OutgoingEvent("payment.captured", CARD)])
            return token

        token = asyncio.run(setup())
        with rest(process, token) as teama:
            made = teama.post("/v1/exchanges", json={"name": "team-a.all", "patterns": ["#"]})
            assert made.status_code == 403, made.text
            assert "consume (none)" in made.json()["error"]["message"]
            history = pull(teama, "team-a.all", "reader", "earliest")
            assert history.status_code == 404 and "4111" not in history.text


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
        for start in ("latest", "earliest", "offset:3", "stored"):
            moved = pull(consumer, "payments", "ledger", start)
            assert moved.status_code == 403, moved.text
            assert "'ledger' on 'payments' is user 'payments-team''s" in moved.text
    with rest(process, tokens["payments-team"]) as payments:  # its creator
        never = payments.post(f"{ledger}/ack", json={"offset": 6})
        assert never.status_code == 409, never.text
        assert "never delivered" in never.json()["error"]["message"]
        parked = payments.post(f"{ledger}/settle", json={"park": [{"offset": 6}]})
        assert parked.status_code == 409 and "never delivered" in parked.text
    assert acked() == 0  # nothing moved

    async def over_grpc() -> None:
        async with RouterClient(process.address, token=tokens["consumer"]) as consumer:
            for start in ("latest", "earliest"):
                async with asyncio.timeout(20):
                    message = await refused(
                        _attach(consumer, "payments", "ledger", start), Status.PERMISSION_DENIED
                    )
                assert "'consumer' may attach to it or settle on it only with manage" in message
            await _attach(consumer, "payments", "newcomer", "latest")  # a new one is its own
            await _attach(consumer, "payments", "newcomer", "earliest")  # and it moves it
        async with RouterClient(process.address, token=tokens["payments-team"]) as payments:
            await _attach(payments, "payments", "ledger", "earliest")  # its own
            # A start for new subscribers only (what apps send) moves nothing: not audited.
            async with payments.subscribe("payments", "ledger", "latest"):
                pass

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
        ("consumer", "payments/newcomer"),
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
        assert moved.status_code == 403 and "is user 'payments-team''s" in moved.text


def test_a_subscriber_is_its_creators_to_pull_and_settle(
    served: tuple[RouterProcess, dict[str, str]],
) -> None:
    """A ``consume *`` user that neither made nor may manage another team's subscriber can no
    longer pull it from ``stored``, park and ack it to its head, or hold an exclusive one's only
    consumer slot; a manager may, each attach audited once."""
    process, tokens = served
    ledger = "/v1/exchanges/payments/subscribers/ledger"
    exclusive = SubscriberSettings(mode="exclusive")

    async def make() -> None:
        async with (
            RouterClient(process.address, token=tokens["payments-team"]) as payments,
            payments.subscribe("payments", "ledger", "earliest", settings=exclusive),
        ):
            pass
        async with RouterClient(process.address) as admin:
            await admin.publish([OutgoingEvent("payment.captured", CARD) for _ in range(3)])

    asyncio.run(make())
    with rest(process, tokens["consumer"]) as consumer:
        taken = pull(consumer, "payments", "ledger")
        assert taken.status_code == 403 and "4111" not in taken.text, taken.text
        assert "'ledger' on 'payments' is user 'payments-team''s" in taken.text
        for part, body in (
            ("settle", {"park": [{"offset": 1}]}),
            ("settle", {"ack": [1]}),
            ("settle", {"nack": [{"offset": 1}]}),
            ("ack", {"offset": 1}),
        ):
            answer = consumer.post(f"{ledger}/{part}", json=body)
            assert answer.status_code == 403, (part, answer.text)
            assert "only with manage on the exchange" in answer.text

    async def over_grpc() -> None:
        async with RouterClient(process.address, token=tokens["consumer"]) as consumer:
            async with asyncio.timeout(20):  # the exclusive slot is not taken from its owner
                await refused(
                    _attach(consumer, "payments", "ledger", "stored"), Status.PERMISSION_DENIED
                )
        async with (
            RouterClient(process.address, token=tokens["payments-team"]) as payments,
            asyncio.timeout(20),
            payments.subscribe("payments", "ledger") as mine,
        ):
            async for batch in mine:
                assert batch[0].offset == 1
                break

    asyncio.run(over_grpc())
    with rest(process, ADMIN_TOKEN) as admin:
        held = admin.get(ledger).json()
        assert held["acked_offset"] == 0 and held["parked"] == 0, held  # nothing moved

    async def managed() -> list[pb.AuditEntry]:
        async with RouterClient(process.address) as admin:
            await admin.add_grants("consumer", [grant("manage", "payments")])
        with rest(process, tokens["consumer"]) as consumer:
            got = pull(consumer, "payments", "ledger")
            assert got.status_code == 200, got.text
            assert consumer.post(f"{ledger}/settle", json={"ack": [1]}).status_code == 200
            assert consumer.post(f"{ledger}/ack", json={"offset": 2}).status_code == 200
        async with RouterClient(process.address) as admin:
            return [e for e in await admin.list_audit() if e.action == "subscriber.attach"]

    attaches = asyncio.run(managed())
    assert [(e.user, e.target) for e in attaches] == [("consumer", "payments/ledger")]


def test_a_creator_keeps_its_subscriber_when_another_queue_has_the_name(
    served: tuple[RouterProcess, dict[str, str]],
) -> None:
    """Ownership is per queue: a same-named subscriber another user made with another
    ``limit_size`` takes nothing from the first one's creator."""
    process, tokens = served
    with rest(process, ADMIN_TOKEN) as admin:  # a second user that may consume, not manage
        given = admin.post(
            "/v1/users/monitor/grants",
            json={"grants": [{"action": "consume", "pattern": "payments"}]},
        )
        assert given.status_code == 200, given.text
    with rest(process, tokens["consumer"]) as consumer:
        assert pull(consumer, "payments", "tally", "earliest").status_code == 200
    with rest(process, tokens["monitor"]) as monitor:
        other = monitor.get(
            "/v1/exchanges/payments/subscribers/tally/events?from=stored&limit_size=5000"
        )
        assert other.status_code == 200, other.text  # a new subscriber, on another queue
    with rest(process, tokens["consumer"]) as consumer:
        moved = pull(consumer, "payments", "tally", "earliest")
        assert moved.status_code == 200, moved.text  # still its own to move
        assert moved.json()["events"][0]["offset"] == 1
    with rest(process, tokens["monitor"]) as monitor:  # and the other is the other's
        mine = monitor.get(
            "/v1/exchanges/payments/subscribers/tally/events?from=earliest&limit_size=5000"
        )
        assert mine.status_code == 200, mine.text
        theirs = pull(monitor, "payments", "tally", "earliest")
        assert theirs.status_code == 403 and "is user 'consumer''s" in theirs.text


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
