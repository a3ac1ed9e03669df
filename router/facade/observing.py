"""What the router says about itself: counters and gauges in one snapshot (router.observe.stats),
what this server is, and the state of its links to other systems."""

from __future__ import annotations

from typing import Any

import attrs

from router.core.build import build
from router.core.model import now_us
from router.core.settings import Settings
from router.facade.subscribers import Subscribers
from router.observe.stats import Cluster, Retained, ServerInfo, Stats


class Observing(Subscribers):
    __slots__ = ()

    started_at: int
    amqp_ingest: Any  # router.amqp.ingest.Ingest when --amqp-url is given
    follower: Any  # router.node.follow.Follower on a route node
    cluster: Cluster | None

    def links(self) -> dict[str, dict[str, Any]]:
        """The state of the router's links to other systems (RabbitMQ, an upstream ingest node)."""
        found = {}
        if self.amqp_ingest is not None:
            found["amqp"] = attrs.asdict(self.amqp_ingest.stats)
        if self.follower is not None:
            found["upstream"] = attrs.asdict(self.follower.stats)
        return found

    def stats(self, with_subscribers: bool = True) -> Stats:
        """Counters since start-up and gauges, read in one go (Trio runs one task at a time);
        rates are differences between two snapshots. ``with_subscribers=False`` leaves the
        per-subscriber views out (the rate sampler, once a second, counts none of them)."""
        exchanges = [
            (self._with_tail(attrs.evolve(actor.record, head=actor.head)), actor.events_in)
            for actor in self.dispatcher.exchanges.values()
        ]
        state = self.state
        return Stats(
            at_us=now_us(),
            last_seq=state.positions.last_seq,
            published=self.dispatcher.published,
            exchanges=sorted(exchanges, key=lambda pair: pair[0].name),
            queues=self.list_queues(),
            subscribers=self.list_subscribers() if with_subscribers else [],
            links=self.links(),
            committed=state.committed_events,
            commits=state.commits,
            commit_seconds=state.commit_seconds,
            commit_failures=state.commit_failures,
            largest_commit=state.largest_commit,
            storage_failing=state.stale,
            auth_failures=self.audit.failures_now(),
            quotas=self.auth.quota_use(),
            types=self.contracts.stats(),
            retention=Retained(
                state.horizon.first_seq,
                state.horizon.removed_until,
                state.removed_events,
                state.removed_parked,
                state.trim_steps,
                state.trim_seconds,
                state.gap_notices,
                state.gap_events,
                state.trim_failures,
            ),
        )

    def info(self) -> ServerInfo:
        """What this server is, and its size right now."""
        return ServerInfo(
            version=str(build()),
            storage=self.settings.db_url.split(":", 1)[0],
            auth=self.auth.enabled,
            role=self.settings.role,
            started_at_us=self.started_at,
            last_seq=self.state.positions.last_seq,
            exchanges=len(self.dispatcher.exchanges),
            queues=len(self.manager.queues),
            first_seq=self.state.horizon.first_seq,
            removed_until_us=self.state.horizon.removed_until,
            removed_events=self.state.removed_events,
            retention=retention_text(self.settings),
            **(attrs.asdict(self.cluster, recurse=False) if self.cluster else {}),
        )


def retention_text(settings: Settings) -> str:
    """The retention limits in a line ("" when everything is kept)."""
    parts = []
    if settings.retain_for_s is not None:
        parts.append(f"for {settings.retain_for_s:g}s")
    if settings.retain_bytes is not None:
        parts.append(f"bytes {settings.retain_bytes}")
    if parts and settings.retain_until_acked:
        cap = settings.retain_max_for_s
        parts.append("until acked" + (f" (at most {cap:g}s)" if cap is not None else ""))
    return ", ".join(parts)
