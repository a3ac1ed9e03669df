"""Quotas per user: how fast it may publish and how many streams and subscribers it may hold.

Rates are token buckets that hold one second's worth: a user of 500 events/s may send 500 at
once, then 500 more a second. A publish the bucket cannot pay for is refused whole, nothing
stored, with how long to wait (RESOURCE_EXHAUSTED with a ``retry-after`` trailer over gRPC, 429
with ``Retry-After`` over REST); a batch larger than a second's worth can never pass and says so.
The buckets live in memory, per router process, and start full.
"""

from __future__ import annotations

import math
import threading
import time

import attrs

from router.core.errors import InvalidArgument, RouterError
from router.core.model import Quotas

MAX_RATE = 1 << 40
MAX_COUNT = 1 << 20


class QuotaExceeded(RouterError):
    """Past a user's quota: RESOURCE_EXHAUSTED / 429, with the seconds to wait if waiting helps."""

    grpc_status = "RESOURCE_EXHAUSTED"
    http_status = 429

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def quotas(
    events_per_s: int = 0, bytes_per_s: int = 0, streams: int = 0, subscribers: int = 0
) -> Quotas:
    """Checked quotas; InvalidArgument naming the field that is out of range."""
    for field, value, most in (
        ("events_per_s", events_per_s, MAX_RATE),
        ("bytes_per_s", bytes_per_s, MAX_RATE),
        ("streams", streams, MAX_COUNT),
        ("subscribers", subscribers, MAX_COUNT),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= most:
            raise InvalidArgument(f"quotas.{field}: {value!r} is outside 0..{most} (0: no limit)")
    return Quotas(events_per_s, bytes_per_s, streams, subscribers)


@attrs.define
class _Bucket:
    rate: float
    level: float
    at: float

    def wait(self, amount: float, now: float) -> float:
        """Refill to ``now``; the seconds until the bucket holds ``amount`` (0.0: it does)."""
        self.level = min(self.rate, self.level + (now - self.at) * self.rate)
        self.at = now
        return max(0.0, (amount - self.level) / self.rate)


@attrs.define
class Limiter:
    """The rate buckets of every user with a rate quota. Publishes are checked from the gRPC
    loop's thread and from Trio, so a lock keeps each take whole."""

    _buckets: dict[tuple[str, str], _Bucket] = attrs.Factory(dict)
    _lock: threading.Lock = attrs.Factory(threading.Lock)
    refused: dict[str, int] = attrs.Factory(dict)  # user -> calls refused for a quota

    def publish(self, user: str, limits: Quotas, events: int, size: int) -> None:
        """Take ``events`` and ``size`` bytes from ``user``'s buckets, or take nothing and raise
        QuotaExceeded."""
        wants = [
            (kind, rate, amount, unit)
            for kind, rate, amount, unit in (
                ("events", limits.events_per_s, events, "events"),
                ("bytes", limits.bytes_per_s, size, "bytes"),
            )
            if rate
        ]
        if not wants:
            return
        for kind, rate, amount, unit in wants:
            if amount > rate:
                self.count(user)
                raise QuotaExceeded(
                    f"{kind}: a publish of {amount} {unit} is more than user {user!r} may send"
                    f" in a second ({rate}); send smaller batches"
                )
        now = time.monotonic()
        with self._lock:
            buckets = [
                (self._bucket(user, kind, rate, now), amount) for kind, rate, amount, _ in wants
            ]
            wait = max(bucket.wait(amount, now) for bucket, amount in buckets)
            if wait == 0.0:
                for bucket, amount in buckets:
                    bucket.level -= amount
                return
        self.count(user)
        kinds = " and ".join(f"{rate} {unit}/s" for _, rate, _, unit in wants)
        raise QuotaExceeded(
            f"quotas: user {user!r} may publish {kinds}; retry after {wait:.3f} s",
            math.ceil(wait * 1000) / 1000,
        )

    def forget(self, user: str) -> None:
        """Drop ``user``'s buckets (its quotas changed or it was removed)."""
        with self._lock:
            for key in [k for k in self._buckets if k[0] == user]:
                del self._buckets[key]

    def _bucket(self, user: str, kind: str, rate: int, now: float) -> _Bucket:
        bucket = self._buckets.get((user, kind))
        if bucket is None or bucket.rate != rate:
            bucket = self._buckets[(user, kind)] = _Bucket(float(rate), float(rate), now)
        return bucket

    def count(self, user: str) -> None:
        """One more call of ``user`` refused for a quota."""
        self.refused[user] = self.refused.get(user, 0) + 1


@attrs.define
class Places:
    """What each user holds against one count quota (open streams, subscribers being created).

    :meth:`take` checks the quota and takes the place in one step, with no await between them,
    so calls that arrive together cannot all pass a check none of them has counted yet; the
    caller gives the place back (:meth:`give_back`) in a ``finally``, whatever ends the call.
    Each instance is used from one thread only (the gRPC loop's, or Trio's).
    """

    _taken: dict[str, set[object]] = attrs.Factory(dict)

    def take(
        self, user: str, most: int, key: object, held: frozenset[object] = frozenset()
    ) -> bool:
        """Take ``key`` for ``user``, who may hold ``most`` (0: no limit), counting ``held``
        (places it holds already, elsewhere) with those taken here; False, taking nothing,
        when that is past ``most``. A key held or taken already costs nothing more."""
        taken = self._taken.setdefault(user, set())
        if key not in taken and key not in held and most and len(taken | held) >= most:
            if not taken:
                del self._taken[user]
            return False
        taken.add(key)
        return True

    def give_back(self, user: str, key: object) -> None:
        taken = self._taken.get(user)
        if taken is not None:
            taken.discard(key)
            if not taken:
                del self._taken[user]

    def held(self, user: str) -> int:
        return len(self._taken.get(user, ()))
