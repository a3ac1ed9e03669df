"""Random JSON and random protobuf field values against both edges of one running router.

Whatever arrives, the answer is a documented refusal (or a success for input that happens to be
valid), never a 500, an INTERNAL or UNKNOWN status; a refusal changes nothing stored.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router._proto.router.v1 import router_pb2 as pb
from router.client import RouterClient
from tests.helpers.orders import sqlite_orders_router
from tests.helpers.server import ADMIN_TOKEN, RouterProcess

ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
REFUSALS = {
    Status.INVALID_ARGUMENT,
    Status.NOT_FOUND,
    Status.ALREADY_EXISTS,
    Status.OUT_OF_RANGE,
    Status.FAILED_PRECONDITION,
}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
event_like = st.fixed_dictionaries(
    {},
    optional={
        "type": st.one_of(st.text(max_size=20), st.sampled_from(["order.created", "a..b", ""])),
        "id": st.one_of(st.text(max_size=40), st.uuids().map(str), st.integers()),
        "data": json_values,
        "payload_base64": st.text(max_size=12),
        "headers": st.dictionaries(st.text(max_size=5), json_values, max_size=3),
    },
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RouterProcess]:
    with sqlite_orders_router(tmp_path_factory, "fuzz", "order.#") as process:
        yield process


def last_seq(router: RouterProcess) -> int:
    value: int = httpx.get(f"{router.http}/v1/stats", headers=ADMIN).json()["last_seq"]
    return value


def check_refusal(response: httpx.Response, before: int, router: RouterProcess) -> None:
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        assert response.status_code in (400, 404, 409, 413), response.text
        assert "error" in response.json()
        assert last_seq(router) == before


@FUZZ
@given(body=st.one_of(json_values, st.fixed_dictionaries({"events": st.lists(event_like)})))
def test_random_json_to_publish(served: RouterProcess, body: Any) -> None:
    before = last_seq(served)
    response = httpx.post(
        f"{served.http}/v1/events", content=json.dumps(body).encode(), headers=ADMIN
    )
    check_refusal(response, before, served)


@FUZZ
@given(
    params=st.dictionaries(
        st.sampled_from(["from", "max", "wait", "limit_size", "other"]),
        st.one_of(st.text(max_size=12), st.integers().map(str), st.floats().map(str)),
    ),
    name=st.text(min_size=1, max_size=10).filter(lambda n: n not in (".", "..")),
    ack=json_values,
)
def test_random_pull_and_ack(
    served: RouterProcess, params: dict[str, str], name: str, ack: Any
) -> None:
    if "wait" in params:
        params["wait"] = params["wait"][:3]  # random, but no long polls here
    before = last_seq(served)
    base = f"{served.http}/v1/exchanges/orders/subscribers/{quote(name, safe='')}"
    check_refusal(
        httpx.get(f"{base}/events", params=params, headers=ADMIN, timeout=30), before, served
    )
    check_refusal(
        httpx.post(f"{base}/ack", content=json.dumps(ack).encode(), headers=ADMIN), before, served
    )


@FUZZ
@given(
    events=st.lists(
        st.builds(
            pb.Event,
            id=st.text(max_size=40),
            type=st.text(max_size=30),
            payload=st.binary(max_size=64),
            headers=st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
        ),
        max_size=4,
    ),
    start=st.builds(
        pb.StartPoint,
        kind=st.integers(0, 7),
        offset=st.integers(-(2**63), 2**63 - 1),
        time_us=st.integers(-(2**63), 2**63 - 1),
    ),
    names=st.tuples(st.text(max_size=12), st.text(max_size=12)),
    patterns=st.lists(st.text(max_size=12), max_size=3),
    limit=st.integers(-(2**31), 2**31 - 1),
)
def test_random_protobuf_fields(
    served: RouterProcess,
    events: list[pb.Event],
    start: pb.StartPoint,
    names: tuple[str, str],
    patterns: list[str],
    limit: int,
) -> None:
    async def story() -> None:
        async with RouterClient(served.address) as client:
            before = (await client.server_info()).last_seq
            stub = client._connection.publisher
            await expect(stub.Publish(pb.PublishRequest(events=events), metadata=client._metadata))
            if (await client.server_info()).last_seq != before:
                assert events  # something valid was stored: fine; nothing else may be
            await expect(client.create_exchange(names[0], patterns))
            await expect(subscribe_once(client, names[1], start, limit))

    asyncio.run(story())


async def expect(call: Any) -> None:
    try:
        await call
    except GRPCError as error:
        assert error.status in REFUSALS, (error.status, error.message)
        assert error.message, error.status


async def subscribe_once(client: RouterClient, name: str, start: pb.StartPoint, limit: int) -> None:
    async with client._connection.subscriber.Subscribe.open(metadata=client._metadata) as stream:
        await stream.send_message(
            pb.SubscribeRequest(
                start=pb.SubscribeStart(
                    exchange="orders",
                    subscriber=name,
                    queue=pb.QueueOptions(limit_size=limit),
                    start=start,
                )
            ),
            end=True,
        )
        while await stream.recv_message() is not None:
            pass
