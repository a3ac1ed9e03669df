"""The local RabbitMQ, for the AMQP bridge's tests: reachability, a confirmed publisher, a reader.

Tests that need it skip with the reason when it does not answer, except under ``CI=true``, where
they fail: CI must exercise RabbitMQ (scripts/ensure-services.sh starts it).
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Sequence

import aiormq
from pamqp.commands import Basic

from tests.helpers.databases import require

AMQP_URL = os.environ.get("ROUTER_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/")


def rabbitmq_problem() -> str | None:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=3):
            return None
    except OSError as error:
        return f"RabbitMQ at 127.0.0.1:5672 not reachable: {error}"


def require_rabbitmq() -> None:
    require("RabbitMQ", rabbitmq_problem())


async def publish(
    exchange: str,
    messages: Sequence[tuple[str, bytes, str | None]],
    headers: dict[str, object] | None = None,
) -> None:
    """Publish (routing key, body, message id) triples with publisher confirms, in order."""
    connection = await aiormq.connect(AMQP_URL)
    try:
        channel = await connection.channel(publisher_confirms=True)
        await channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        window = 500
        for start in range(0, len(messages), window):
            confirmations = [
                channel.basic_publish(
                    body,
                    exchange=exchange,
                    routing_key=key,
                    properties=Basic.Properties(
                        message_id=message_id, delivery_mode=2, headers=headers
                    ),
                )
                for key, body, message_id in messages[start : start + window]
            ]
            for confirmation in confirmations:
                assert isinstance(await confirmation, Basic.Ack)
    finally:
        await connection.close()


async def take_all(queue: str) -> list[aiormq.abc.DeliveredMessage]:
    """Every message now in ``queue``, taken (acked) one by one."""
    connection = await aiormq.connect(AMQP_URL)
    got = []
    try:
        channel = await connection.channel()
        while True:
            message = await channel.basic_get(queue, no_ack=True)
            if message.delivery_tag is None:
                return got
            got.append(message)
    finally:
        await connection.close()


async def delete(*names: str) -> None:
    """Remove the test's exchanges and queues (each name is tried as both)."""
    connection = await aiormq.connect(AMQP_URL)
    try:
        for name in names:
            channel = await connection.channel()
            await channel.queue_delete(name)
            await channel.exchange_delete(name)
    finally:
        await connection.close()


def restart_rabbitmq() -> None:
    """Stop and start the broker's application: every connection to it is dropped."""
    subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True, timeout=120)
    subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True, timeout=120)


async def declare_capture(exchange: str, queue: str) -> None:
    """A durable topic exchange and a queue bound to all of it, to see what reaches it."""
    connection = await aiormq.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        await channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        await channel.queue_declare(queue, durable=True)
        await channel.queue_bind(queue, exchange, routing_key="#")
    finally:
        await connection.close()
