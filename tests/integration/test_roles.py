"""The two-tier form: one ingest node and two route nodes as real processes sharing a PostgreSQL,
each killed with SIGKILL in turn while a publisher and two durable consumers run."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError, StreamTerminatedError

from router.client import OutgoingEvent, RouterClient
from tests.helpers.databases import PG_BASE, postgres_schema
from tests.helpers.polling import until
from tests.helpers.reading import exchange_ids
from tests.helpers.server import ADMIN_TOKEN, RouterProcess

pytestmark = pytest.mark.postgres
FAILURES = (GRPCError, StreamTerminatedError, ConnectionError, OSError, asyncio.TimeoutError)
TOTAL = 6_000
PACE_S = 0.03  # between batches of 50: the kills must land while events still flow


@pytest.fixture
def shared_pg(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[str]]]:
    """The ingest node's database URL, and node names whose schemas are dropped afterwards."""
    monkeypatch.setenv("ROUTER_UPSTREAM_TOKEN", ADMIN_TOKEN)
    nodes: list[str] = []
    with postgres_schema() as url:
        yield url, nodes
    with psycopg.connect(PG_BASE, autocommit=True) as connection:
        for node in nodes:
            connection.execute(f"DROP SCHEMA IF EXISTS route_{node} CASCADE")


def route_node(
    url: str, folder: object, upstream: RouterProcess, nodes: list[str]
) -> RouterProcess:
    node = f"n{uuid.uuid4().hex[:10]}"
    nodes.append(node)
    return RouterProcess(
        url,
        f"{folder}/route-{node}.log",
        None,
        "--role",
        "route",
        "--upstream",
        upstream.address,
        "--node",
        node,
    )


async def publish_until(
    address: str, acked: list[str], orders: set[str], stop: asyncio.Event
) -> None:
    """Batches of 50 (4 in 5 of type order.created) until ``TOTAL`` are acked; failures (the
    ingest node down) are retried. ``orders``: the acked ids of order events."""
    round_ = 0
    while len(acked) < TOTAL and not stop.is_set():
        try:
            async with RouterClient(address) as client:
                while len(acked) < TOTAL:
                    batch = [
                        OutgoingEvent(
                            "order.created" if i % 5 else "audit.note", f"{round_}-{i}".encode()
                        )
                        for i in range(50)
                    ]
                    round_ += 1
                    await asyncio.sleep(PACE_S)
                    acks = await client.publish(batch, timeout=5)
                    acked.extend(a.id for a in acks)
                    orders.update(
                        a.id for a, e in zip(acks, batch, strict=True) if e.type[0] == "o"
                    )
        except FAILURES:
            await asyncio.sleep(0.2)  # the ingest node is down: wait before retrying


async def consume(address: str, got: list[tuple[int, str]]) -> None:
    """A durable consumer of ``orders`` on a route node, acking everything, across its restarts
    (until cancelled)."""
    async with (
        RouterClient(address) as client,
        client.consume("orders", "billing", "earliest") as events,
    ):
        async for event in events:
            got.append((event.offset, event.id))
            await event.ack()


def test_route_nodes_deliver_gap_free_while_each_node_is_killed_in_turn(
    shared_pg: tuple[str, list[str]], tmp_path: object
) -> None:
    url, nodes = shared_pg
    ingest = RouterProcess(url, f"{tmp_path}/ingest.log", None, "--role", "ingest").start()
    route_a = route_node(url, tmp_path, ingest, nodes).start()
    route_b = route_node(url, tmp_path, ingest, nodes).start()
    processes = [ingest, route_a, route_b]
    acked: list[str] = []
    orders_acked: set[str] = set()
    received: dict[str, list[tuple[int, str]]] = {"a": [], "b": []}

    async def scenario() -> None:
        for node in (route_a, route_b):
            async with RouterClient(node.address) as client:
                await client.create_exchange("orders", ["order.#"])
        stop = asyncio.Event()
        publisher = asyncio.ensure_future(publish_until(ingest.address, acked, orders_acked, stop))
        consumers = [
            asyncio.ensure_future(consume(route_a.address, received["a"])),
            asyncio.ensure_future(consume(route_b.address, received["b"])),
        ]

        async def past(count: int) -> bool:
            return len(acked) >= count

        try:
            for victim, when in ((route_a, 1_000), (ingest, 2_500), (route_b, 4_000)):
                await until(lambda when=when: past(when), timeout=60)  # type: ignore[misc]
                victim.kill()
                await asyncio.sleep(0.3)  # the node stays down a moment, as a crashed one would
                victim.start()
            await asyncio.wait_for(publisher, 120)
            expected = await _orders_in_log(url)
            for name in ("a", "b"):
                await until(lambda n=name: _reached(received[n], expected), timeout=60)  # type: ignore[misc]
        finally:
            stop.set()
            for task in (publisher, *consumers):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, *FAILURES):
                    await task

    try:
        asyncio.run(scenario())
        in_log = asyncio.run(_order_ids_in_log(url))
    finally:
        for process in processes:
            process.stop()
    assert len(acked) >= TOTAL
    assert orders_acked <= set(in_log), "an acknowledged event was lost"
    assert len(in_log) == len(set(in_log)), "the ingest node stored an event twice"
    for name, got in received.items():
        offsets = [offset for offset, _ in got]
        assert offsets == list(range(1, len(offsets) + 1)), f"route {name}: gap or repeat"
        assert [event_id for _, event_id in got] == in_log, f"route {name}: not the log's order"


