"""The trimmer's back-off: a failing store is said once, retried later and later (up to a cap),
said again only now and then while it lasts, and once more when it works again."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

from actors.trimmer import SAY_AGAIN_EVERY_S, Backoff
from router.core.errors import Unavailable


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


async def test_a_lasting_failure_is_said_once_a_minute_and_retried_later_and_later(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="router.retention")
    backoff = Backoff("removing old events", first_s=1.0, most_s=30.0)
    waits = []
    began = trio.current_time()
    while trio.current_time() - began < SAY_AGAIN_EVERY_S * 2.5:
        wait = backoff.failed(Unavailable("postgresql: the database system is shutting down"))
        waits.append(wait)
        await trio.sleep(wait)  # MockClock: the back-off is the thing measured
    assert waits[:6] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0]
    assert set(waits[6:]) == {30.0}
    said = [r for r in caplog.records if "removing old events" in r.getMessage()]
    # once at the start, then once a minute: not once per retry
    assert 2 <= len(said) <= 3 < len(waits), [r.getMessage() for r in said]
    assert all("shutting down" in r.getMessage() for r in said)
    backoff.succeeded()
    assert "works again" in caplog.records[-1].getMessage()
    assert backoff.failures == 0
    assert backoff.failed(Unavailable("down again")) == 1.0, "a new failure starts over"
