"""RabbitMQ ingest against the real broker on this machine: a real AMQP publisher, a real router
process, SIGKILL and broker restarts in the middle, and the dead-letter path."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from router.app import redact
from router.client import OutgoingEvent, RouterClient
from tests.helpers import rabbit
from tests.helpers.polling import until
from tests.helpers.reading import exchange_ids
from tests.helpers.server import ADMIN_TOKEN, RouterProcess


@pytest.fixture
def amqp_exchange() -> Iterator[str]:
    rabbit.require_rabbitmq()
    name = f"test.{uuid.uuid4().hex[:10]}"
    yield name
    asyncio.run(rabbit.delete(f"router.{name}", name, f"{name}.dead"))


def bridged_router(db_url: str, folder: object, exchange: str, *extra: str) -> RouterProcess:
    return RouterProcess(
        db_url,
        f"{folder}/router.log",
        None,
        "--amqp-url",
        rabbit.AMQP_URL,
        "--amqp-exchange",
        exchange,
        "--amqp-prefetch",
        "200",
        *extra,
    )


def links(router: RouterProcess) -> dict[str, int]:
    request = urllib.request.Request(
        f"{router.http}/v1/stats", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        found: dict[str, int] = json.load(response)["links"]["amqp"]
    return found


async def head(client: RouterClient, exchange: str = "all") -> int:
    return (await client.describe_exchange(exchange)).head_offset


def messages(count: int, prefix: str = "order") -> list[tuple[str, bytes, str | None]]:
    return [(f"{prefix}.created", b"x" * 200, str(uuid.uuid4())) for _ in range(count)]


def test_a_router_killed_mid_stream_stores_every_message_once_in_order(
    db_url: str, tmp_path: object, amqp_exchange: str
) -> None:
    sent = messages(6_000)
    router = bridged_router(db_url, tmp_path, amqp_exchange).start()
    try:

        async def first_part() -> None:
            async with RouterClient(router.address) as client:
                await client.create_exchange("all", ["#"])
            # RabbitMQ drops what reaches an exchange with no queue bound: wait for the bridge.
            await until(lambda: _connected(router), timeout=30)
            publisher = asyncio.ensure_future(rabbit.publish(amqp_exchange, sent))
            async with RouterClient(router.address) as client:
                await until(lambda: _at_least(client, 1_000), timeout=60)
            router.kill()  # while the publisher still sends and the bridge still consumes
            await publisher

        asyncio.run(first_part())
        router.start()

        async def all_stored() -> None:
            async with RouterClient(router.address) as client:
                await until(lambda: _at_least(client, len(sent)), timeout=120)

        asyncio.run(all_stored())
        ids = asyncio.run(exchange_ids(router.address, "all"))
    finally:
        router.stop()
    assert len(ids) == len(set(ids)), "a message was stored twice"
    assert ids == [message_id for _, _, message_id in sent], "stored out of order or lost"


async def _at_least(client: RouterClient, count: int) -> bool:
    return await head(client) >= count


def test_the_bridge_reconnects_after_rabbitmq_restarts(
    sqlite_url: str, tmp_path: object, amqp_exchange: str
) -> None:
    before, after = messages(500), messages(500, "invoice")
    router = bridged_router(sqlite_url, tmp_path, amqp_exchange).start()
    try:

        async def scenario() -> None:
            async with RouterClient(router.address) as client:
                await client.create_exchange("all", ["#"])
                await until(lambda: _connected(router), timeout=30)
                await rabbit.publish(amqp_exchange, before)
                await until(lambda: _at_least(client, 500), timeout=30)
                await asyncio.to_thread(rabbit.restart_rabbitmq)
                await until(lambda: _reconnected(router), timeout=60)
                await rabbit.publish(amqp_exchange, after)
                await until(lambda: _at_least(client, 1_000), timeout=60)

        asyncio.run(scenario())
        ids = asyncio.run(exchange_ids(router.address, "all"))
        assert links(router)["connects"] >= 2
    finally:
        router.stop()
    assert ids == [message_id for _, _, message_id in before + after]


async def _connected(router: RouterProcess) -> bool:
    return bool((await asyncio.to_thread(links, router))["connected"])


async def _reconnected(router: RouterProcess) -> bool:
    state = await asyncio.to_thread(links, router)
    return bool(state["connected"]) and state["connects"] >= 2


def test_a_quorum_ingest_queue_for_a_rabbitmq_cluster(
    sqlite_url: str, tmp_path: object, amqp_exchange: str
) -> None:
    sent = messages(300)
    router = bridged_router(
        sqlite_url, tmp_path, amqp_exchange, "--amqp-queue-type", "quorum"
    ).start()
    try:

        async def scenario() -> None:
            async with RouterClient(router.address) as client:
                await client.create_exchange("all", ["#"])
                await until(lambda: _connected(router), timeout=30)
                await rabbit.publish(amqp_exchange, sent)
                await until(lambda: _at_least(client, len(sent)), timeout=30)

        asyncio.run(scenario())
        ids = asyncio.run(exchange_ids(router.address, "all"))
        queue_type = subprocess.run(
            ["rabbitmqctl", "list_queues", "name", "type"], capture_output=True, text=True
        ).stdout
    finally:
        router.stop()
    assert ids == [message_id for _, _, message_id in sent]
    assert f"router.{amqp_exchange}\tquorum" in queue_type


def test_a_message_that_cannot_be_an_event_is_dead_lettered_with_the_reason(
    sqlite_url: str, tmp_path: object, amqp_exchange: str
) -> None:
    good = messages(3)
    bad = [
        ("Not A Type!", b"{}", str(uuid.uuid4())),
        ("order.huge", b"x" * (1024 * 1024 + 1), str(uuid.uuid4())),
    ]
    router = bridged_router(sqlite_url, tmp_path, amqp_exchange).start()
    try:

        async def scenario() -> list[object]:
            async with RouterClient(router.address) as client:
                await client.create_exchange("all", ["#"])
                await until(lambda: _connected(router), timeout=30)
                await rabbit.publish(amqp_exchange, [good[0], bad[0], good[1], bad[1], good[2]])
                await rabbit.publish(
                    amqp_exchange, [("order.headed", b"{}", None)], headers={"k": "v" * 300}
                )
                await until(lambda: _at_least(client, 3), timeout=30)

                async def three_dead() -> bool:
                    return (await asyncio.to_thread(links, router))["dead_lettered"] >= 3

                await until(three_dead, timeout=30)
            return list(await rabbit.take_all(f"{amqp_exchange}.dead"))

        dead = asyncio.run(scenario())
        ids = asyncio.run(exchange_ids(router.address, "all"))
    finally:
        router.stop()
    assert ids == [message_id for _, _, message_id in good]
    reasons = {
        m.routing_key: str(m.header.properties.headers["x-router-error"])  # type: ignore[attr-defined,index]
        for m in dead
    }
    assert set(reasons) == {"Not A Type!", "order.huge", "order.headed"}
    assert reasons["Not A Type!"].startswith("type:")
    assert reasons["order.huge"].startswith("payload:")
    assert reasons["order.headed"].startswith("headers[")


def test_stored_events_are_reemitted_in_order_and_an_interrupted_reemit_resumes(
    sqlite_url: str, tmp_path: object, amqp_exchange: str
) -> None:
    """``router replay --to-amqp-exchange``: confirmed, in order; killed mid-way, it resumes from
    the last confirmed batch (repeats at most that unconfirmed tail)."""
    target, capture = amqp_exchange, f"router.{amqp_exchange}"  # the fixture removes both
    total = 20_000
    router = RouterProcess(sqlite_url, f"{tmp_path}/router.log").start()
    try:

        async def prepare() -> list[str]:
            await rabbit.declare_capture(target, capture)
            async with RouterClient(router.address) as client:
                await client.create_exchange("orders", ["order.*"])
                ids = []
                for start in range(0, total, 1_000):
                    batch = [
                        OutgoingEvent("order.created", f"{start + i}".encode())
                        for i in range(1_000)
                    ]
                    ids.extend(a.id for a in await client.publish(batch))
                return ids

        published = asyncio.run(prepare())
        command = [
            sys.executable, "-m", "router", "--server", router.address,
            "replay", "orders", "--to-amqp-exchange", target, "--amqp-url", rabbit.AMQP_URL,
        ]  # fmt: skip
        first = subprocess.Popen(
            [*command, "--from", "earliest"], stderr=subprocess.PIPE, text=True
        )
        assert first.stderr is not None
        for line in first.stderr:
            if "confirmed" in line:
                break
        first.kill()  # mid-way: the router stops at the next batch, its cursor at the last ack
        first.wait(10)
        resumed = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert resumed.returncode == 0, resumed.stderr
        assert "re-emitted" in resumed.stderr
        got = asyncio.run(rabbit.take_all(capture))

        async def audited() -> list[Any]:
            async with RouterClient(router.address) as client:
                return [e for e in await client.list_audit() if e.action == "reemit"]

        entries = asyncio.run(audited())
    finally:
        router.stop()
    # The completed re-emit is in the audit trail, its AMQP password left out.
    assert entries and {e.target for e in entries} == {"orders"}
    assert all(json.loads(e.detail)["amqpUrl"] == redact(rabbit.AMQP_URL) for e in entries)
    assert all("***" in e.detail for e in entries if "@" in rabbit.AMQP_URL)
    ids = [m.header.properties.message_id for m in got]
    offsets = [int(m.header.properties.headers["x-router-offset"]) for m in got]  # type: ignore[index]
    assert {m.routing_key for m in got} == {"order.created"}
    assert sorted(set(offsets)) == list(range(1, total + 1)), "an event was not re-emitted"
    # In order within each run; the second run starts at or before where the first stopped.
    # (When the kill landed between batches nothing is repeated and there is no restart point.)
    restart = next(
        (i for i in range(1, len(offsets)) if offsets[i] <= offsets[i - 1]), len(offsets)
    )
    assert offsets[:restart] == list(range(1, restart + 1))
    assert offsets[restart:] == list(range(restart - (len(offsets) - total) + 1, total + 1))
    repeated = len(offsets) - total
    assert 0 <= repeated <= 2_000, "more than one unconfirmed batch was emitted twice"
    assert [ids[offsets.index(o)] for o in range(1, total + 1)] == published
