"""NATS JetStream through nats-py: a file-storage stream, acked publishes WINDOW in flight,
durable pull consumers fetching WINDOW at a time with one ack-all per fetch. Latency is read by
a durable push consumer (the lowest-delay way JetStream delivers)."""

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


async def figures(events: int, backlog: int) -> Figures:
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType

    stream = f"PEERS{uuid.uuid4().hex[:8]}"
    subject = f"{stream}.event"
    client = await nats.connect("nats://127.0.0.1:4222")
    js = client.jetstream(timeout=30)
    await js.add_stream(name=stream, subjects=[f"{stream}.>"], storage=StorageType.FILE)

    async def publish(count: int) -> None:
        for start in range(0, count, WINDOW):
            await asyncio.gather(
                *(js.publish(subject, PAYLOAD) for _ in range(min(WINDOW, count - start)))
            )

    async def subscribe(durable: str, policy: DeliverPolicy) -> Any:
        """A durable pull consumer, created on the server before this returns."""
        config = ConsumerConfig(ack_policy=AckPolicy.ALL, deliver_policy=policy)
        return await js.pull_subscribe(subject, durable=durable, config=config)

    async def consume(sub: Any, count: int) -> None:
        got = 0
        while got < count:
            messages = await sub.fetch(WINDOW, timeout=DEADLINE_S)
            got += len(messages)
            await messages[-1].ack()

    try:
        out = Progress("nats js")
        out["publish"] = events / await timed(publish(events))
        e2e = await subscribe("e2e", DeliverPolicy.NEW)
        out["end to end"] = events / await timed(
            asyncio.gather(publish(events), consume(e2e, events))
        )
        fans = [await subscribe(f"fan{i}", DeliverPolicy.NEW) for i in range(FAN_OUT)]
        out["fan-out x10"] = events / await timed(
            asyncio.gather(publish(events), *(consume(f, events) for f in fans))
        )
        out.update(await latencies(functools.partial(latency, js, subject)))
        out.update(await memory(js, subject, SUBSCRIBERS))
        await publish(backlog)
        stored = events * 3 + backlog + LATENCY_EVENTS
        away = await subscribe("away", DeliverPolicy.ALL)
        out["catch-up"] = stored / await timed(consume(away, stored))
        return out
    finally:
        await js.delete_stream(stream)
        await client.close()


async def latency(js: Any, subject: str, rate: int, seconds: float) -> Percentiles:
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    stamps = Stamps(int(rate * seconds))

    async def on_message(message: Any) -> None:
        stamps.arrived(message.data)
        await message.ack()

    config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.NEW)
    sub = await js.subscribe(
        subject, durable=f"latency{rate}", cb=on_message, manual_ack=True, config=config
    )

    def publish_one(payload: bytes) -> Any:
        return js.publish(subject, payload)

    try:
        return await paced(rate, seconds, publish_one, stamps)
    finally:
        await sub.unsubscribe()


async def memory(js: Any, subject: str, count: int) -> Figures:
    """The server's RSS with ``count`` durable push consumers subscribed, then unsubscribed (a
    durable consumer stays on the server while nobody is subscribed: asleep)."""
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    rss = server_rss("nats-server")
    before = rss()
    config = ConsumerConfig(ack_policy=AckPolicy.ALL, deliver_policy=DeliverPolicy.NEW)
    subs = [
        await js.subscribe(subject, durable=f"m{i}", cb=_drop, manual_ack=True, config=config)
        for i in range(count)
    ]
    attached = rss()
    for sub in subs:
        await sub.unsubscribe()
    asleep = rss()
    return memory_figures(before, attached, asleep, count)


async def _drop(message: Any) -> None:
    """Nothing is published while these consumers are attached."""
