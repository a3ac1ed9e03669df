"""The AMQP bridge, inbound: a RabbitMQ exchange feeds the publish path.

A durable queue bound to the RabbitMQ exchange is consumed with a bounded prefetch, by aiormq on an
asyncio loop of its own thread (router.bridge). Messages are taken in batches (one crossing
to Trio per batch, not per message): each becomes an event
(routing key -> type, body -> payload, headers -> headers, ``message_id`` -> id), the good ones are
published in one call, and the batch is acknowledged to RabbitMQ with one ``multiple`` ack only
after that call returned, that is after the commit. A message that cannot become an event is
published to the dead-letter exchange with the reason in the ``x-router-error`` header (confirmed
by RabbitMQ) before the batch's ack, so nothing is dropped without a trace.

A lost connection ends the session; the bridge connects again with back-off. Messages it had not
acknowledged come back from RabbitMQ, and since their ids are idempotency keys the router acks
them with their first offsets instead of storing them twice.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiormq
import attrs
import trio
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic

from router.bridge import AsyncioThread, Inbox
from router.core import validation
from router.core.errors import InvalidArgument, RouterError
from router.core.model import NewEvent
from router.core.settings import AmqpSource, Settings

log = logging.getLogger("router.amqp")
# Ids that are not UUIDs are mapped to one deterministically, so a redelivered message keeps its
# idempotency key whatever its publisher put in message_id.
MESSAGE_ID_NAMESPACE = uuid.UUID("0f5e0d9c-6a43-4a6c-9d8e-6a6f1b2c3d4e")
ERROR_HEADER = "x-router-error"
MAX_BACKOFF_S = 5.0
# What ends a session and makes the bridge connect again.
LOST = (aiormq.exceptions.AMQPError, aiormq.exceptions.ChannelInvalidStateError, OSError)


@attrs.define
class IngestStats:
    """What the stats and /metrics show of the bridge (counted per batch, read by the sampler)."""

    connected: bool = False
    connects: int = 0
    received: int = 0
    committed: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    publish_retries: int = 0
    last_error: str = ""


async def _open_consumer(
    connection: aiormq.abc.AbstractConnection,
    source: AmqpSource,
    deliver: Callable[[DeliveredMessage], None],
) -> aiormq.abc.AbstractChannel:
    """Declare what the bridge needs and start consuming (on the asyncio thread, in one go).

    The source exchange is created as a durable topic exchange unless it exists; the dead-letter
    exchange and queue, and our durable queue bound with each binding key, are declared.
    """
    channel = await connection.channel()
    try:
        await channel.exchange_declare(source.exchange, passive=True)
    except aiormq.exceptions.ChannelNotFoundEntity:
        channel = await connection.channel()  # a failed passive declare closes the channel
        await channel.exchange_declare(source.exchange, exchange_type="topic", durable=True)
    dead = source.dead_letter_exchange
    await channel.exchange_declare(dead, exchange_type="topic", durable=True)
    await channel.queue_declare(dead, durable=True)
    await channel.queue_bind(dead, dead, routing_key="#")
    await channel.queue_declare(
        source.queue_name, durable=True, arguments={"x-queue-type": source.queue_type}
    )
    for key in source.bindings:
        await channel.queue_bind(source.queue_name, source.exchange, routing_key=key)
    await channel.close()
    consumer = await connection.channel(publisher_confirms=True)
    await consumer.basic_qos(prefetch_count=source.prefetch)

    async def on_message(message: DeliveredMessage) -> None:
        deliver(message)

    await consumer.basic_consume(source.queue_name, on_message, no_ack=False)
    return consumer


def to_event(message: DeliveredMessage, settings: Settings) -> NewEvent:
    """The event a message stands for; InvalidArgument naming the field when it cannot be one."""
    properties = message.header.properties
    routing_key = message.routing_key or ""
    headers = {
        name: _header_text(name, value) for name, value in (properties.headers or {}).items()
    }
    event_id = _event_id(properties.message_id)
    try:
        return validation.event(0, event_id, routing_key, message.body, headers, settings)
    except InvalidArgument as error:
        raise InvalidArgument(str(error).replace("events[0].", "", 1)) from None


def _event_id(message_id: str | None) -> str:
    if not message_id:
        return ""  # the router makes one (at-least-once across redeliveries: docs/deploy.md)
    try:
        return validation.event_id(message_id, "message_id")
    except InvalidArgument:
        return str(uuid.uuid5(MESSAGE_ID_NAMESPACE, message_id))


def _header_text(name: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            raise InvalidArgument(f"headers[{name[:20]!r}]: bytes that are not UTF-8") from None
    return json.dumps(value, default=str, separators=(",", ":"))


class Ingest:
    """One bridge: connects, consumes, publishes, acks; reconnects until cancelled."""

    def __init__(
        self,
        publish: Callable[[list[NewEvent]], Awaitable[Any]],
        source: AmqpSource,
        settings: Settings,
        hosted: AsyncioThread,
    ) -> None:
        self.publish = publish
        self.source = source
        self.settings = settings
        self.hosted = hosted
        self.stats = IngestStats()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled. Starts at once: the router serves while RabbitMQ is away."""
        task_status.started()
        backoff = 0.1
        while True:
            try:
                await self._session()
            except* LOST as group:
                error = group.exceptions[0]
                self.stats.last_error = f"{type(error).__name__}: {error}"
                log.warning("amqp: connection lost or refused: %s", self.stats.last_error)
            if self.stats.connected:
                backoff = 0.1  # it worked for a while: come back quickly
            self.stats.connected = False
            await trio.sleep(backoff)  # back-off before connecting again
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _session(self) -> None:
        """One connection, from connect to loss (it never ends otherwise)."""
        source = self.source
        call = self.hosted.call
        connection = await call(aiormq.connect, source.url)
        try:
            inbox: Inbox[DeliveredMessage] = Inbox()
            channel = await call(_open_consumer, connection, source, inbox.put)
            self.stats.connected = True
            self.stats.connects += 1
            log.info(
                "amqp: consuming queue=%s exchange=%s bindings=%s",
                source.queue_name,
                source.exchange,
                ",".join(source.bindings),
            )
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._until_closed, connection)
                limit = min(self.settings.max_batch_events, source.prefetch)
                while True:
                    await self._take(channel, await inbox.take(limit))
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(2):
                await call(connection.close)

    async def _until_closed(self, connection: Any) -> None:
        async def closed() -> None:
            await connection.closing

        await self.hosted.call(closed)
        raise ConnectionError("the RabbitMQ connection closed")

    async def _take(self, channel: Any, batch: list[DeliveredMessage]) -> None:
        """Publish the batch's events, dead-letter the rest, then ack all of it at once."""
        self.stats.received += len(batch)
        events: list[NewEvent] = []
        rejected: list[tuple[DeliveredMessage, str]] = []
        for message in batch:
            try:
                events.append(to_event(message, self.settings))
            except InvalidArgument as error:
                rejected.append((message, str(error)))
        if events:
            acks = await self._publish_until_committed(events)
            self.stats.committed += len(events)
            self.stats.duplicates += sum(1 for ack in acks if ack.duplicate)
        for message, reason in rejected:
            await self._dead_letter(channel, message, reason)
        last_tag = batch[-1].delivery_tag
        assert last_tag is not None, "a consumed message has a delivery tag"
        await self.hosted.call(channel.basic_ack, last_tag, multiple=True)

    async def _publish_until_committed(self, events: list[NewEvent]) -> Any:
        """Retry while the store is unavailable: the messages stay unacked in RabbitMQ meanwhile."""
        backoff = 0.1
        while True:
            try:
                return await self.publish(events)
            except RouterError as error:
                if error.grpc_status != "UNAVAILABLE":
                    raise
                self.stats.publish_retries += 1
                self.stats.last_error = str(error)
                log.warning("amqp: publish failed, retrying: %s", error)
                await trio.sleep(backoff)  # back-off while the store is down
                backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _dead_letter(self, channel: Any, message: DeliveredMessage, reason: str) -> None:
        properties = message.header.properties
        headers = dict(properties.headers or {})
        headers[ERROR_HEADER] = reason
        headers["x-router-source-exchange"] = self.source.exchange
        confirmation = await self.hosted.call(
            channel.basic_publish,
            message.body,
            exchange=self.source.dead_letter_exchange,
            routing_key=message.routing_key or "",
            properties=Basic.Properties(
                headers=headers,
                message_id=properties.message_id,
                content_type=properties.content_type,
                delivery_mode=2,
            ),
        )
        if not isinstance(confirmation, Basic.Ack):
            raise ConnectionError(f"dead-letter publish not confirmed: {confirmation!r}")
        self.stats.dead_lettered += 1
        log.warning(
            "amqp: dead-lettered routing_key=%r message_id=%r reason=%s",
            message.routing_key,
            properties.message_id,
            reason,
        )
