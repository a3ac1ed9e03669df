"""Over real gRPC on loopback against a real ``router serve`` process, on both backends."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from router._proto.router.v1 import router_pb2 as pb
from router.client import OutgoingEvent, ReceivedEvent, RouterClient
from tests.helpers.server import RouterProcess, running_router


@pytest.fixture
def router(db_url: str, tmp_path: object) -> Iterator[RouterProcess]:
    with running_router(db_url, str(tmp_path), "--consumer-timeout", "5") as process:
        yield process


def run(coroutine: object) -> object:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


def orders(count: int, type_: str = "order.created", start: int = 0) -> list[OutgoingEvent]:
    return [OutgoingEvent(type_, str(start + i).encode()) for i in range(count)]


async def receive(
    client: RouterClient, exchange: str, name: str, count: int, start: str = "stored"
) -> list[ReceivedEvent]:
    got: list[ReceivedEvent] = []
    async with client.subscribe(exchange, name, start) as subscription:
        async with asyncio.timeout(20):
            async for batch in subscription:
                got.extend(batch)
                await subscription.ack(batch[-1].offset)
                if len(got) >= count:
                    break
    return got


def test_publish_subscribe_and_resume_over_grpc(router: RouterProcess) -> None:
    async def story() -> None:
        async with RouterClient(router.address) as client:
            await client.create_exchange("orders", ["order.*"])
            acks = await client.publish(orders(3) + orders(1, "user.created"))
            assert [a.offsets for a in acks] == [{"orders": 1}, {"orders": 2}, {"orders": 3}, {}]
            first = await receive(client, "orders", "billing", 3, "earliest")
            assert [e.offset for e in first] == [1, 2, 3]
            await client.publish(orders(2, start=3))
            rest = await receive(client, "orders", "billing", 2)
            assert [(e.offset, e.payload) for e in rest] == [(4, b"3"), (5, b"4")]

    run(story())


def test_streaming_publish_acks_every_event_in_order(router: RouterProcess) -> None:
    async def story() -> None:
        async with RouterClient(router.address) as client:
            await client.create_exchange("all", ["#"])
            async with client.publish_stream() as stream:
                for round_ in range(10):
                    events = [e.to_pb() for e in orders(50, start=round_ * 50)]
                    await stream.send_message(pb.PublishRequest(events=events))
                seqs = []
                for _ in range(10):
                    response = await stream.recv_message()
                    seqs.extend(a.seq for a in response.acks)
                await stream.end()
            assert seqs == list(range(1, 501))
            got = await receive(client, "all", "reader", 500, "earliest")
            assert [e.offset for e in got] == list(range(1, 501))

    run(story())


def test_a_republished_id_is_acked_as_a_duplicate(router: RouterProcess) -> None:
    async def story() -> None:
        async with RouterClient(router.address) as client:
            await client.create_exchange("orders", ["order.*"])
            event = OutgoingEvent("order.created", b"x", id=str(uuid.uuid4()))
            (first,) = await client.publish([event])
            (again,) = await client.publish([event])
            assert (again.seq, again.duplicate, again.offsets) == (first.seq, True, {"orders": 1})

    run(story())


@pytest.mark.parametrize(
    ("events", "field"),
    [
        ([], "events"),
        ([OutgoingEvent("bad..type")], "events[0].type"),
        ([OutgoingEvent("ok", id="not-a-uuid")], "events[0].id"),
        ([OutgoingEvent("ok", b"x" * (1024 * 1024 + 1))], "events[0].payload"),
    ],
)
def test_bad_publishes_are_refused_by_field(
    router: RouterProcess, events: list[OutgoingEvent], field: str
) -> None:
    async def story() -> None:
        async with RouterClient(router.address) as client:
            with pytest.raises(GRPCError) as caught:
                await client.publish(events)
            assert caught.value.status is Status.INVALID_ARGUMENT
            assert field in (caught.value.message or "")
            assert (await client.publish(orders(1)))[0].seq == 1  # nothing was stored before

    run(story())


def test_bad_subscriptions_get_clear_statuses(router: RouterProcess) -> None:
    async def expect(status: Status, word: str, **kwargs: object) -> None:
        async with RouterClient(router.address) as client:
            with pytest.raises(GRPCError) as caught:
                async with client.subscribe(**kwargs):  # type: ignore[arg-type]
                    pass
            assert caught.value.status is status, caught.value
            assert word in (caught.value.message or "")

    async def story() -> None:
        async with RouterClient(router.address) as client:
            await client.create_exchange("orders", ["#"])
            await client.publish(orders(2))
            async with client.subscribe("orders", "busy") as held:
                await expect(Status.FAILED_PRECONDITION, "busy", exchange="orders", name="busy")
                assert held.start_offset == 3
        await expect(Status.NOT_FOUND, "nope", exchange="nope", name="x")
        await expect(
            Status.OUT_OF_RANGE, "start.offset", exchange="orders", name="x", start="offset:9"
        )
        await expect(Status.INVALID_ARGUMENT, "subscriber", exchange="orders", name="")
        async with RouterClient(router.address) as client:
            with pytest.raises(GRPCError) as caught:
                await client.create_exchange("orders", ["#"])
            assert caught.value.status is Status.ALREADY_EXISTS
            with pytest.raises(GRPCError) as caught:
                await client.create_exchange("x", ["a.#b"])
            assert caught.value.status is Status.INVALID_ARGUMENT
            assert "patterns[0]" in (caught.value.message or "")

    run(story())


def test_an_ack_for_an_undelivered_offset_is_refused_and_the_stream_goes_on(
    router: RouterProcess,
) -> None:
    """As a settle of it is: a SettleRejected naming the offset, nothing changed, and the same
    stream delivers and takes a valid ack afterwards."""

    async def story() -> None:
        async with RouterClient(router.address) as client:
            await client.create_exchange("orders", ["#"])
            await client.publish(orders(2))
            refused: list[pb.SettleRejected] = []
            async with client.subscribe("orders", "x", "earliest") as subscription:
                subscription.on_rejected = refused.append
                async with asyncio.timeout(20):
                    first = await anext(aiter(subscription))
                    assert [e.offset for e in first] == [1, 2]
                    await subscription.ack(99)
                    await client.publish(orders(1, start=2))
                    second = await anext(aiter(subscription))  # past the notice
                assert [e.offset for e in second] == [3]
                assert [(r.offset, r.code) for r in refused] == [(99, "never_delivered")]
                assert refused[0].message == "ack.offset: 99 was never delivered (last delivered 2)"
                await subscription.ack(3)
            async with client.subscribe("orders", "x") as again:
                await client.publish(orders(1, start=3))
                async with asyncio.timeout(20):
                    assert [e.offset for e in await anext(aiter(again))] == [4]

    run(story())


def test_the_cli_creates_publishes_and_tails(router: RouterProcess) -> None:
    import subprocess
    import sys

    def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "router", "--server", router.address, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert cli("exchange", "create", "orders", "--pattern", "order.*").returncode == 0
    assert "orders:1" in cli("publish", "order.created", "--data", '{"n": 1}').stdout
    lines = '{"type": "order.paid", "data": {"n": 2}}\n{"type": "user.x", "data": 3}\n'
    assert "published 2" in cli("publish", "--stdin", stdin=lines).stdout
    tailed = cli("tail", "orders", "--name", "cli", "--from", "earliest", "--max", "2", "--json")
    assert tailed.returncode == 0, tailed.stderr
    assert [line.count('"offset"') for line in tailed.stdout.splitlines()] == [1, 1]
    failed = cli("tail", "nope", "--name", "x", "--max", "1")
    assert failed.returncode == 1 and failed.stderr.startswith("router: NOT_FOUND")
    assert cli("publish", "order.x", "--data", "{bad").returncode == 2
