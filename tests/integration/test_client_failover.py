"""Every call of the client follows the address list and the leader a standby names, streams
included, and a silent (frozen) router is left for the next one, over real routers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from router._proto.router.v1 import router_pb2 as pb
from router.client import DurableConsumer, OutgoingEvent, RouterClient
from tests.helpers.databases import postgres_schema
from tests.helpers.polling import until
from tests.helpers.server import ADMIN_TOKEN, RouterProcess, free_port, leads, running_router

TAIL = [sys.executable, "-m", "router", "tail", "orders", "--name", "cli"]


def events(count: int, start: int = 0) -> list[OutgoingEvent]:
    return [OutgoingEvent("order.created", str(start + n).encode()) for n in range(count)]


def test_streams_and_tail_go_past_a_dead_address(sqlite_url: str, tmp_path: object) -> None:
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there

    async def story(address: str) -> None:
        async with RouterClient(f"{dead},{address}") as client:
            await client.create_exchange("orders", ["order.*"])
        async with (
            RouterClient(f"{dead},{address}") as client,
            client.publish_stream() as stream,
        ):
            await stream.send_message(pb.PublishRequest(events=[e.to_pb() for e in events(2)]))
            response = await stream.recv_message()
            assert response is not None and len(response.acks) == 2
            await stream.end()
        async with (
            RouterClient(f"{dead},{address}") as client,
            client.subscribe("orders", "billing", "earliest") as subscription,
        ):
            batch = await asyncio.wait_for(subscription.__anext__(), 20)
            assert [e.offset for e in batch] == [1, 2]

    with running_router(sqlite_url, str(tmp_path)) as router:
        asyncio.run(story(router.address))
        tailed = subprocess.run(
            [*TAIL, "--from", "earliest", "--max", "2"],
            env={**os.environ, "ROUTER_ADDR": f"{dead},{router.address}"},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert tailed.returncode == 0, tailed.stderr
    assert len(tailed.stdout.splitlines()) == 2


@contextlib.contextmanager
def leader_and_standby(
    tmp_path: object, *extra: str
) -> Iterator[tuple[RouterProcess, RouterProcess]]:
    """Routers a and b on one PostgreSQL schema, given once a leads and b stands by; both
    stopped afterwards (a frozen one thawed first)."""
    with postgres_schema() as url:
        a = RouterProcess(url, f"{tmp_path}/a.log", None, *extra, "--name", "a").start()
        b = RouterProcess(url, f"{tmp_path}/b.log", None, *extra, "--name", "b").start()
        try:

            async def a_leads() -> bool:
                return leads(a) and not leads(b)

            asyncio.run(until(a_leads, 30))
            yield a, b
        finally:
            for router in (a, b):
                if router.process is not None and router.process.poll() is None:
                    router.process.send_signal(signal.SIGCONT)
                router.stop()


@pytest.mark.postgres
def test_clients_leave_a_frozen_leader_for_the_new_one(tmp_path: object) -> None:
    """The leader SIGSTOPped: a consumer attached to it, and a publish begun on its connection,
    go on to the standby once it leads (the old client waited on the frozen one for as long as
    it stayed frozen, and the publish for its whole timeout)."""
    with leader_and_standby(tmp_path, "--lease", "2s") as (a, b):

        async def story() -> None:
            addresses = f"{a.address},{b.address}"
            async with RouterClient(addresses, ADMIN_TOKEN, failover_s=60) as client:
                await client.create_exchange("orders", ["order.*"])
                await client.publish(events(1))
                got: list[bytes] = []
                arrived = asyncio.Event()

                async def consume() -> None:
                    async with client.consume("orders", "billing", "earliest") as consumer:
                        async for event in consumer:
                            got.append(event.payload)
                            await event.ack()
                            arrived.set()

                consuming = asyncio.ensure_future(consume())
                try:
                    await asyncio.wait_for(arrived.wait(), 20)
                    assert a.process is not None
                    a.process.send_signal(signal.SIGSTOP)
                    # Sent on the connection to the frozen leader: the ping unanswered ends
                    # it, and the call goes on round the list until b leads.
                    (ack,) = await asyncio.wait_for(
                        client.publish(events(1, start=1), timeout=120), 45
                    )
                    assert ack.seq == 2 and client.address == b.address
                    await until(lambda: _has(got, b"1"), 45)
                finally:
                    consuming.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await consuming

        asyncio.run(story())


async def _has(got: list[bytes], payload: bytes) -> bool:
    return payload in got


def test_a_router_answers_the_pings_so_an_idle_consumer_stays(
    sqlite_url: str, tmp_path: object
) -> None:
    """Pings four times as often as the client's default (2 a second, still modest for a
    router that limits frames doing no work): the router answers each one, and a consumer idle
    for several ping periods keeps its stream (no reconnect)."""

    async def story(address: str) -> None:
        async with RouterClient(address, keepalive_s=0.5, keepalive_timeout_s=1.0) as client:
            await client.create_exchange("orders", ["order.*"])
            async with client.consume("orders", "billing") as consumer:
                await asyncio.sleep(3)  # idle: six ping periods, three times the ping timeout
                await client.publish(events(1))
                event = await asyncio.wait_for(consumer.__anext__(), 20)
                await event.ack()
                assert (event.offset, consumer.reconnects) == (1, 0)

    with running_router(sqlite_url, str(tmp_path)) as router:
        asyncio.run(story(router.address))


@pytest.mark.postgres
def test_a_consumer_reattaches_on_the_new_leader_without_its_back_off(tmp_path: object) -> None:
    """The leader killed: the consumer goes round the list until the standby leads and
    attaches there, without first waiting out its reconnect back-off (30 s here; the old
    client slept it before each try)."""
    with leader_and_standby(tmp_path) as (a, b):

        async def story() -> None:
            addresses = f"{a.address},{b.address}"
            async with RouterClient(addresses, ADMIN_TOKEN) as client:
                await client.create_exchange("orders", ["order.*"])
                await client.publish(events(1))
                # A back-off longer than the bound below.
                consumer = DurableConsumer(
                    client, "orders", "billing", "earliest", retry_initial_s=30, retry_max_s=30
                )
                async with consumer:
                    first = await asyncio.wait_for(consumer.__anext__(), 20)
                    await first.ack()
                    a.kill()
                    await client.publish(events(1, start=1))  # on b, once it leads
                    second = await asyncio.wait_for(consumer.__anext__(), 25)
                    assert (second.offset, client.address) == (2, b.address)
                    await second.ack()

        asyncio.run(story())
