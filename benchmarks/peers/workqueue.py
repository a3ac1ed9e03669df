"""A work queue: CONSUMERS competing consumers share one queue's events, each event acked on its
own, 200-byte events published meanwhile (pipelined, as in the other workloads).

- Router: a shared subscriber (prefetch PREFETCH per consumer) read through ``client.consume``,
  one ``ack()`` per event.
- RabbitMQ: a quorum queue, CONSUMERS consumers on their own channels (prefetch PREFETCH), one
  manual ``basic.ack`` per message.
- NATS JetStream: one durable pull consumer (explicit acks) fetched by CONSUMERS workers,
  PREFETCH at a time, one ``ack`` per message.

Two figures each, events/s until every event is acked: all acked; and with every NACK_EVERY-th
event nacked once with a NACK_DELAY_S delay (then acked), with how late each redelivery came
after its delay (p50/p99, ms). RabbitMQ has no delayed redelivery without a plugin (a nack
requeues at once), so it has the first figure only.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks.core import Percentiles, publish_stream
from benchmarks.peers.common import DEADLINE_S, PAYLOAD, WINDOW, Figures, Progress
from router._proto.router.v1 import router_pb2 as pb
from router.client import RouterClient

CONSUMERS = 4
PREFETCH = 100
NACK_EVERY = 100  # 1% of the events are nacked once
NACK_DELAY_S = 0.1
ROWS = [
    "work queue (events/s)",
    "work queue, 1% nacked (events/s)",
    "redelivery late p50 (ms)",
    "redelivery late p99 (ms)",
]


class Tally:
    """Which events are done, across the consumers; events are told apart by their position in
    the queue (offset, stream sequence), 1-based. With ``nacking``, every NACK_EVERY-th is
    nacked the first time it comes; how late it comes again after its delay is kept."""

    def __init__(self, total: int, nacking: bool) -> None:
        self.total = total
        self.nacking = nacking
        self.acked: set[int] = set()
        self.nacked_at: dict[int, float] = {}
        self.late_ms: list[float] = []
        self.all_in = asyncio.Event()

    def take(self, position: int) -> bool:
        """Whether to ack this delivery (else nack it, with NACK_DELAY_S)."""
        now = time.perf_counter()
        if self.nacking and position % NACK_EVERY == 0:
            nacked = self.nacked_at.get(position)
            if nacked is None:
                self.nacked_at[position] = now
                return False
            if position not in self.acked:
                self.late_ms.append((now - nacked - NACK_DELAY_S) * 1000)
        self.acked.add(position)
        if len(self.acked) >= self.total:
            self.all_in.set()
        return True

    def figures(self, seconds: float) -> Figures:
        if not self.nacking:
            return {ROWS[0]: self.total / seconds}
        late = Percentiles.of(self.late_ms or [0.0])
        return {ROWS[1]: self.total / seconds, ROWS[2]: late.p50, ROWS[3]: late.p99}


async def measured(
    total: int,
    nacking: bool,
    consumers: Callable[[Tally], list[Awaitable[None]]],
    ready: Callable[[], Awaitable[None]],
    publish: Callable[[], Awaitable[object]],
) -> Figures:
    """Start the consumers, wait until they are all attached, publish; seconds from the first
    publish until every event is acked."""
    tally = Tally(total, nacking)
    tasks = [asyncio.ensure_future(c) for c in consumers(tally)]
    try:
        await asyncio.wait_for(ready(), DEADLINE_S)
        began = time.perf_counter()
        published = asyncio.ensure_future(publish())
        waiting = [published, asyncio.ensure_future(tally.all_in.wait()), *tasks]
        while not tally.all_in.is_set():
            done, _ = await asyncio.wait(
                waiting, timeout=DEADLINE_S, return_when=asyncio.FIRST_COMPLETED
            )
            if not done:
                raise TimeoutError(f"work queue: {len(tally.acked)} of {total} acked")
            for task in done:
                task.result()  # a consumer or the publisher failed: say so
                waiting.remove(task)
        seconds = time.perf_counter() - began
        await published
        return tally.figures(seconds)
    finally:
        for task in tasks:
            task.cancel()
        if tasks:  # bounded: a client that holds on to its cancellation cannot hang the run
            await asyncio.wait(tasks, timeout=10)


# --- the router ---


async def router_figures(client: RouterClient, events: int, out: Progress) -> None:
    for label, nacking in (("a", False), ("b", True)):
        exchange, kind = f"work-{label}", f"work.{label}"
        await client.create_exchange(exchange, [kind])
        out.update(await router_run(client, exchange, kind, events, nacking))


async def router_run(
    client: RouterClient, exchange: str, kind: str, events: int, nacking: bool
) -> Figures:
    settings = pb.SubscriberSettings(mode="shared", prefetch=PREFETCH, ack_wait_s=60)
    attached: list[None] = []
    all_attached = asyncio.Event()

    async def consumer(tally: Tally) -> None:
        async with client.consume(
            exchange, "workers", "earliest", shared=True, prefetch=PREFETCH, settings=settings
        ) as received:
            attached.append(None)  # the router has answered this consumer's start
            if len(attached) == CONSUMERS:
                all_attached.set()
            async for event in received:
                if tally.take(event.offset):
                    await event.ack()
                else:
                    await event.nack(NACK_DELAY_S)

    return await measured(
        events,
        nacking,
        lambda tally: [consumer(tally) for _ in range(CONSUMERS)],
        all_attached.wait,
        lambda: publish_stream(client, events, type_=kind),
    )


# --- RabbitMQ: a quorum queue ---


async def rabbitmq_figures(events: int, out: Progress) -> None:
    import aiormq

    from benchmarks.peers.rabbitmq import publish
    from tests.helpers.rabbit import AMQP_URL

    name = f"work.{uuid.uuid4().hex[:8]}"
    connection = await aiormq.connect(AMQP_URL)
    try:
        setup = await connection.channel()
        await setup.exchange_declare(name, exchange_type="topic", durable=True)
        await setup.queue_declare(name, durable=True, arguments={"x-queue-type": "quorum"})
        await setup.queue_bind(name, name, routing_key="#")
        publisher = await connection.channel(publisher_confirms=True)
        channels = [await connection.channel() for _ in range(CONSUMERS)]
        counter = itertools.count(1)  # a quorum queue numbers nothing: count the deliveries

        def consumers(tally: Tally) -> list[Awaitable[None]]:
            return [rabbit_consumer(channel, name, tally, counter) for channel in channels]

        async def ready() -> None:
            return None  # basic.consume returns once the broker has the consumer

        out.update(
            await measured(
                events, False, consumers, ready, lambda: publish(publisher, name, events)
            )
        )
        await setup.queue_delete(name)
        await setup.exchange_delete(name)
    finally:
        await connection.close()


async def rabbit_consumer(
    channel: Any, queue: str, tally: Tally, counter: itertools.count[int]
) -> None:
    await channel.basic_qos(prefetch_count=PREFETCH)

    async def on_message(message: Any) -> None:
        tally.take(next(counter))
        await channel.basic_ack(message.delivery_tag or 0)

    await channel.basic_consume(queue, on_message, no_ack=False)
    await asyncio.Event().wait()  # consume until cancelled


# --- NATS JetStream: a pull consumer fetched by several workers ---


async def nats_figures(events: int, out: Progress) -> None:
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType

    client = await nats.connect("nats://127.0.0.1:4222")
    js = client.jetstream(timeout=30)
    try:
        for label, nacking in (("A", False), ("B", True)):
            stream = f"WORK{label}{uuid.uuid4().hex[:8]}"
            subject = f"{stream}.event"
            await js.add_stream(name=stream, subjects=[subject], storage=StorageType.FILE)
            config = ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                max_ack_pending=CONSUMERS * PREFETCH * 10,
                ack_wait=60,
            )
            subs = [
                await js.pull_subscribe(subject, durable="workers", config=config)
                for _ in range(CONSUMERS)
            ]

            async def publish(subject: str = subject) -> None:
                for start in range(0, events, WINDOW):
                    count = min(WINDOW, events - start)
                    await asyncio.gather(*(js.publish(subject, PAYLOAD) for _ in range(count)))

            def consumers(tally: Tally, subs: list[Any] = subs) -> list[Awaitable[None]]:
                return [nats_worker(sub, tally) for sub in subs]

            async def ready() -> None:
                return None  # the durable consumer exists once pull_subscribe returns

            try:
                out.update(await measured(events, nacking, consumers, ready, publish))
            finally:
                await js.delete_stream(stream)
    finally:
        with contextlib.suppress(TimeoutError):  # a close stuck on the server: go on
            await asyncio.wait_for(client.close(), 10)


async def nats_worker(sub: Any, tally: Tally) -> None:
    import nats.errors

    while True:
        try:
            messages = await sub.fetch(PREFETCH, timeout=1)
        except (TimeoutError, nats.errors.TimeoutError):
            continue  # nothing to fetch for now: ask again
        for message in messages:
            if tally.take(message.metadata.sequence.stream):
                await message.ack()
            else:
                await message.nak(delay=NACK_DELAY_S)
