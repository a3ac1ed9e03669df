"""The subscribers' part of ``/metrics``, bounded: a series per subscriber while there are at
most ``most`` of them, and per-exchange aggregates always.

Subscribers are many (anyone who may consume names new ones), and twelve series each grow a
scrape without end; so past ``most`` the per-subscriber series are left out altogether (not
the first ``most``, which would churn as they change), ``router_subscriber_series_limited``
says so, and the per-exchange aggregates still show lag, backlog and stalls.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from actors.queue import SubscriberView

LABELS = ["exchange", "queue", "subscriber"]
# (field, help) of each per-subscriber series, named router_subscriber_<field> unless NAMES
# says otherwise; a gauge unless it is in COUNTERS
PER_SUBSCRIBER = (
    ("acked", "A subscriber's cursor"),
    ("lag", "Events behind the exchange's head"),
    ("active", "1 with a consumer attached, 0 sleeping"),
    ("events_out", "Events delivered on the current attachment"),
    ("consumers", "Consumers attached"),
    ("unsettled", "Deliveries not yet settled"),
    ("parked", "Events in the parked list"),
    ("redelivered", "Deliveries made again since the router started"),
    ("oldest_unsettled_s", "Age of the oldest unsettled delivery"),
    ("oldest_parked_s", "Age of the oldest parked event"),
    ("stalled", "1 when it has lag, a consumer and an ack floor unmoved for stall_after_s"),
    ("holding_log", "1 while retention waits for it to ack (--retain-until-acked)"),
)
NAMES = {
    "acked": "acked_offset",
    "oldest_unsettled_s": "oldest_unsettled_seconds",
    "oldest_parked_s": "oldest_parked_seconds",
}
COUNTERS = frozenset({"events_out", "redelivered"})
# (name, help, how the subscribers of one exchange fold into one value)
PER_EXCHANGE = (
    ("subscribers", "Subscribers of an exchange", len),
    ("active", "Subscribers with a consumer attached", lambda v: _count(v, "active")),
    ("consumers", "Consumers attached", lambda v: sum(s.consumers for s in v)),
    ("lag_max", "The largest lag of its subscribers", lambda v: max(s.lag for s in v)),
    ("lag_sum", "Its subscribers' lags added up", lambda v: sum(s.lag for s in v)),
    ("unsettled", "Deliveries not yet settled", lambda v: sum(s.unsettled for s in v)),
    ("parked", "Events in its subscribers' parked lists", lambda v: sum(s.parked for s in v)),
    ("stalled", "Stalled subscribers", lambda v: _count(v, "stalled")),
    ("holding_log", "Subscribers retention waits for", lambda v: _count(v, "holding_log")),
    (
        "oldest_unsettled_seconds",
        "Age of the oldest unsettled delivery",
        lambda v: max(s.oldest_unsettled_s for s in v),
    ),
)


def _count(views: Sequence[SubscriberView], field: str) -> int:
    if field == "active":
        return sum(1 for s in views if s.state == "active")
    return sum(1 for s in views if getattr(s, field))


def _value(view: SubscriberView, field: str) -> float:
    if field == "active":
        return 1.0 if view.state == "active" else 0.0
    return float(getattr(view, field))


def subscriber_families(subscribers: Sequence[SubscriberView], most: int) -> Iterator[Any]:
    """The subscribers' families: per subscriber up to ``most`` of them (0: never), per
    exchange always, and whether the per-subscriber series were left out."""
    limited = len(subscribers) > most
    total = GaugeMetricFamily("router_subscribers", "Subscribers, active and sleeping")
    total.add_metric([], len(subscribers))
    yield total
    flag = GaugeMetricFamily(
        "router_subscriber_series_limited",
        f"1 when there are more subscribers than --metrics-subscribers ({most}): their"
        " per-subscriber series are left out, the per-exchange ones remain",
    )
    flag.add_metric([], 1 if limited else 0)
    yield flag
    by_exchange: dict[str, list[SubscriberView]] = {}
    for view in subscribers:
        by_exchange.setdefault(view.exchange, []).append(view)
    for name, help_text, fold in PER_EXCHANGE:
        family = GaugeMetricFamily(
            f"router_exchange_subscribers_{name}"
            if name != "subscribers"
            else "router_exchange_subscribers",
            help_text,
            labels=["exchange"],
        )
        for exchange, views in sorted(by_exchange.items()):
            family.add_metric([exchange], float(fold(views)))
        yield family
    if limited:
        return
    for field, help_text in PER_SUBSCRIBER:
        maker = CounterMetricFamily if field in COUNTERS else GaugeMetricFamily
        series = maker(f"router_subscriber_{NAMES.get(field, field)}", help_text, labels=LABELS)
        for view in subscribers:
            series.add_metric([view.exchange, view.queue_id, view.name], _value(view, field))
        yield series
