"""Snapshots of the router's state: what metrics, the page, the CLI and Admin calls read.

The Router facade builds them in one go on the Trio side (``Router.stats``, ``Router.info``);
readers hold the frozen snapshot and never reach into the actors' fields.
"""

from __future__ import annotations

from typing import Any

import attrs

from actors.queue import QueueView, SubscriberView
from router.core.model import ExchangeRecord, Quotas


@attrs.frozen
class Stats:
    """Counters since start-up and the current gauges; rates are differences between two."""

    at_us: int
    last_seq: int
    published: int  # events acked to publishers
    exchanges: list[tuple[ExchangeRecord, int]]  # with events routed in since start-up
    queues: list[QueueView]
    subscribers: list[SubscriberView]
    links: dict[str, dict[str, Any]] = attrs.Factory(dict)  # RabbitMQ ingest, upstream node
    committed: int = 0  # events stored
    commits: int = 0
    commit_seconds: float = 0.0
    commit_failures: int = 0
    largest_commit: int = 0  # in events
    storage_failing: bool = False  # the last write to storage failed
    auth_failures: dict[str, int] = attrs.Factory(dict)  # failed authentications by source
    quotas: dict[str, tuple[Quotas, int]] = attrs.Factory(dict)  # user -> (quotas, refused)
    retention: Retained | None = None
    types: list[TypeCounts] = attrs.Factory(list)


@attrs.frozen
class TypeCounts:
    """A registered event type's current version and its checks since start-up."""

    pattern: str
    version: int
    mode: str
    owner: str
    description: str
    checked: int
    refused: int
    warned: int


@attrs.frozen
class Retained:
    """Retention's counters: where the kept log begins and what was removed since start-up."""

    first_seq: int
    removed_until_us: int
    removed_events: int
    removed_parked: int
    trim_steps: int
    trim_seconds: float
    gap_notices: int
    gap_events: int
    trim_failures: int = 0  # removal steps the store refused (retried after a back-off)


@attrs.frozen
class RouterNode:
    """A router sharing the database, as it last said (storage.leadership)."""

    name: str
    grpc_address: str
    http_address: str
    leading: bool
    seen_s_ago: float


@attrs.frozen
class Cluster:
    """Who leads the routers sharing this PostgreSQL, as the leader last read it."""

    leader: str
    epoch: int
    routers: tuple[RouterNode, ...]
    database_host: str


@attrs.frozen
class ServerInfo:
    """What the server is: version, store, auth, role, and its size right now."""

    version: str
    storage: str  # the store's URL scheme
    auth: bool
    role: str
    started_at_us: int
    last_seq: int
    exchanges: int
    queues: int
    first_seq: int = 1
    removed_until_us: int = 0
    removed_events: int = 0
    retention: str = ""
    leader: str = ""
    epoch: int = 0
    routers: tuple[RouterNode, ...] = ()
    database_host: str = ""
