"""Retention in the background: removal steps while there is more to remove, else a pause; and
the back-off that keeps a store outage from stopping the router.

A removal step that the store refuses (down, disconnected, full, or this router deposed as
leader) is not an error of the router: like a failed commit it is logged, ``/readyz`` answers
503 with the reason until a step succeeds, and it is tried again after a back-off. A deposed leader is stepped down by its lease keeper (router.node.serve); the trimmer only
stops asking meanwhile.
"""

from __future__ import annotations

import logging
from typing import Protocol

import attrs
import trio

from actors.messages import StateWrite, TrimLog
from actors.runtime import Mailbox, ask
from router.core.errors import DeadlineExceeded, Unavailable
from router.core.settings import Settings
from storage.base import Storage
from storage.retention import Trimmed

log = logging.getLogger("router.retention")
RECLAIM_EVERY_S = 10.0  # how often removed rows' room is made reusable, at most
SAY_AGAIN_EVERY_S = 60.0  # a failure that lasts is logged again this often, not on each retry


@attrs.define
class Backoff:
    """The pause before the next attempt after a failure (doubling from ``first_s`` up to
    ``most_s``), and a log that says a failure once, again only every ``SAY_AGAIN_EVERY_S``
    while it lasts, and once more when it ends."""

    what: str
    first_s: float = 1.0
    most_s: float = 30.0
    failures: int = 0  # in a row
    _began: float = 0.0
    _said_at: float = 0.0

    def failed(self, error: BaseException) -> float:
        """Count a failure; return how long to wait before trying again."""
        now = trio.current_time()
        if self.failures == 0:
            self._began = self._said_at = now
            log.warning("%s failed; retrying with a back-off: %s", self.what, error)
        elif now - self._said_at >= SAY_AGAIN_EVERY_S:
            self._said_at = now
            log.warning(
                "%s still failing failures=%d for_s=%.0f: %s",
                self.what,
                self.failures + 1,
                now - self._began,
                error,
            )
        self.failures += 1
        return float(min(self.most_s, self.first_s * 2 ** (self.failures - 1)))

    def succeeded(self) -> None:
        if self.failures:
            log.info(
                "%s works again after failures=%d for_s=%.1f",
                self.what,
                self.failures,
                trio.current_time() - self._began,
            )
        self.failures = 0


class TrimHost(Protocol):
    """What the trimmer needs of the state actor that starts it: its mailbox (the removal steps
    are its messages, serialized with the commits), its store and settings, and where to show a
    failing step."""

    settings: Settings
    storage: Storage
    mailbox: Mailbox[StateWrite]
    trim_failures: int
    trim_failing: str


async def trim_now_and_then(state: TrimHost) -> None:
    """Apply the retention limits until cancelled: a step while there is more to remove, else a
    pause of ``trim_every_s``; after a refused step, a back-off (never an exit)."""
    settings = state.settings
    most = settings.trim_step_events
    backoff = Backoff("removing old events", first_s=max(settings.trim_every_s, 0.5))
    unreclaimed, reclaimed_at = 0, trio.current_time()
    while True:
        try:
            trimmed: Trimmed = await ask(state.mailbox, lambda r: TrimLog(None, most, r), 600.0)
        except (Unavailable, DeadlineExceeded) as error:
            state.trim_failures += 1
            state.trim_failing = str(error)
            await trio.sleep(backoff.failed(error))  # the back-off: the store has no event
            continue
        state.trim_failing = ""
        backoff.succeeded()
        unreclaimed += trimmed.events
        if unreclaimed and trio.current_time() - reclaimed_at >= RECLAIM_EVERY_S:
            unreclaimed, reclaimed_at = 0, trio.current_time()
            try:  # its own connection, in a worker thread: commits go on meanwhile
                await trio.to_thread.run_sync(state.storage.reclaim)
            except Exception as error:
                log.warning("reclaiming removed rows failed error=%s", error)
        if trimmed.events < most:
            await trio.sleep(settings.trim_every_s)  # a periodic check, not a wait
