"""Views on their own: a sleeping subscriber's view from its record, how long its oldest parked
event has waited, and the lag."""

from __future__ import annotations

from router.core.delivery import DeliverySettings
from router.core.model import QueueConfig, QueueRecord, SubscriberRecord
from router.core.views import parked_for_s, sleeping_view

QUEUE = QueueRecord("q1", 1, QueueConfig("orders", 100))


def test_a_sleeping_subscriber_shows_its_record_with_nothing_out() -> None:
    record = SubscriberRecord(
        "q1", "billing", 7, DeliverySettings(prefetch=5), parked=2, parked_since=1_000_000
    )
    view = sleeping_view(QUEUE, "billing", record, 10, 123, 0.5, 4_000_000)
    assert (view.exchange, view.queue_id, view.name, view.state) == (
        "orders",
        "q1",
        "billing",
        "sleeping",
    )
    assert (view.acked, view.delivered, view.head, view.lag, view.since_us) == (7, 7, 10, 3, 123)
    assert (view.events_out, view.consumers, view.unsettled, view.fill) == (0, 0, 0, 0.5)
    assert view.settings.prefetch == 5 and view.parked == 2 and view.oldest_parked_s == 3.0


def test_the_oldest_parked_age_is_zero_without_parked_events_or_a_known_time() -> None:
    assert parked_for_s(1, 2_000_000, 5_000_000) == 3.0
    assert parked_for_s(0, 2_000_000, 5_000_000) == 0.0  # none parked (a stale time)
    assert parked_for_s(3, 0, 5_000_000) == 0.0  # parked before the time was kept
