"""The audit trail of admin changes, and the count of failed authentications by source.

Every admin change that succeeds (users, tokens, exchanges, subscriber resets, settings,
re-drives and discards of parked events), from gRPC or REST, is stored through the StateActor
with who made it, when, what and from where, and logged. A request's settings go into
``detail``; no request carries a token's text (tokens are made by the router and shown once).

Failed authentications are counted per source address (the first MAX_SOURCES addresses, the
rest under "other", so that a flood from many addresses cannot grow the metrics without end)
and logged at most once a minute per source. Both edges call :meth:`Audit.failed`: gRPC's check
runs on the loop's thread, REST on Trio's, hence the lock.
"""

from __future__ import annotations

import logging
import threading
import time

import attrs

from actors.state import StateActor
from router.core.errors import InvalidArgument
from router.core.model import AuditEntry, now_us

log = logging.getLogger("router.control.audit")
MAX_SOURCES = 1_000
LOG_EVERY_S = 60.0
MAX_LISTED = 10_000
MAX_DETAIL = 4_096  # characters of a request's fields kept in an entry


@attrs.define(eq=False)
class Audit:
    state: StateActor
    failures: dict[str, int] = attrs.Factory(dict)  # source address -> failed authentications
    _logged: dict[str, float] = attrs.Factory(dict)  # source -> when its failures were logged
    _lock: threading.Lock = attrs.Factory(threading.Lock)

    async def record(self, user: str, action: str, target: str, source: str, detail: str) -> None:
        if len(detail) > MAX_DETAIL:  # a re-drive of many offsets, say
            detail = detail[:MAX_DETAIL] + f"... ({len(detail):,} characters)"
        entry = AuditEntry(now_us(), user or "-", action, target[:MAX_DETAIL], source, detail)
        await self.state.write(lambda storage: storage.add_audit(entry))
        log.info("audit user=%s action=%s target=%s source=%s", entry.user, action, target, source)

    async def entries(self, since: int, limit: int) -> list[AuditEntry]:
        """At most ``limit`` entries from ``since`` (microseconds) on, oldest first."""
        if since < 0:
            raise InvalidArgument(f"since_us: {since} is before the epoch")
        if not 1 <= limit <= MAX_LISTED:
            raise InvalidArgument(f"max: {limit} is outside 1..{MAX_LISTED}")
        # Through the writer, as control-plane reads are: it is an operator's listing.
        found: list[AuditEntry] = await self.state.write(
            lambda storage: storage.audit(since, limit)
        )
        return found

    def failed(self, source: str, reason: str) -> None:
        """An authentication from ``source`` failed (``reason``: the error's message)."""
        now = time.monotonic()
        with self._lock:
            key = source if source in self.failures or len(self.failures) < MAX_SOURCES else "other"
            count = self.failures[key] = self.failures.get(key, 0) + 1
            due = now - self._logged.get(key, -LOG_EVERY_S) >= LOG_EVERY_S
            if due:
                self._logged[key] = now
        if due:
            log.warning("authentication failed source=%s failures=%d (%s)", key, count, reason)

    def failures_now(self) -> dict[str, int]:
        with self._lock:
            return dict(self.failures)
