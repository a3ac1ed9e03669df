"""The Python client: reconnect across a real router restart, use from Trio, the decorator app."""

from __future__ import annotations

import asyncio
import os

import pytest
import trio

from router._proto.router.v1 import router_pb2 as pb
from router.client import OutgoingEvent, ReceivedBatch, ReceivedEvent, RouterClient
from router.client.app import Park, Retry, RouterApp
from router.client.consumer import DurableConsumer
from router.client.trio import open_client
from tests.helpers.polling import until
from tests.helpers.server import RouterProcess, running_router


def events(count: int, start: int = 0) -> list[OutgoingEvent]:
    return [OutgoingEvent("order.created", str(start + n).encode()) for n in range(count)]


def test_a_durable_consumer_resumes_across_a_router_restart(db_url: str, tmp_path: object) -> None:
    log = os.path.join(str(tmp_path), "router.log")
    router = RouterProcess(db_url, log).start()

    async def story() -> None:
        nonlocal router
        seen: list[int] = []
        async with RouterClient(router.address) as client:
            await client.create_exchange("orders", ["order.*"])
            await client.publish(events(6))
            consumer = DurableConsumer(client, "orders", "billing", "earliest", retry_max_s=0.5)
            async with consumer:
                async with asyncio.timeout(60):
                    async for event in consumer:
                        seen.append(event.offset)
                        await consumer.ack(event)
                        if event.offset == 3:
                            router.stop()  # SIGTERM mid-stream: the cursor (3) is flushed
                            router = RouterProcess(db_url, log, router.port).start()
                            async with RouterClient(router.address) as fresh:
                                await fresh.publish(events(2, start=6))
                        if event.offset == 8:
                            break
            assert consumer.reconnects >= 1
        assert seen == list(range(1, 9))  # no gap, no repeat of what was acked

    try:
        asyncio.run(story())
    finally:
        router.stop()


def test_the_client_works_from_trio(sqlite_url: str, tmp_path: object) -> None:
    async def story(address: str) -> None:
        async with open_client(address) as client:
            await client.create_exchange("orders", ["order.*"])
            acks = await client.publish(events(3))
            assert [a.offsets for a in acks] == [{"orders": n} for n in (1, 2, 3)]
            got: list[bytes] = []
            async with client.consume("orders", "billing", start="earliest") as consumer:
                with trio.fail_after(20):
                    async for event in consumer:
                        got.append(event.payload)
                        await consumer.ack(event)
                        if len(got) == 3:
                            break
            assert got == [b"0", b"1", b"2"]
            (subscriber,) = await client.call("list_subscribers", "orders")
            assert subscriber.acked_offset == 3

    with running_router(sqlite_url, str(tmp_path)) as router:
        trio.run(story, router.address)


def test_the_decorator_app_acks_on_return_and_retries_on_raise(
    sqlite_url: str, tmp_path: object
) -> None:
    app = RouterApp()
    handled: list[int] = []
    failures: list[int] = []
    counts: dict[int, int] = {}
    done = asyncio.Event()
    quick = pb.SubscriberSettings(backoff_initial_s=0.05)

    @app.subscriber("orders", name="billing", start="earliest", settings=quick)
    async def bill(event: ReceivedEvent) -> None:
        counts[event.offset] = event.delivery_count
        if event.offset == 2 and not failures:
            failures.append(event.offset)
            raise RuntimeError("the payment service is down")
        handled.append(event.offset)
        if len(handled) == 3:
            done.set()

    async def story(address: str) -> None:
        app.address = address
        async with RouterClient(address) as client:
            await client.create_exchange("orders", ["order.*"])
            await client.publish(events(3))
            running = asyncio.ensure_future(app.run())
            await asyncio.wait_for(done.wait(), 30)
            running.cancel()
            with pytest.raises(asyncio.CancelledError):
                await running

            async def saved() -> bool:  # the router notices the stream ended, saves the cursor
                (subscriber,) = await client.list_subscribers("orders")
                return subscriber.state == "sleeping" and subscriber.acked_offset == 3

            await until(saved)

    with running_router(sqlite_url, str(tmp_path)) as router:
        asyncio.run(story(router.address))
    assert failures == [2] and sorted(handled) == [1, 2, 3]
    assert counts == {1: 1, 2: 2, 3: 1}  # the failed event came again, counted


