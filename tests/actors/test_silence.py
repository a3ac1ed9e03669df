"""A consumer's silence on its own: anything heard moves the deadline; silence past it ends the
stream with DEADLINE_EXCEEDED and cancels the consumer's scope; an infinite timeout never does."""

from __future__ import annotations

import math

import trio
import trio.testing

from actors.silence import watch_silence
from router.core.errors import DeadlineExceeded
from tests.helpers.subscriber_parts import consumer


async def test_a_silent_consumer_is_ended_once_the_timeout_passes_since_it_was_last_heard(
    autojump_clock: trio.testing.MockClock,
) -> None:
    quiet = consumer()
    quiet.last_heard = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch_silence, quiet, 30.0)
        await trio.sleep(20)  # simulated seconds
        quiet.last_heard = trio.current_time()  # a heartbeat
        await trio.sleep(20)  # simulated seconds: 40 since it attached, 20 since it was heard
        assert not quiet.subscription.ended and not quiet.scope.cancel_called
        await trio.sleep(11)  # simulated seconds: 31 since it was heard
        assert quiet.scope.cancel_called
    reason = quiet.subscription.end_reason()
    assert isinstance(reason, DeadlineExceeded) and "30s" in str(reason)


async def test_an_infinite_timeout_never_ends_a_consumer() -> None:
    quiet = consumer()
    with trio.fail_after(1):
        await watch_silence(quiet, math.inf)
    assert not quiet.subscription.ended and not quiet.scope.cancel_called
