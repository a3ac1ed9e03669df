"""The REST API over real HTTP against a real ``router serve`` process, on both stores: publish,
pull and ack; per-event settlement by a pull consumer; the parked list over HTTP and as a gRPC
stream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from router.client import RouterClient
from tests.helpers.orders import ADMIN, admin_http, orders_router
from tests.helpers.polling import until
from tests.helpers.server import RouterProcess

PULL = "/v1/exchanges/orders/subscribers/{}/events"
ACK = "/v1/exchanges/orders/subscribers/{}/ack"


@pytest.fixture
def router(db_url: str, tmp_path: object) -> Iterator[RouterProcess]:
    with orders_router(db_url, str(tmp_path)) as process:
        yield process


@pytest.fixture
def http(router: RouterProcess) -> Iterator[httpx.Client]:
    with admin_http(router) as client:
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
        "may not consume exchange 'orders'",
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


# --- per-event settlement by a pull consumer, and the parked list ---

BILLING = "/v1/exchanges/orders/subscribers/billing"


def publish_many(http: httpx.Client, count: int) -> None:
    events = [{"type": "order.created", "data": {"n": n}} for n in range(count)]
    response = http.post("/v1/events", json={"events": events})
    assert response.status_code == 200, response.text


def pull(http: httpx.Client, **params: Any) -> list[tuple[int, int]]:
    """(offset, delivery count) of each event a pull gets."""
    response = http.get(f"{BILLING}/events", params=params)
    assert response.status_code == 200, response.text
    return [(e["offset"], e["delivery_count"]) for e in response.json()["events"]]


def settle(http: httpx.Client, **body: Any) -> dict[str, Any]:
    response = http.post(f"{BILLING}/settle", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_a_pull_consumer_acks_nacks_and_parks_one_event_at_a_time(http: httpx.Client) -> None:
    publish_many(http, 10)
    # A pull takes what it asks for; what it did not get is not counted as delivered.
    assert pull(http, **{"from": "earliest", "max": 2}) == [(1, 1), (2, 1)]
    assert pull(http, max=3) == [(1, 2), (2, 2), (3, 1)]
    done = settle(http, ack=[2, [3, 3]])
    assert (done["acked_offset"], done["acked"]) == (0, [2, 3])
    assert settle(http, ack=[1])["acked_offset"] == 3
    assert pull(http, max=4) == [(4, 1), (5, 1), (6, 1), (7, 1)]
    done = settle(
        http,
        ack=[[4, 5]],
        nack=[{"offset": 6, "delay_s": 0.5}],
        park=[{"offset": 7, "reason": "no such account"}],
    )
    assert done["acked_offset"] == 5 and done["parked"] == [7]
    assert [n["offset"] for n in done["nacked"]] == [6]
    # Offset 6 waits out its delay; the pull goes on past it and 7 is parked.
    assert pull(http, max=10) == [(8, 1), (9, 1), (10, 1)]
    settle(http, ack=[[8, 10]])

    def redelivered() -> bool:
        return pull(http, max=10) == [(6, 2)]

    asyncio.run(until_sync(redelivered, 10))
    assert settle(http, ack=[6])["acked_offset"] == 10

    described = http.get(BILLING).json()
    assert (described["acked_offset"], described["parked"], described["lag"]) == (10, 1, 0)
    parked = http.get(f"{BILLING}/parked").json()
    assert parked["total"] == 1
    (entry,) = parked["parked"]
    assert (entry["offset"], entry["reason"], entry["deliveries"]) == (7, "no such account", 1)
    assert entry["event"]["data"] == {"n": 6}

    # Re-driven: the pull gets it again; its ack empties the parked list.
    assert http.post(f"{BILLING}/parked/redrive", json={"all": True}).json()["redriven"] == [7]
    assert pull(http, max=5) == [(7, 1)]
    settle(http, ack=[7])
    assert http.get(f"{BILLING}/parked").json() == {
        "exchange": "orders",
        "subscriber": "billing",
        "total": 0,
        "parked": [],
    }


def test_nacked_once_too_often_is_parked_and_settings_change_over_http(
    http: httpx.Client,
) -> None:
    publish_many(http, 2)
    assert pull(http, **{"from": "earliest", "max": 1}) == [(1, 1)]
    changed = http.patch(f"{BILLING}/settings", json={"max_deliveries": 2, "ack_wait_s": 5})
    assert changed.status_code == 200, changed.text
    assert changed.json()["settings"]["max_deliveries"] == 2
    assert settle(http, nack=[{"offset": 1, "delay_s": 0}])["nacked"][0]["offset"] == 1
    assert pull(http, max=1) == [(1, 2)]
    done = settle(http, nack=[1])
    assert (done["parked"], done["nacked"], done["acked_offset"]) == ([1], [], 1)
    (entry,) = http.get(f"{BILLING}/parked").json()["parked"]
    assert entry["reason"] == "delivered 2 times (max_deliveries 2)"
    assert http.post(f"{BILLING}/parked/discard", json={"offsets": [1]}).json() == {
        "exchange": "orders",
        "subscriber": "billing",
        "discarded": [1],
    }
    error(
        http.patch(f"{BILLING}/settings", json={"prefetch": 0}),
        400,
        "settings.prefetch",
    )
    error(http.patch(f"{BILLING}/settings", json={"colour": 1}), 400, "settings.colour")


def test_bad_settles_are_refused_whole_and_change_nothing(http: httpx.Client) -> None:
    publish_many(http, 5)
    assert pull(http, **{"from": "earliest", "max": 3}) == [(1, 1), (2, 1), (3, 1)]
    cases = [
        ({"ack": [1, 4]}, 409, "ack[1]: 4 was never delivered (last delivered 3)"),
        ({"ack": [1, 9]}, 400, "ack[1]: 9 is outside 1..5 (the head)"),
        ({"ack": [1], "park": [1]}, 400, "park[0].offset: offset 1 is named twice"),
        ({"ack": [[3, 1]]}, 400, "ack[0]: 3..1 is not a range"),
        ({"ack": [1], "nack": [{"offset": 2, "delay_s": -1}]}, 400, "nack[0].delay_s"),
        ({"ack": [1], "nack": [{"offset": 2, "delay_s": 1e9}]}, 400, "nack[0].delay_s"),
        ({"ack": [1], "nack": [{"offset": 2, "later": 1}]}, 400, "nack[0].later"),
        ({"ack": [1], "park": [{"offset": 2, "reason": "x" * 5000}]}, 400, "park[0].reason"),
        ({"ack": ["1"]}, 400, "ack[0]: expected an offset or [first, last]"),
        ({"ack": 1}, 400, "ack: expected a list"),
        ({"acks": [1]}, 400, "body: expected"),
        ({"ack": [1], "extra": []}, 400, "extra: not a field here (fields: ack, nack, park)"),
        ({"ack": [[1, 1_000_000]]}, 400, "more than 100000 offsets"),
    ]
    for body, status, words in cases:
        error(http.post(f"{BILLING}/settle", json=body), status, words)
    assert http.get(BILLING).json()["acked_offset"] == 0  # nothing of any of them applied
    assert settle(http, ack=[1])["acked_offset"] == 1
    error(http.post(f"{BILLING}/settle", json={"ack": [1]}), 409, "ack[0]: 1 is settled")
    error(
        http.post("/v1/exchanges/orders/subscribers/nobody/settle", json={"ack": [1]}),
        404,
        "subscriber",
    )
    error(http.post(f"{BILLING}/parked/redrive", json={}), 400, "offsets")
    error(http.post(f"{BILLING}/parked/redrive", json={"offsets": [2]}), 404, "2")
    error(http.get(f"{BILLING}/parked", params={"wait": "61"}), 400, "wait")


def test_settling_over_http_while_a_stream_is_attached_is_refused(
    router: RouterProcess, http: httpx.Client
) -> None:
    publish_many(http, 2)
    pull(http, **{"from": "earliest", "max": 2})

    async def story() -> None:
        async with (
            RouterClient(router.address) as client,
            client.subscribe("orders", "billing") as subscription,
        ):
            await subscription.__anext__()
            async with httpx.AsyncClient(base_url=router.http, headers=ADMIN) as web:
                answer = await web.post(f"{BILLING}/settle", json={"ack": [1]})
            error(answer, 409, "has a consumer attached; settle over its stream")

    asyncio.run(story())


def test_the_parked_list_can_be_waited_for_and_followed(
    router: RouterProcess, http: httpx.Client
) -> None:
    publish_many(http, 4)
    pull(http, **{"from": "earliest", "max": 4})
    settle(http, park=[{"offset": 1, "reason": "first"}])

    # Past the last parked offset a long poll waits its time and comes back empty; once another
    # is parked it has it (waking a waiting poll is tested in tests/actors/test_router_core.py).
    started = time.monotonic()
    empty = http.get(f"{BILLING}/parked", params={"after": 1, "wait": 0.3}).json()
    assert empty["parked"] == [] and empty["total"] == 1
    assert time.monotonic() - started >= 0.3
    settle(http, park=[3])
    found = http.get(f"{BILLING}/parked", params={"after": 1, "wait": 20}).json()
    assert [p["offset"] for p in found["parked"]] == [3]

    async def follow() -> None:
        async with RouterClient(router.address) as client:
            seen: list[tuple[int, str]] = []
            stream = client.follow_parked("orders", "billing")
            async for parked in stream:
                seen.append((parked.offset, parked.reason))
                if len(seen) == 2:
                    async with httpx.AsyncClient(base_url=router.http, headers=ADMIN) as web:
                        answer = await web.post(
                            f"{BILLING}/settle", json={"park": [{"offset": 2, "reason": "late"}]}
                        )
                        assert answer.status_code == 200, answer.text
                if len(seen) == 3:
                    break
            await stream.aclose()
            assert seen == [(1, "first"), (3, "parked by the consumer"), (2, "late")]

    asyncio.run(asyncio.wait_for(follow(), 30))


async def until_sync(check: Any, timeout: float) -> None:
    async def checked() -> bool:
        return bool(await asyncio.to_thread(check))

    await until(checked, timeout=timeout)


def test_every_response_carries_the_security_headers(router: RouterProcess) -> None:
    """The page may not be framed, sniffed or given inline script; the API answers the same."""
    with httpx.Client(base_url=router.http, timeout=30) as http:
        responses = {
            "page": http.get("/"),
            "script": http.get("/page.js"),
            "style": http.get("/page.css"),
            "refused": http.get("/v1/stats"),  # no token: 401
            "unknown": http.get("/nowhere"),  # 404
        }
    assert [r.status_code for r in responses.values()] == [200, 200, 200, 401, 404]
    for name, response in responses.items():
        policy = response.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy, name
        assert "unsafe-inline" not in policy, name
        assert response.headers.get("x-frame-options") == "DENY", name
        assert response.headers.get("x-content-type-options") == "nosniff", name
        assert response.headers.get("referrer-policy") == "no-referrer", name
    assert responses["script"].headers["content-type"].startswith("text/javascript")
    assert responses["style"].headers["content-type"].startswith("text/css")
    page = responses["page"].text
    assert "<script>" not in page and "<style>" not in page and " style=" not in page
    assert "sessionStorage" in responses["script"].text
    assert "localStorage" not in responses["script"].text
