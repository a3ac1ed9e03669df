"""The REST API over real HTTP against a real ``router serve`` process, on both stores."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from router.client import RouterClient
from tests.helpers.polling import until
from tests.helpers.server import ADMIN_TOKEN, RouterProcess, running_router

ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}
PULL = "/v1/exchanges/orders/subscribers/{}/events"
ACK = "/v1/exchanges/orders/subscribers/{}/ack"


@pytest.fixture
def router(db_url: str, tmp_path: object) -> Iterator[RouterProcess]:
    with running_router(db_url, str(tmp_path)) as process:
        asyncio.run(create_orders(process.address))
        yield process


async def create_orders(address: str) -> None:
    async with RouterClient(address) as client:
        await client.create_exchange("orders", ["order.*"])


@pytest.fixture
def http(router: RouterProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=router.http, headers=ADMIN, timeout=30) as client:
        yield client


def publish(http: httpx.Client, *types: str) -> list[dict[str, object]]:
    response = http.post(
        "/v1/events", json={"events": [{"type": t, "data": {"n": i}} for i, t in enumerate(types)]}
    )
    assert response.status_code == 200, response.text
    acks: list[dict[str, object]] = response.json()["acks"]
    return acks


def error(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    message = response.json()["error"]["message"]
    assert words in message, message


def test_publish_pull_ack_resume(http: httpx.Client) -> None:
    acks = publish(http, "order.created", "user.created", "order.paid")
    assert [a["offsets"] for a in acks] == [{"orders": 1}, {}, {"orders": 2}]
    again = http.post(
        "/v1/events", json={"events": [{"type": "order.created", "id": acks[0]["id"]}]}
    ).json()["acks"][0]
    assert again["duplicate"] and again["seq"] == acks[0]["seq"]

    first = http.get(PULL.format("billing"), params={"from": "earliest", "max": 1}).json()
    assert [(e["offset"], e["data"]) for e in first["events"]] == [(1, {"n": 0})]
    unacked = http.get(PULL.format("billing")).json()  # nothing acked: the same again
    assert [e["offset"] for e in unacked["events"]] == [1, 2]
    assert http.post(ACK.format("billing"), json={"offset": 1}).json()["acked_offset"] == 1
    rest = http.get(PULL.format("billing")).json()
    assert rest["start_offset"] == 2 and [e["offset"] for e in rest["events"]] == [2]
    assert http.post(ACK.format("billing"), json={"offset": 2}).json()["acked_offset"] == 2
    empty = http.get(PULL.format("billing"), params={"wait": "0.2"}).json()
    assert empty["events"] == [] and empty["head_offset"] == 2

    stats = http.get("/v1/stats").json()
    (subscriber,) = stats["subscribers"]
    assert (subscriber["name"], subscriber["acked_offset"], subscriber["lag"]) == ("billing", 2, 0)
    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.get("/readyz").status_code == 200


def test_a_long_poll_returns_when_an_event_arrives(router: RouterProcess) -> None:
    async def story() -> None:
        async with httpx.AsyncClient(base_url=router.http, headers=ADMIN, timeout=30) as http:
            await http.get(PULL.format("late"), params={"from": "latest"})  # creates it
            waiting = asyncio.ensure_future(http.get(PULL.format("late"), params={"wait": "20"}))

            async def attached() -> bool:
                subscribers = (await http.get("/v1/stats")).json()["subscribers"]
                return any(s["name"] == "late" and s["state"] == "active" for s in subscribers)

            await until(attached)  # the poll is waiting before the event exists
            assert not waiting.done()
            await http.post("/v1/events", json={"events": [{"type": "order.paid", "data": 7}]})
            response = await asyncio.wait_for(waiting, 10)
            assert [e["data"] for e in response.json()["events"]] == [7]

    asyncio.run(story())


def test_tokens_and_roles_are_checked(router: RouterProcess, http: httpx.Client) -> None:
    async def add(role: str) -> str:
        async with RouterClient(router.address) as admin:
            return (await admin.add_user(f"u-{role}", role)).token.token

    publisher = asyncio.run(add("publisher"))
    bare = httpx.post(f"{router.http}/v1/events", json={"events": [{"type": "order.created"}]})
    error(bare, 401, "authorization")
    assert bare.headers["www-authenticate"] == "Bearer"
    wrong = {"authorization": "Bearer rtr_nobody_" + "x" * 30}
    error(httpx.get(f"{router.http}/v1/stats", headers=wrong), 401, "unknown")
    as_publisher = {"authorization": f"Bearer {publisher}"}
    error(
        httpx.get(f"{router.http}{PULL.format('billing')}", headers=as_publisher),
        403,
        "consumer",
    )
    error(httpx.get(f"{router.http}/v1/stats", headers=as_publisher), 403, "admin")
    assert http.get("/v1/stats").json()["last_seq"] == 0  # nothing got in


def test_bad_input_is_refused_and_changes_nothing(
    router: RouterProcess, http: httpx.Client
) -> None:
    publish(http, "order.created")
    error(http.post("/v1/events", content=b"{nope"), 400, "body: not JSON")
    error(http.post("/v1/events", json={"events": "x"}), 400, "events")
    error(http.post("/v1/events", json={"events": []}), 400, "events: the batch is empty")
    error(http.post("/v1/events", json={"events": [{"type": 3}]}), 400, "events[0].type")
    error(http.post("/v1/events", json={"events": [{"type": "a b"}]}), 400, "events[0].type")
    error(
        http.post("/v1/events", json={"events": [{"type": "x", "id": "no"}]}), 400, "events[0].id"
    )
    error(
        http.post("/v1/events", json={"events": [{"type": "x", "headers": {"a": 1}}]}),
        400,
        "events[0].headers",
    )
    error(
        http.post("/v1/events", json={"events": [{"type": "x", "payload_base64": "*"}]}),
        400,
        "payload_base64",
    )
    big = b'{"events": [{"type": "x", "data": "' + b"y" * (17 * 1024 * 1024) + b'"}]}'
    error(http.post("/v1/events", content=big), 413, "body")
    deep = b"[" * 100_000 + b"]" * 100_000
    error(http.post("/v1/events", content=deep), 400, "body")
    error(http.get(PULL.format("billing"), params={"max": "-1"}), 400, "max")
    error(http.get(PULL.format("billing"), params={"wait": "-1"}), 400, "wait")
    error(http.get(PULL.format("billing"), params={"wait": "nan"}), 400, "wait")
    error(http.get(PULL.format("billing"), params={"from": "soon"}), 400, "start")
    error(http.get(PULL.format("billing"), params={"from": "offset:9"}), 400, "start.offset")
    error(http.get("/v1/exchanges/nope/subscribers/billing/events"), 404, "exchange")
    error(http.get("/v1/exchanges/orders/subscribers/bad%20name/events"), 400, "subscriber")
    error(http.post(ACK.format("nobody"), json={"offset": 1}), 404, "nobody")
    http.get(PULL.format("billing"), params={"from": "earliest"})
    error(http.post(ACK.format("billing"), json={"offset": 5}), 400, "offset")
    error(http.post(ACK.format("billing"), json={"offset": "1"}), 400, "offset")
    error(http.get("/v1/nothing"), 404, "path")
    error(http.delete("/v1/events"), 405, "method")

    stats = http.get("/v1/stats").json()
    assert stats["last_seq"] == 1
    assert [(s["name"], s["acked_offset"]) for s in stats["subscribers"]] == [("billing", 0)]


def test_a_pull_while_a_grpc_consumer_is_attached_is_refused(router: RouterProcess) -> None:
    async def story() -> None:
        async with (
            RouterClient(router.address) as client,
            client.subscribe("orders", "billing", "earliest"),
            httpx.AsyncClient(base_url=router.http, headers=ADMIN, timeout=30) as http,
        ):
            error(await http.get(PULL.format("billing")), 409, "already has a consumer")
            error(await http.post(ACK.format("billing"), json={"offset": 0}), 409, "attached")

    asyncio.run(story())
