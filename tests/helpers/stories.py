"""Helpers that let tests read like a user's story."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import trio

from actors.subscriber import Subscription
from router.app import Router
from router.core.model import Delivery, NewEvent


def events(count: int, type_: str = "order.created", start: int = 0) -> list[NewEvent]:
    return [NewEvent(str(uuid.uuid4()), type_, f"{start + i}".encode()) for i in range(count)]


async def take(
    subscription: Subscription, count: int, ack: bool = True, timeout: float = 10
) -> list[Delivery]:
    """Receive exactly ``count`` deliveries (acking each batch), failing after ``timeout``."""
    got: list[Delivery] = []
    with trio.fail_after(timeout):
        while len(got) < count:
            batch = await subscription.next_batch()
            assert batch is not None, f"subscription ended: {subscription.end_reason()}"
            got.extend(batch)
            if ack:
                await subscription.ack(batch[-1].offset)
    return got


async def eventually(check: Callable[[], bool | Awaitable[bool]], timeout: float = 10) -> None:
    """Wait until ``check()`` holds, polling; fail after ``timeout`` seconds."""
    with trio.fail_after(timeout):
        while True:
            result = check()
            if not isinstance(result, bool):
                result = await result
            if result:
                return
            await trio.sleep(0.01)  # a poll with a deadline, for conditions with no event


async def publish(router: Router, batch: list[NewEvent]) -> None:
    acks = await router.publish(batch)
    assert len(acks) == len(batch)
