"""Text callers send, written where operators look: a park reason holding a forged log line and
terminal escape sequences reaches the log and ``router subscriber parked`` escaped, one record a
line; a NUL character (which PostgreSQL's text refuses) is refused with 400 / INVALID_ARGUMENT
naming the field, and the router stays ready. On both stores."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from router.client import RouterClient
from tests.helpers.orders import admin_http, orders_router
from tests.helpers.polling import until
from tests.helpers.server import RouterProcess

SUBSCRIBER = "/v1/exchanges/orders/subscribers/{}"
FORGED = "declined\n2026-12-07 10:00:00,000 INFO router user added name=mallory role=admin"
ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\u202e"


@pytest.fixture
def router(db_url: str, tmp_path: object) -> Iterator[RouterProcess]:
    with orders_router(db_url, str(tmp_path), published=3) as process:
        yield process


@pytest.fixture
def http(router: RouterProcess) -> Iterator[httpx.Client]:
    with admin_http(router) as client:
        yield client


async def park_over_grpc(address: str, reason: str) -> None:
    async with (
        RouterClient(address) as client,
        client.subscribe("orders", "billing", "earliest") as subscription,
    ):
        batch = await subscription.__anext__()
        await subscription.park(batch[0].offset, reason)
        await subscription.ack(batch[0].offset)
        await subscription.leave()


def test_a_park_reason_is_escaped_in_the_log_and_on_the_terminal(router: RouterProcess) -> None:
    asyncio.run(park_over_grpc(router.address, FORGED + ESCAPES))

    async def logged() -> bool:
        return "event parked" in router.log()

    asyncio.run(until(logged))
    log = router.log()
    assert "\x1b" not in log and "\u202e" not in log
    assert not any(line.startswith("2026-12-07 10:00:00,000") for line in log.splitlines())
    (parked,) = [line for line in log.splitlines() if "event parked" in line]
    assert "reason=declined\\n2026-12-07" in parked and "\\x1b]0;pwned\\x07" in parked

    listing = subprocess.run(
        [sys.executable, "-m", "router", "subscriber", "parked", "orders", "billing"],
        env={**os.environ, "ROUTER_ADDR": router.address},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listing.returncode == 0, listing.stderr
    assert "\x1b" not in listing.stdout and "\u202e" not in listing.stdout
    assert "declined\\n2026-12-07" in listing.stdout and "\\x1b[2J" in listing.stdout
    assert len(listing.stdout.splitlines()) == 2  # the header and one row


def test_a_nul_in_a_rest_park_reason_is_refused_naming_it(http: httpx.Client) -> None:
    pulled = http.get(SUBSCRIBER.format("web") + "/events", params={"from": "earliest", "max": 1})
    assert pulled.status_code == 200, pulled.text
    settle = http.post(
        SUBSCRIBER.format("web") + "/settle", json={"park": [{"offset": 1, "reason": "a\x00b"}]}
    )
    assert settle.status_code == 400, settle.text
    assert settle.json()["error"]["message"].startswith("park[0].reason: a NUL")
    assert http.get("/readyz").status_code == 200
    parked = http.get(SUBSCRIBER.format("web") + "/parked").json()
    assert parked["total"] == 0  # nothing changed
    assert http.post(SUBSCRIBER.format("web") + "/settle", json={"park": [1]}).status_code == 200


def test_a_nul_in_a_grpc_park_reason_is_refused(router: RouterProcess, http: httpx.Client) -> None:
    asyncio.run(park_over_grpc(router.address, "a\x00b"))
    assert http.get("/readyz").status_code == 200
    parked = http.get(SUBSCRIBER.format("billing") + "/parked").json()
    assert parked["total"] == 0


def test_other_stored_text_with_a_nul_is_refused(router: RouterProcess, http: httpx.Client) -> None:
    described = http.put("/v1/types/order.created", json={"schema": {}, "description": "x\x00y"})
    assert described.status_code == 400, described.text
    assert described.json()["error"]["message"].startswith("description: a NUL")

    async def revoke() -> None:
        async with RouterClient(router.address) as client:
            with pytest.raises(GRPCError) as refused:
                await client.revoke_token("ab\x00cd")
            assert refused.value.status is Status.INVALID_ARGUMENT

    asyncio.run(revoke())
    assert http.get("/readyz").status_code == 200