def test_the_decorator_app_in_memory() -> None:
    app = RouterApp()
    got: list[tuple[int, str]] = []

    @app.subscriber("orders", name="billing")
    async def bill(event: ReceivedEvent) -> None:
        if event.payload == b"boom":
            raise ValueError("boom")
        if event.payload == b"park":
            raise Park("no account")
        if event.payload == b"later" and event.delivery_count < 3:
            raise Retry(after=0.5)
        got.append((event.offset, event.type))

    async def story() -> None:
        async with app.testing({"orders": ["order.*"]}) as test:
            await test.publish("order.created", b"{}")
            await test.publish("user.created", b"{}")  # no exchange matches
            await test.publish("order.paid", b"{}")
            await test.publish("order.paid", b"boom")  # fails every time: parked at the 10th
            await test.publish("order.paid", b"park")
            await test.publish("order.paid", b"later")
            assert [e.offset for e in test.received["billing"]] == [1, 2, 5]
            assert [(e.offset, e.delivery_count, why) for e, why in test.parked["billing"]] == [
                (3, 10, "delivered 10 times (max_deliveries 10): ValueError: boom"),
                (4, 1, "no account"),
            ]
            assert [e.delivery_count for e in test.retried["billing"]] == [*range(1, 11), 1, 2]

    asyncio.run(story())
    assert got == [(1, "order.created"), (2, "order.paid"), (5, "order.paid")]


def test_events_ack_themselves_and_single_publishes_go_out_in_batches(
    db_url: str, tmp_path: object
) -> None:
    async def story(address: str) -> None:
        async with RouterClient(address) as client:
            await client.create_exchange("orders", ["order.*"])
            async with client.batching_publisher(max_batch=50, linger_s=0.01) as publisher:
                acks = await asyncio.gather(*(publisher.publish(e) for e in events(120)))
            assert sorted(a.seq for a in acks) == list(range(1, 121))
            assert len({a.id for a in acks}) == 120
            async with client.consume("orders", "billing", "earliest") as consumer:
                async with asyncio.timeout(20):
                    async for event in consumer:
                        await event.ack()
                        if event.offset == 120:
                            break
            # Leaving waits for the router to end the stream, after it saved the cursor.
            (subscriber,) = await client.list_subscribers("orders")
            assert subscriber.acked_offset == 120

    with running_router(db_url, str(tmp_path)) as router:
        asyncio.run(story(router.address))


def test_reading_pages_of_stored_events_touches_no_cursor(
    sqlite_url: str, tmp_path: object
) -> None:
    async def story(address: str) -> None:
        async with RouterClient(address) as client:
            await client.create_exchange("orders", ["order.*"])
            await client.publish(events(25))
            first, head, following = await client.read("orders", "earliest", 10)
            assert ([e.offset for e in first], head, following) == (list(range(1, 11)), 25, 11)
            rest, _, following = await client.read("orders", f"offset:{following}", 100)
            assert [e.offset for e in rest] == list(range(11, 26)) and following == 26
            empty, _, _ = await client.read("orders", "latest", 10)
            assert empty == []
            assert await client.list_subscribers() == []

    with running_router(sqlite_url, str(tmp_path)) as router:
        asyncio.run(story(router.address))


def test_a_received_batch_builds_each_event_once_and_only_when_looked_at() -> None:
    wire = pb.EventBatch()
    for offset in (7, 8, 9):
        delivery = wire.deliveries.add()
        delivery.offset = offset
        delivery.event.id = f"00000000-0000-4000-8000-00000000000{offset}"
        delivery.event.type = "order.created"
        delivery.event.payload = b"p%d" % offset
        delivery.event.seq = offset * 10
    wire.deliveries[2].event.headers["k"] = "v"
    batch = ReceivedBatch(wire)

    assert len(batch) == 3
    assert batch._events == [None, None, None]  # nothing built yet
    last = batch[-1]
    assert (last.offset, last.payload, last.seq, last.headers) == (9, b"p9", 90, {"k": "v"})
    assert batch[-1] is last and batch[2] is last  # the same object: an acker set on it stays
    assert batch._events[:2] == [None, None]
    assert [e.offset for e in batch] == [7, 8, 9]
    assert batch[1:] == [batch[1], last] and batch[5:] == []
    assert batch == list(batch) and batch != [last]
    with pytest.raises(IndexError):
        batch[3]