async def _reached(got: list[tuple[int, str]], expected: int) -> bool:
    return len(got) >= expected


async def _orders_in_log(url: str) -> int:
    return len(await _order_ids_in_log(url))


async def _order_ids_in_log(url: str) -> list[str]:
    def read() -> list[str]:
        with psycopg.connect(url) as connection:
            rows = connection.execute(
                "SELECT id::text FROM events WHERE type LIKE 'order.%' ORDER BY seq"
            ).fetchall()
        return [str(row[0]) for row in rows]

    return await asyncio.to_thread(read)


def test_each_role_refuses_what_it_does_not_do(
    shared_pg: tuple[str, list[str]], tmp_path: object
) -> None:
    url, nodes = shared_pg
    ingest = RouterProcess(url, f"{tmp_path}/ingest.log", None, "--role", "ingest").start()
    route = route_node(url, tmp_path, ingest, nodes).start()

    async def scenario() -> None:
        async with RouterClient(ingest.address) as client:
            with pytest.raises(GRPCError) as refused:
                await client.create_exchange("orders", ["order.#"])
            assert refused.value.status is Status.FAILED_PRECONDITION
            assert "role" in str(refused.value.message)
            assert (await client.server_info()).role == "ingest"
        async with RouterClient(route.address) as client:
            with pytest.raises(GRPCError) as refused:
                await client.publish([OutgoingEvent("order.created", b"{}")])
            assert refused.value.status is Status.FAILED_PRECONDITION
            assert "ingest node" in str(refused.value.message)
            with pytest.raises(GRPCError) as refused:
                async for _ in client.follow(0):
                    pass
            assert refused.value.status is Status.FAILED_PRECONDITION

    try:
        asyncio.run(scenario())
    finally:
        route.stop()
        ingest.stop()


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--role", "route", "--db", "postgresql://x/y"], "--upstream"),
        (["--role", "route", "--upstream", "h:1", "--db", "sqlite:///x.db"], "--db"),
        (
            [
                "--role",
                "route",
                "--upstream",
                "h:1",
                "--node",
                "Bad-Name",
                "--db",
                "postgresql://x",
            ],
            "--node",
        ),
        (["--role", "ingest", "--upstream", "h:1"], "--upstream"),
        (["--amqp-url", "amqp://x"], "--amqp-url"),
    ],
)
def test_serve_refuses_flags_that_do_not_go_together(flags: list[str], named: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "router", "serve", *flags],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "ROUTER_DB": "sqlite:///never.db"},
    )
    assert result.returncode == 2
    assert named in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_route_node_follows_whichever_ingest_router_leads(
    shared_pg: tuple[str, list[str]], tmp_path: object
) -> None:
    url, nodes = shared_pg
    ingest = [
        RouterProcess(
            url, f"{tmp_path}/{name}.log", None, "--role", "ingest", "--name", name, "--lease", "2s"
        ).start()
        for name in ("a", "b")
    ]
    a, b = ingest
    node = f"n{uuid.uuid4().hex[:10]}"
    nodes.append(node)
    # The standby first in its list: the route node follows the hint to the leader.
    route = RouterProcess(
        url,
        f"{tmp_path}/route.log",
        None,
        "--role",
        "route",
        "--upstream",
        f"{b.address},{a.address}",
        "--node",
        node,
    ).start()

    async def scenario() -> None:
        async with RouterClient(route.address) as client:
            await client.create_exchange("orders", ["order.*"])
        async with RouterClient(f"{a.address},{b.address}") as client:
            (first,) = await client.publish([OutgoingEvent("order.created", b"1")])
            a.kill()  # b takes over; the client and the route node go there
            (second,) = await client.publish([OutgoingEvent("order.created", b"2")])

        async def routed() -> bool:
            return await exchange_ids(route.address, "orders") == [first.id, second.id]

        await until(routed, timeout=30)

    try:
        asyncio.run(asyncio.wait_for(scenario(), 90))
    finally:
        for process in (route, b, a):
            if process.process is not None and process.process.poll() is None:
                process.stop()
