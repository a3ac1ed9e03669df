"""Over real gRPC on loopback against a real ``router serve`` process, on both backends."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from grpclib.client import Stream
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from router._proto.router.v1 import router_pb2 as pb
from router.client import OutgoingEvent, ReceivedEvent, RouterClient
from tests.helpers.server import RouterProcess, running_router


@pytest.fixture
def router(db_url: str, tmp_path: object) -> Iterator[RouterProcess]:
    with running_router(db_url, str(tmp_path), "--consumer-timeout", "5") as process:
        yield process


@asynccontextmanager
async def publishing_to_all(router: RouterProcess) -> AsyncIterator[RouterClient]:
    """The admin's client, with an exchange ``all`` taking every event."""
    async with RouterClient(router.address) as client:
        await client.create_exchange("all", ["#"])
        yield client


async def answer(stream: Stream[pb.PublishRequest, pb.PublishResponse]) -> pb.PublishResponse:
    """The next response of a publish stream (there must be one)."""
    response = await stream.recv_message()
    assert response is not None
    return response


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


def test_a_refused_batch_of_a_publish_stream_is_answered_and_the_stream_goes_on(
    router: RouterProcess,
) -> None:
    """Batch 1 stored, batch 2 refused (a payload over the limit, then a payload its type's
    contract refuses), batch 3 stored: the refusal is batch 2's answer, in its place, and
    nothing of batch 2 is stored."""

    async def story() -> None:
        async with publishing_to_all(router) as client:
            await client.register_type("order.paid", {"type": "object", "required": ["id"]})
            batches = [
                orders(2),
                [OutgoingEvent("order.created", b"x" * (1024 * 1024 + 1))],
                orders(1, start=2),
                [OutgoingEvent("order.paid", b'{"amount": 3}')],
                orders(1, start=3),
            ]
            async with client.publish_stream() as stream:
                for batch in batches:  # all on their way before the first answer is read
                    await stream.send_message(pb.PublishRequest(events=[e.to_pb() for e in batch]))
                responses = [await answer(stream) for _ in batches]
                await stream.end()
            assert [[a.seq for a in r.acks] for r in responses] == [[1, 2], [], [3], [], [4]]
            too_big, refused = responses[1].refused, responses[3].refused
            assert too_big.code == Status.INVALID_ARGUMENT.value
            assert "events[0].payload" in too_big.message
            assert refused.code == Status.INVALID_ARGUMENT.value and "events[0]" in refused.message
            assert not responses[0].HasField("refused")
            got = await receive(client, "all", "reader", 4, "earliest")
            assert [e.payload for e in got] == [b"0", b"1", b"2", b"3"]

    run(story())


def test_a_stream_batch_over_a_quota_says_when_to_retry(router: RouterProcess) -> None:
    async def story() -> None:
        async with publishing_to_all(router) as admin:
            token = (await admin.add_user("busy", "publisher")).token.token
            await admin.set_quotas("busy", events_per_s=10)
        async with (
            RouterClient(router.address, token=token) as client,
            client.stream_publisher() as publisher,
        ):
            assert len(await publisher.publish(orders(10))) == 10
            with pytest.raises(GRPCError) as caught:
                await publisher.publish(orders(10, start=10))
            assert caught.value.status is Status.RESOURCE_EXHAUSTED
            async with client.publish_stream() as stream:
                await stream.send_message(pb.PublishRequest(events=[orders(10)[0].to_pb()]))
                response = await answer(stream)
                assert 0 < response.refused.retry_after_s <= 1.0
                await asyncio.sleep(response.refused.retry_after_s)  # what the refusal asks
                await stream.send_message(pb.PublishRequest(events=[orders(10)[0].to_pb()]))
                assert len((await answer(stream)).acks) == 1
                await stream.end()

    run(story())


def test_the_stream_publisher_raises_a_refusal_to_its_caller_only(router: RouterProcess) -> None:
    async def story() -> None:
        async with publishing_to_all(router) as client:
            too_big = [OutgoingEvent("order.created", b"x" * (1024 * 1024 + 1))]
            async with client.stream_publisher() as publisher:
                first, second, third = await asyncio.gather(
                    publisher.publish(orders(2)),
                    publisher.publish(too_big),
                    publisher.publish(orders(1, start=2)),
                    return_exceptions=True,
                )
                assert isinstance(second, GRPCError)
                assert second.status is Status.INVALID_ARGUMENT
                assert "events[0].payload" in (second.message or "")
                assert [a.seq for a in first] == [1, 2]  # type: ignore[union-attr]
                assert [a.seq for a in third] == [3]  # type: ignore[union-attr]
                assert [a.seq for a in await publisher.publish(orders(1, start=3))] == [4]
            got = await receive(client, "all", "reader", 4, "earliest")
            assert [e.payload for e in got] == [b"0", b"1", b"2", b"3"]

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
