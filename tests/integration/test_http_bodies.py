"""What the REST API reads and writes: a body with a field a route does not take, or JSON the
router could not write back (NaN, a huge integer, deep nesting), is refused with 400 naming it;
a stored payload that is such JSON (published over gRPC) is pulled as ``payload_base64``, so the
pull, its consumer and ``router replay`` go on. Every response, a 500 included, carries the
security headers."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.requests import ClientDisconnect

from router.app import open_router
from router.client import OutgoingEvent, RouterClient
from router.core.settings import Settings
from router.http.app import make_app
from tests.helpers.databases import database_url
from tests.helpers.orders import admin_http, orders_router
from tests.helpers.server import RouterProcess

SUBSCRIBER = "/v1/exchanges/orders/subscribers/billing"
HUGE = "9" * 5000
DEEP = "[" * 970 + "]" * 970


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RouterProcess]:
    folder = str(tmp_path_factory.mktemp("bodies"))
    with database_url("sqlite", folder) as url, orders_router(url, folder) as process:
        yield process


@pytest.fixture
def http(router: RouterProcess) -> Iterator[httpx.Client]:
    with admin_http(router) as client:
        yield client


def refused(response: httpx.Response, *words: str) -> str:
    assert response.status_code == 400, response.text
    message: str = response.json()["error"]["message"]
    for word in words:
        assert word in message, message
    return message


def raw(http: httpx.Client, path: str, text: str) -> httpx.Response:
    return http.post(path, content=text, headers={"content-type": "application/json"})


@pytest.mark.parametrize(
    ("event", "named"),
    [
        ({"type": "order.paid", "payload": "x"}, "events[0].payload"),
        ({"type": "order.paid", "dat": {"id": 1}}, "events[0].dat"),
        ({"type": "order.paid", "data": {}, "payload_base64": "eA=="}, "events[0].data"),
    ],
)
def test_a_publish_with_a_field_it_does_not_take_is_refused_naming_it(
    http: httpx.Client, event: dict[str, object], named: str
) -> None:
    before = http.get("/v1/stats").json()["last_seq"]
    refused(http.post("/v1/events", json={"events": [event]}), named)
    assert http.get("/v1/stats").json()["last_seq"] == before  # nothing stored


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("/v1/events", {"events": [{"type": "order.paid"}], "event": []}, "event"),
        ("/v1/exchanges", {"name": "x", "patterns": ["a"], "pattern": "b"}, "pattern"),
        ("/v1/users", {"name": "ann", "role": "consumer", "grants": []}, "grants"),
        (f"{SUBSCRIBER}/ack", {"offset": 1, "offsets": [2]}, "offsets"),
        (f"{SUBSCRIBER}/parked/discard", {"all": True, "every": True}, "every"),
        ("/v1/users/admin/grants", {"grants": [{"action": "monitor"}], "deny": True}, "deny"),
    ],
)
def test_every_body_refuses_fields_it_does_not_take(
    http: httpx.Client, path: str, body: dict[str, object], named: str
) -> None:
    refused(http.post(path, json=body), f"{named}: not a field here")


@pytest.mark.parametrize(
    ("method", "path", "body", "named", "fields"),
    [
        ("POST", f"{SUBSCRIBER}/settle", {"ack": [1], "extra": []}, "extra", "ack, nack, park"),
        (
            "POST",
            f"{SUBSCRIBER}/settle",
            {"nack": [{"offset": 1, "later": 1}]},
            "nack[0].later",
            "offset, delay_s",
        ),
        (
            "POST",
            f"{SUBSCRIBER}/settle",
            {"park": [{"offset": 1, "why": "x"}]},
            "park[0].why",
            "offset, reason",
        ),
        ("PUT", "/v1/users/admin/quotas", {"streams": 5, "stream": 1}, "stream", "events_per_s"),
        ("PUT", "/v1/types/order.paid", {"schema": {}, "modes": "x"}, "modes", "schema, mode"),
        (
            "POST",
            "/v1/users/admin/grants",
            {"grants": [{"action": "monitor", "denied": True}]},
            "grants[0].denied",
            "action, pattern, deny",
        ),
    ],
)
def test_every_object_refuses_fields_it_does_not_take_in_one_wording(
    http: httpx.Client, method: str, path: str, body: dict[str, object], named: str, fields: str
) -> None:
    refused(http.request(method, path, json=body), f"{named}: not a field here (fields: {fields}")


def test_a_long_unknown_field_is_shown_cut_short(http: httpx.Client) -> None:
    long = "k" * 5000
    for body in ({"ack": [1], long: 1}, {"nack": [{"offset": 1, long: 1}]}):
        message = refused(http.post(f"{SUBSCRIBER}/settle", json=body), "not a field here")
        assert len(message) < 200, message


def publishing(data: str) -> str:
    return '{"events": [{"type": "order.paid", "data": ' + data + "}]}"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (publishing("NaN"), ("body: NaN",)),
        (publishing("1e999"), ("body:", "double")),
        (publishing(HUGE), ("body:", "4300 digits")),
        (publishing(DEEP), ("body:", "nested")),
        ('{"offset": ' + HUGE + "}", ("body:", "4300 digits")),
    ],
)
def test_json_the_router_could_not_write_back_is_refused(
    http: httpx.Client, text: str, words: tuple[str, ...]
) -> None:
    path = f"{SUBSCRIBER}/ack" if text.startswith('{"offset"') else "/v1/events"
    refused(raw(http, path, text), *words)
    refused(raw(http, "/v1/exchanges", text), *words)  # on any route


def test_a_payload_nested_as_deep_as_allowed_is_taken_and_pulled_as_data(
    http: httpx.Client,
) -> None:
    data = json.loads("[" * 120 + "]" * 120)
    response = http.post("/v1/events", json={"events": [{"type": "user.deep", "data": data}]})
    assert response.status_code == 200, response.text


def test_stored_payloads_that_are_not_writable_json_are_pulled_as_base64(
    router: RouterProcess, http: httpx.Client
) -> None:
    payloads = [b'{"n": NaN}', HUGE.encode(), DEEP.encode(), b'"\\ud800"', b'{"ok": 1}']
    asyncio.run(publish_raw(router.address, payloads))
    pulled = http.get(f"{SUBSCRIBER}/events", params={"from": "earliest", "max": 100})
    assert pulled.status_code == 200, pulled.text
    events = pulled.json()["events"]
    assert [base64.b64decode(e["payload_base64"]) for e in events[:3]] == payloads[:3]
    assert events[3]["data"] == "\ud800"  # a lone surrogate, written as a JSON escape
    assert events[4]["data"] == {"ok": 1}
    assert all(e["delivery_count"] == 1 for e in events)

    replay = subprocess.run(
        [sys.executable, "-m", "router", "replay", "orders", "--json"],
        env={**os.environ, "ROUTER_ADDR": router.address},
        capture_output=True,
        timeout=60,
    )
    assert replay.returncode == 0, replay.stderr
    assert len(replay.stdout.splitlines()) == len(payloads)


async def publish_raw(address: str, payloads: list[bytes]) -> None:
    async with RouterClient(address) as client:
        await client.publish([OutgoingEvent("order.raw", p) for p in payloads])


async def test_a_500_carries_the_security_headers(tmp_path: object) -> None:
    """A client that goes away in the middle of its body makes the handler fail below the
    routes (Starlette's ClientDisconnect): the 500 that Starlette's error middleware answers
    carries the headers as every other response does."""
    settings = Settings(db_url=f"sqlite:///{tmp_path}/router.db", auth=False)
    async with open_router(settings) as router:
        app = make_app(router)
        incoming = iter(
            [
                {"type": "http.request", "body": b'{"events": [', "more_body": True},
                {"type": "http.disconnect"},
            ]
        )
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return next(incoming)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/events",
            "raw_path": b"/v1/events",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"content-type", b"application/json")],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 2),
        }
        with pytest.raises(ClientDisconnect):
            await app(scope, receive, send)
    (start,) = [m for m in sent if m["type"] == "http.response.start"]
    assert start["status"] == 500
    headers = dict(start["headers"])
    for name in (b"content-security-policy", b"x-frame-options", b"x-content-type-options"):
        assert name in headers, headers


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("/v1/users", {"name": "admin\n", "role": "admin"}, "name:"),
        ("/v1/exchanges", {"name": "orders\n", "patterns": ["order.*"]}, "name:"),
        ("/v1/exchanges", {"name": "look", "patterns": ["order.*\n"]}, "patterns[0]:"),
        ("/v1/events", {"events": [{"type": "order.created\n"}]}, "events[0].type:"),
        ("/v1/events", {"events": [{"type": "order.internal\n.paid"}]}, "events[0].type:"),
    ],
)
def test_a_name_with_a_trailing_newline_is_refused(
    http: httpx.Client, path: str, body: dict[str, object], named: str
) -> None:
    refused(http.post(path, json=body), named)


def test_an_exchange_pattern_of_too_many_words_is_refused(http: httpx.Client) -> None:
    pattern = ".".join(["#"] * 126)
    response = http.post("/v1/exchanges", json={"name": "greedy", "patterns": ["a", pattern]})
    refused(response, "patterns[1]:", "at most 32")
