"""What the router shows of a queue and of its subscribers: snapshots, taken in one step (Trio
runs one task at a time, so the fields read together are consistent).

A running subscriber's view is its actor's (``SubscriberActor.view``); a sleeping one's is made
from its record here.
"""

from __future__ import annotations

import attrs

from router.core.delivery import DeliverySettings
from router.core.model import QueueRecord, SubscriberRecord


@attrs.frozen
class QueueView:
    id: str
    exchange: str
    limit_size: int
    buffered: int
    fill: float
    head: int
    active: int
    sleeping: int
    events_in: int = 0
    events_out: int = 0


@attrs.frozen
class SubscriberView:
    exchange: str
    queue_id: str
    name: str
    state: str  # active | sleeping
    acked: int
    delivered: int
    head: int
    since_us: int
    events_out: int = 0
    fill: float = 0.0
    consumer: str = ""  # the attached consumers' addresses (active only), comma-separated
    settings: DeliverySettings = DeliverySettings()
    consumers: int = 0
    unsettled: int = 0
    parked: int = 0
    redelivered: int = 0
    oldest_unsettled_s: float = 0.0
    stalled: bool = False
    oldest_parked_s: float = 0.0
    holding_log: bool = False  # retention waits for it to ack

    @property
    def lag(self) -> int:
        return max(0, self.head - self.acked)


def parked_for_s(parked: int, since_us: int, now_us: int) -> float:
    """How long the oldest of ``parked`` events has been parked (0 when none, or unknown)."""
    return (now_us - since_us) / 1e6 if parked and since_us else 0.0


def sleeping_view(
    queue: QueueRecord,
    name: str,
    record: SubscriberRecord,
    head: int,
    since_us: int,
    fill: float,
    now_us: int,
    redelivered: int = 0,
) -> SubscriberView:
    """The sleeping subscriber ``name`` as its record says: no consumer, nothing out;
    ``redelivered``, its deliveries made again since the router started (the queue keeps it)."""
    return SubscriberView(
        queue.config.exchange,
        queue.id,
        name,
        "sleeping",
        record.acked,
        record.acked,
        head,
        since_us,
        0,
        fill,
        settings=record.settings,
        parked=record.parked,
        redelivered=redelivered,
        oldest_parked_s=parked_for_s(record.parked, record.parked_since, now_us),
    )
