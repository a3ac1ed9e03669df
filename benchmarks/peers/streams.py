"""RabbitMQ Streams through rstream: confirmed publishes WINDOW at a time, named consumers whose
position the broker keeps (store_offset once per WINDOW messages, like a batched ack).

The stream plugin is off in a default RabbitMQ: `scripts/rabbit-streams.sh on` turns it on,
listening on 127.0.0.1:5552 only, and `off` puts the broker back as it was."""

from __future__ import annotations

import asyncio
import functools
import uuid
from typing import Any

from benchmarks.core import Percentiles
from benchmarks.peers.common import (
    DEADLINE_S,
    FAN_OUT,
    LATENCY_EVENTS,
    PAYLOAD,
    SUBSCRIBERS,
    WINDOW,
    Figures,
    Progress,
    Stamps,
    latencies,
    memory_figures,
    paced,
    server_rss,
    timed,
)

HOST, PORT, USER = "127.0.0.1", 5552, {"username": "guest", "password": "guest"}
# rstream takes one subscription per stream per Consumer; each costs the broker three open
# files (locator and data connections, a segment reader) and this RabbitMQ may hold 1,024 (it
# timed out at 328, and running out of files there broke its memory monitor until a restart):
# 200 named consumers, not 1,000.
CONSUMER_CONNECTIONS = min(SUBSCRIBERS, 200)


def _raw(data: bytes) -> bytes:
    """Messages are read as the bytes published, without AMQP 1.0 decoding."""
    return data


async def figures(events: int, backlog: int) -> Figures:
    from rstream import Producer

    stream = f"peers.{uuid.uuid4().hex[:8]}"
    async with Producer(HOST, PORT, **USER) as producer:
        await producer.create_stream(stream)
        try:
            confirmed = Confirmed(producer, stream)
            out = Progress("streams")
            out["publish"] = events / await timed(confirmed.publish(events))
            e2e = await subscribe(stream, "e2e", events, "next")
            out["end to end"] = events / await timed(asyncio.gather(confirmed.publish(events), e2e))
            fans = [await subscribe(stream, f"fan{i}", events, "next") for i in range(FAN_OUT)]
            out["fan-out x10"] = events / await timed(
                asyncio.gather(confirmed.publish(events), *fans)
            )
            out.update(await latencies(functools.partial(latency, producer, stream)))
            out.update(await memory(stream, CONSUMER_CONNECTIONS))
            await confirmed.publish(backlog)
            stored = confirmed.count + LATENCY_EVENTS
            away = await subscribe(stream, "away", stored, "first")
            out["catch-up"] = stored / await timed(away)
            return out
        finally:
            await producer.delete_stream(stream)


class Confirmed:
    """Publishes WINDOW messages a frame and waits for their confirms before the next window."""

    def __init__(self, producer: Any, stream: str) -> None:
        self.producer, self.stream = producer, stream
        self.count = 0
        self.confirmed = 0
        self.caught_up = asyncio.Event()

    def on_confirm(self, status: Any) -> None:
        assert status.is_confirmed, status
        self.confirmed += 1
        if self.confirmed == self.count:
            self.caught_up.set()

    async def publish(self, count: int) -> None:
        for start in range(0, count, WINDOW):
            size = min(WINDOW, count - start)
            self.count += size
            self.caught_up.clear()
            await self.producer.send_batch(
                self.stream, [PAYLOAD] * size, on_publish_confirm=self.on_confirm
            )
            await self.caught_up.wait()


async def connect() -> Any:
    """A consumer connection: rstream takes one subscription per stream per Consumer."""
    from rstream import Consumer

    consumer = Consumer(HOST, PORT, **USER)
    await consumer.start()
    return consumer


async def subscribe(stream: str, name: str, count: int, start: str) -> Any:
    """A named consumer from ``start`` (first | next), subscribed on the broker when this
    returns; await the result to wait until it has had ``count`` messages."""
    from rstream import ConsumerOffsetSpecification, OffsetType

    consumer = await connect()
    got = 0
    done = asyncio.Event()

    async def on_message(message: bytes, context: Any) -> None:
        nonlocal got
        got += 1
        if got % WINDOW == 0 or got == count:
            await consumer.store_offset(stream, name, context.offset)
        if got == count:
            done.set()

    offset = ConsumerOffsetSpecification(OffsetType.FIRST if start == "first" else OffsetType.NEXT)
    subscription = await consumer.subscribe(
        stream, on_message, decoder=_raw, subscriber_name=name, offset_specification=offset
    )

    async def finished() -> None:
        try:
            await asyncio.wait_for(done.wait(), DEADLINE_S)
        finally:
            await consumer.unsubscribe(subscription)
            await consumer.close()

    return finished()


async def latency(producer: Any, stream: str, rate: int, seconds: float) -> Percentiles:
    from rstream import ConsumerOffsetSpecification, OffsetType

    stamps = Stamps(int(rate * seconds))
    consumer = await connect()

    async def on_message(message: bytes, context: Any) -> None:
        stamps.arrived(message)

    subscription = await consumer.subscribe(
        stream,
        on_message,
        decoder=_raw,
        subscriber_name=f"latency{rate}",
        offset_specification=ConsumerOffsetSpecification(OffsetType.NEXT),
    )

    async def publish_one(payload: bytes) -> None:
        await producer.send_batch(stream, [payload])

    try:
        return await paced(rate, seconds, publish_one, stamps)
    finally:
        await consumer.unsubscribe(subscription)
        await consumer.close()


async def memory(stream: str, count: int) -> Figures:
    """The broker's RSS with ``count`` named consumers subscribed (a connection each: rstream
    takes one subscription per stream per Consumer), then with all of them gone (the broker
    keeps a stored offset per name only once one is stored: none is here)."""
    from rstream import ConsumerOffsetSpecification, OffsetType

    rss = server_rss("beam.smp")
    before = rss()

    async def attach(i: int) -> Any:
        consumer = await connect()
        await consumer.subscribe(
            stream,
            _drop,
            decoder=_raw,
            subscriber_name=f"m{i}",
            offset_specification=ConsumerOffsetSpecification(OffsetType.NEXT),
        )
        return consumer

    consumers = await asyncio.gather(*map(attach, range(count)))
    attached = rss()
    await asyncio.gather(*(consumer.close() for consumer in consumers))
    asleep = rss()
    return memory_figures(before, attached, asleep, count)


async def _drop(message: bytes, context: Any) -> None:
    """Nothing is published while these consumers are attached."""
