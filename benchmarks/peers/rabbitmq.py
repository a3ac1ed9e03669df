"""RabbitMQ durable classic queues through aiormq: persistent messages, publisher confirms
WINDOW in flight, consumers with manual multiple-acks (prefetch WINDOW, one ack per 100)."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Awaitable

import aiormq
from pamqp.commands import Basic

from benchmarks.core import Percentiles
from benchmarks.peers.common import (
    DEADLINE_S,
    FAN_OUT,
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
from tests.helpers.rabbit import AMQP_URL

PERSISTENT = Basic.Properties(delivery_mode=2)


async def publish(
    channel: aiormq.abc.AbstractChannel, exchange: str, count: int, message_ids: bool = False
) -> None:
    """Persistent messages with confirms, WINDOW in flight (``message_ids``: a UUID each)."""
    for start in range(0, count, WINDOW):
        confirms = [
            channel.basic_publish(
                PAYLOAD,
                exchange=exchange,
                routing_key="bench.event",
                properties=Basic.Properties(
                    delivery_mode=2, message_id=str(uuid.uuid4()) if message_ids else None
                ),
            )
            for _ in range(min(WINDOW, count - start))
        ]
        for outcome in await asyncio.gather(*confirms):
            assert isinstance(outcome, Basic.Ack)


async def consume(channel: aiormq.abc.AbstractChannel, queue: str, count: int) -> None:
    await channel.basic_qos(prefetch_count=WINDOW)
    received = 0
    done = asyncio.Event()

    async def on_message(message: aiormq.abc.DeliveredMessage) -> None:
        nonlocal received
        received += 1
        if received % 100 == 0 or received == count:
            await channel.basic_ack(message.delivery_tag or 0, multiple=True)
        if received == count:
            done.set()

    consumer = await channel.basic_consume(queue, on_message, no_ack=False)
    await asyncio.wait_for(done.wait(), DEADLINE_S)
    await channel.basic_cancel(consumer.consumer_tag)


async def figures(events: int, backlog: int) -> Figures:
    name = f"peers.{uuid.uuid4().hex[:8]}"
    connection = await aiormq.connect(AMQP_URL)
    try:
        setup = await connection.channel()
        await setup.exchange_declare(name, exchange_type="topic", durable=True)
        publisher = await connection.channel(publisher_confirms=True)
        consumer = await connection.channel()
        await setup.queue_declare(name, durable=True)
        await setup.queue_bind(name, name, routing_key="#")
        out = Progress("rabbitmq")
        out["publish"] = events / await timed(publish(publisher, name, events))
        await consume(consumer, name, events)  # empty the queue again
        out["end to end"] = events / await timed(
            asyncio.gather(publish(publisher, name, events), consume(consumer, name, events))
        )
        await setup.queue_unbind(name, name, routing_key="#")
        out["fan-out x10"] = await fan_out(connection, setup, publisher, name, events)
        await setup.queue_bind(name, name, routing_key="#")
        out.update(await latencies(functools.partial(latency, connection, publisher, name)))
        await setup.queue_unbind(name, name, routing_key="#")
        out.update(await memory(connection, setup, name, SUBSCRIBERS))
        await setup.queue_bind(name, name, routing_key="#")
        await publish(publisher, name, backlog)
        out["catch-up"] = backlog / await timed(consume(consumer, name, backlog))
        await setup.queue_delete(name)
        await setup.exchange_delete(name)
        return out
    finally:
        await connection.close()


async def fan_out(
    connection: aiormq.abc.AbstractConnection,
    setup: aiormq.abc.AbstractChannel,
    publisher: aiormq.abc.AbstractChannel,
    exchange: str,
    events: int,
) -> float:
    """Events/s published while 10 durable queues of the exchange each deliver them all."""
    queues = [f"{exchange}.fan{i}" for i in range(FAN_OUT)]
    channels = []
    for queue in queues:
        await setup.queue_declare(queue, durable=True)
        await setup.queue_bind(queue, exchange, routing_key="#")
        channels.append(await connection.channel())
    seconds = await timed(
        asyncio.gather(
            publish(publisher, exchange, events),
            *(consume(c, q, events) for c, q in zip(channels, queues, strict=True)),
        )
    )
    for queue in queues:
        await setup.queue_delete(queue)
    return events / seconds


async def latency(
    connection: aiormq.abc.AbstractConnection,
    publisher: aiormq.abc.AbstractChannel,
    queue: str,
    rate: int,
    seconds: float,
) -> Percentiles:
    stamps = Stamps(int(rate * seconds))
    channel = await connection.channel()
    await channel.basic_qos(prefetch_count=WINDOW)

    async def on_message(message: aiormq.abc.DeliveredMessage) -> None:
        stamps.arrived(message.body)
        await channel.basic_ack(message.delivery_tag or 0)

    consumer = await channel.basic_consume(queue, on_message, no_ack=False)

    def publish_one(payload: bytes) -> Awaitable[object]:
        return publisher.basic_publish(
            payload, exchange=queue, routing_key="bench.event", properties=PERSISTENT
        )

    try:
        return await paced(rate, seconds, publish_one, stamps)
    finally:
        await channel.basic_cancel(consumer.consumer_tag)
        await channel.close()


async def memory(
    connection: aiormq.abc.AbstractConnection,
    setup: aiormq.abc.AbstractChannel,
    exchange: str,
    count: int,
) -> Figures:
    """The broker's RSS with ``count`` durable queues bound, each with a consumer, then without
    the consumers (the queues stay: asleep)."""
    rss = server_rss("beam.smp")
    before = rss()
    queues = [f"{exchange}.m{i}" for i in range(count)]
    channels = [await connection.channel() for _ in range(10)]
    tags = []
    for i, queue in enumerate(queues):
        await setup.queue_declare(queue, durable=True)
        await setup.queue_bind(queue, exchange, routing_key="#")
        channel = channels[i % len(channels)]
        tags.append((channel, (await channel.basic_consume(queue, _drop)).consumer_tag))
    attached = rss()
    for channel, tag in tags:
        await channel.basic_cancel(tag)
    asleep = rss()
    for queue in queues:
        await setup.queue_delete(queue)
    for channel in channels:
        await channel.close()
    return memory_figures(before, attached, asleep, count)


async def _drop(message: aiormq.abc.DeliveredMessage) -> None:
    """No message reaches these consumers: nothing is published while they are attached."""
