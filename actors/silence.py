"""A consumer's silence: one that sends no ack, settle or heartbeat for ``consumer_timeout_s``
is taken for gone. Its stream ends with DEADLINE_EXCEEDED and it is detached (what it held goes
to the others, or the subscriber sleeps). Every message the subscriber hears from it counts as a
heartbeat (``Consumer.last_heard``).
"""

from __future__ import annotations

import math

import trio

from actors.subscription import Consumer
from router.core.errors import DeadlineExceeded


async def watch_silence(consumer: Consumer, timeout: float) -> None:
    """Until ``consumer`` has been silent for ``timeout`` seconds (never, when infinite): then
    end its stream with the reason and cancel its scope."""
    if math.isinf(timeout):
        return
    while True:
        deadline = consumer.last_heard + timeout
        if trio.current_time() >= deadline:
            consumer.subscription.ended.append(
                DeadlineExceeded(f"no ack or heartbeat for {timeout:g}s")
            )
            consumer.scope.cancel()
            return
        await trio.sleep_until(deadline)
