"""Rates over sliding windows, and the Prometheus exposition.

The actors only count (integers bumped once per batch or commit, never an object per event). A
sampler reads every counter once a second and keeps a minute of samples, so a rate over 1 s or
1 min is a difference between two samples. ``/metrics`` reads the counters and gauges at scrape
time through a custom collector; nothing is kept for it in between.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import trio
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from router.core.build import build
from router.observe.stats import Retained, Stats, TypeCounts
from router.observe.subscriber_metrics import subscriber_families

WINDOW_S = 60


@attrs.define
class Sample:
    at: float
    counters: dict[str, int]


@attrs.define(eq=False)
class Rates:
    """One sample a second of every counter, a minute of them."""

    samples: collections.deque[Sample] = attrs.Factory(
        lambda: collections.deque(maxlen=WINDOW_S + 1)
    )

    def add(self, at: float, counters: dict[str, int]) -> None:
        self.samples.append(Sample(at, counters))

    def rate(self, key: str, window_s: float) -> float:
        """Per second over the last ``window_s`` seconds (as much of it as is sampled)."""
        if len(self.samples) < 2:
            return 0.0
        last = self.samples[-1]
        first = self.samples[0]
        for sample in reversed(self.samples):
            first = sample
            if last.at - sample.at >= window_s - 0.5:
                break
        seconds = last.at - first.at
        if seconds <= 0:
            return 0.0
        return max(0, last.counters.get(key, 0) - first.counters.get(key, 0)) / seconds

    def history(self, key: str) -> list[float]:
        """Per-second rates over the window, oldest first (for small charts)."""
        return [
            max(0, b.counters.get(key, 0) - a.counters.get(key, 0)) / max(b.at - a.at, 1e-9)
            for a, b in itertools.pairwise(self.samples)
        ]


def counters(stats: Stats) -> dict[str, int]:
    """Every counter of a snapshot, keyed as the page and the rates name them."""
    out = {"published": stats.published, "committed": stats.committed}
    for record, events_in in stats.exchanges:
        out[f"exchange:{record.name}:in"] = events_in
    for view in stats.queues:
        out[f"queue:{view.id}:in"] = view.events_in
        out[f"queue:{view.id}:out"] = view.events_out
    return out


async def sample_forever(read: Callable[[], Stats], rates: Rates) -> None:
    """Add a sample of ``read()`` to ``rates`` every second until cancelled."""
    while True:
        rates.add(trio.current_time(), counters(read()))
        await trio.sleep(1.0)  # the sampling period of the rate windows


class RouterCollector(Collector):
    """The exposition of one snapshot, taken at each scrape."""

    def __init__(self, read: Callable[[], Stats], most_subscribers: int) -> None:
        self._read = read
        self._most_subscribers = most_subscribers

    def collect(self) -> Iterator[Any]:
        stats = self._read()
        found = build()
        info = GaugeMetricFamily(
            "router_build_info",
            "This router's build: version and commit",
            labels=["version", "commit"],
        )
        info.add_metric([found.version, found.commit], 1)
        yield info
        yield _counter("router_events_published", "Events acked to publishers", stats.published)
        yield _counter("router_events_committed", "Events stored", stats.committed)
        yield _counter("router_commits", "Group commits", stats.commits)
        yield _counter("router_commit_seconds", "Time spent in commits", stats.commit_seconds)
        yield _counter("router_commit_failures", "Commits the store refused", stats.commit_failures)
        largest = GaugeMetricFamily("router_commit_largest_events", "Largest commit, in events")
        largest.add_metric([], stats.largest_commit)
        yield largest
        stale = GaugeMetricFamily("router_storage_failing", "1 while storage writes fail")
        stale.add_metric([], 1 if stats.storage_failing else 0)
        yield stale
        failures = CounterMetricFamily(
            "router_auth_failures",
            "Failed authentications by source address (the first 1,000, then 'other')",
            labels=["source"],
        )
        for source, count in sorted(stats.auth_failures.items()):
            failures.add_metric([source], count)
        yield failures
        limits = GaugeMetricFamily(
            "router_user_quota", "A user's quota (0: none)", labels=["user", "quota"]
        )
        refused = CounterMetricFamily(
            "router_quota_refusals", "Calls refused for a user's quota", labels=["user"]
        )
        for user, (quotas, count) in stats.quotas.items():
            for field, value in attrs.asdict(quotas).items():
                limits.add_metric([user, field], value)
            refused.add_metric([user], count)
        yield limits
        yield refused
        yield from _types(stats.types)
        last_seq = GaugeMetricFamily("router_log_last_seq", "The log's last sequence number")
        last_seq.add_metric([], stats.last_seq)
        yield last_seq
        if stats.retention is not None:
            yield from _retention(stats.retention)
        for link, values in stats.links.items():
            for field, value in values.items():
                if isinstance(value, bool | int):
                    gauge = GaugeMetricFamily(f"router_{link}_{field}", f"{link} link: {field}")
                    gauge.add_metric([], int(value))
                    yield gauge
        yield from _exchanges(stats)
        yield from _queues(stats)
        yield from subscriber_families(stats.subscribers, self._most_subscribers)


def _exchanges(stats: Stats) -> Iterator[Any]:
    exchange_in = CounterMetricFamily(
        "router_exchange_events_in", "Events routed to an exchange", labels=["exchange"]
    )
    exchange_head = GaugeMetricFamily(
        "router_exchange_head_offset", "An exchange's last offset", labels=["exchange"]
    )
    exchange_first = GaugeMetricFamily(
        "router_exchange_first_offset",
        "An exchange's oldest kept offset (retention removed those before it)",
        labels=["exchange"],
    )
    for record, events_in in stats.exchanges:
        exchange_in.add_metric([record.name], events_in)
        exchange_head.add_metric([record.name], record.head)
        exchange_first.add_metric([record.name], record.first_offset)
    yield exchange_in
    yield exchange_head
    yield exchange_first


def _queues(stats: Stats) -> Iterator[Any]:
    queue_labels = ["exchange", "queue"]
    families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {
        "in": CounterMetricFamily(
            "router_queue_events_in", "Events into a queue", labels=queue_labels
        ),
        "out": CounterMetricFamily(
            "router_queue_events_out", "Events delivered from a queue", labels=queue_labels
        ),
        "buffered": GaugeMetricFamily(
            "router_queue_buffered", "Events in a queue's ring buffer", labels=queue_labels
        ),
        "limit": GaugeMetricFamily(
            "router_queue_limit_size", "A queue's buffer size", labels=queue_labels
        ),
        "fill": GaugeMetricFamily(
            "router_queue_fill_ratio", "buffered / limit_size", labels=queue_labels
        ),
    }
    for queue in stats.queues:
        labels = [queue.exchange, queue.id]
        families["in"].add_metric(labels, queue.events_in)
        families["out"].add_metric(labels, queue.events_out)
        families["buffered"].add_metric(labels, queue.buffered)
        families["limit"].add_metric(labels, queue.limit_size)
        families["fill"].add_metric(labels, queue.fill)
    yield from families.values()


def _retention(retained: Retained) -> Iterator[Any]:
    first = GaugeMetricFamily(
        "router_log_first_seq", "The oldest kept seq: retention removed the events before it"
    )
    first.add_metric([], retained.first_seq)
    yield first
    until = GaugeMetricFamily(
        "router_log_removed_until_us", "Publish time of the newest removed event (0: none)"
    )
    until.add_metric([], retained.removed_until_us)
    yield until
    yield _counter(
        "router_log_removed_events", "Events removed by retention", retained.removed_events
    )
    yield _counter(
        "router_log_removed_parked",
        "Parked events dropped with the events",
        retained.removed_parked,
    )
    yield _counter("router_log_trim_steps", "Removal steps", retained.trim_steps)
    yield _counter("router_log_trim_seconds", "Time spent removing", retained.trim_seconds)
    yield _counter(
        "router_log_trim_failures",
        "Removal steps the store refused (retried after a back-off)",
        retained.trim_failures,
    )
    yield _counter(
        "router_gap_notices",
        "Gap notices sent to subscribers (events removed)",
        retained.gap_notices,
    )
    yield _counter("router_gap_events", "Events those gap notices covered", retained.gap_events)


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation)
    family.add_metric([], value)
    return family


def _types(types: list[TypeCounts]) -> Iterator[Any]:
    """Each registered event type's version and payload checks (router.control.contracts)."""
    version = GaugeMetricFamily(
        "router_type_version",
        "A registered event type's current version",
        labels=["pattern", "mode"],
    )
    counted = {
        field: CounterMetricFamily(f"router_type_{field}", help_text, labels=["pattern"])
        for field, help_text in (
            ("checked", "Payloads checked against the type's schema"),
            ("refused", "Publishes refused by the type's schema (enforce)"),
            ("warned", "Payloads stored despite the type's schema (warn)"),
        )
    }
    for one in types:
        version.add_metric([one.pattern, one.mode], one.version)
        for field, family in counted.items():
            family.add_metric([one.pattern], getattr(one, field))
    yield version
    yield from counted.values()


def registry(read: Callable[[], Stats], most_subscribers: int = 1_000) -> CollectorRegistry:
    """A registry whose one collector exposes ``read()`` at each scrape, with a series per
    subscriber while there are at most ``most_subscribers`` (router.observe.subscriber_metrics)."""
    built = CollectorRegistry(auto_describe=False)
    built.register(RouterCollector(read, most_subscribers))
    return built
