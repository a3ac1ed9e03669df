"""The AMQP bridge, outbound: stored events of an exchange re-emitted into a RabbitMQ exchange.

The position is a durable subscriber of the router's own (``reemit.<amqp exchange>`` unless
named): each batch is published with publisher confirms, in offset order, and only once RabbitMQ
confirmed all of it is the subscriber acked past it. An interrupted re-emit (Ctrl-C, a lost
connection, a router restart) starts again from that cursor, so what RabbitMQ gets twice is at
most the batch that was unconfirmed when it stopped; message_id is the event id, so consumers can
drop those repeats.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import aiormq
import attrs
import trio
from pamqp.commands import Basic

from router import validation
from router.app import Router
from router.errors import InvalidArgument, Unavailable
from router.model import Delivery, StartKind, StartPoint


@attrs.frozen
class Progress:
    confirmed: int
    last_offset: int
    until_offset: int
    done: bool = False


async def reemit(
    router: Router,
    exchange: str,
    start: StartPoint | None,
    subscriber: str,
    amqp_url: str,
    amqp_exchange: str,
    most: int,
    report: Callable[[Progress], Awaitable[None]],
) -> Progress:
    """Publish from ``start`` (None: the subscriber's cursor, or earliest for a new one) to the
    head as it stands now (or ``most`` events); ``report`` after each confirmed batch."""
    amqp_url = amqp_url or (router.settings.amqp.url if router.settings.amqp else "")
    if not amqp_url:
        raise InvalidArgument("amqp_url: required (this router has no --amqp-url)")
    if not amqp_exchange:
        raise InvalidArgument("amqp_exchange: required")
    if most < 0:
        raise InvalidArgument(f"max: {most} is negative")
    name = validation.name(subscriber or f"reemit.{amqp_exchange}", "subscriber")
    if start is None:
        known = router.list_subscribers(exchange, name)
        start = StartPoint(StartKind.STORED if known else StartKind.EARLIEST)
    subscription = await router.subscribe(exchange, name, start, 0, f"re-emit to {amqp_exchange}")
    try:
        first, until = subscription.start_offset, subscription.head
        if most:
            until = min(until, first + most - 1)
        progress = Progress(0, first - 1, until, done=first > until)
        if progress.done:
            return progress
        call = router.asyncio_thread().call
        try:
            connection = await call(aiormq.connect, amqp_url)
        except (aiormq.exceptions.AMQPError, OSError) as error:
            raise Unavailable(f"amqp_url: cannot connect: {error}") from None
        try:
            channel = await call(_confirming_channel, connection, amqp_exchange)
            while not progress.done:
                batch = await subscription.next_batch()
                if batch is None:
                    raise Unavailable(
                        str(subscription.end_reason() or "subscriber: the re-emit was stopped")
                    )
                wanted = [d for d in batch if d.offset <= until]
                if not wanted:
                    break
                await call(_publish_confirmed, channel, amqp_exchange, exchange, wanted)
                await subscription.ack(wanted[-1].offset)
                last = wanted[-1].offset
                progress = Progress(progress.confirmed + len(wanted), last, until, last >= until)
                await report(progress)
        except (aiormq.exceptions.AMQPError, OSError) as error:
            raise Unavailable(f"amqp: {error}") from None
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(2):
                await call(connection.close)
        return progress
    finally:
        await subscription.close()


async def _confirming_channel(
    connection: aiormq.abc.AbstractConnection, exchange: str
) -> aiormq.abc.AbstractChannel:
    channel = await connection.channel(publisher_confirms=True)
    await channel.exchange_declare(exchange, exchange_type="topic", durable=True)
    return channel


async def _publish_confirmed(
    channel: aiormq.abc.AbstractChannel, target: str, source: str, batch: Sequence[Delivery]
) -> None:
    """Publish the batch pipelined and wait for every confirm (runs on asyncio, once per batch)."""
    confirmations = [
        channel.basic_publish(
            d.event.payload,
            exchange=target,
            routing_key=d.event.type,
            properties=Basic.Properties(
                message_id=d.event.id,
                delivery_mode=2,
                headers={
                    **dict(d.event.headers),
                    "x-router-exchange": source,
                    "x-router-offset": d.offset,
                    "x-router-seq": d.event.seq,
                    "x-router-published-at-us": d.event.published_at,
                },
            ),
        )
        for d in batch
    ]
    for outcome in await asyncio.gather(*confirmations):
        if not isinstance(outcome, Basic.Ack):
            raise Unavailable(f"amqp_exchange: RabbitMQ did not confirm a message ({outcome!r})")
