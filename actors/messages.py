"""The messages actors exchange: small frozen classes, commands in the imperative, facts in the past.

Requests that need an answer carry a :class:`~actors.runtime.Reply`. Events travel in tuples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs

from actors.runtime import Reply
from router.model import (
    Delivery,
    ExchangeRecord,
    NewEvent,
    PublishAck,
    QueueRecord,
    StartPoint,
    StoredEvent,
    SubscriberRecord,
)
from storage.base import Append, CommitResult, Restored, Storage

# --- to the StateActor: writes (serialized, group-committed) ---


@attrs.frozen
class AppendEvents:
    appends: tuple[Append, ...]
    reply: Reply[CommitResult]


@attrs.frozen
class SaveCursor:
    """A subscriber's acked offset. Coalesced into the next commit; ``reply`` (if any) after it."""

    queue_id: str
    name: str
    acked: int
    reply: Reply[None] | None = None


@attrs.frozen
class CreateExchange:
    name: str
    patterns: tuple[str, ...]
    reply: Reply[ExchangeRecord]


@attrs.frozen
class DeleteExchange:
    exchange_id: int
    reply: Reply[None]


@attrs.frozen
class SaveQueue:
    queue: QueueRecord
    reply: Reply[None]


@attrs.frozen
class SaveSubscriber:
    subscriber: SubscriberRecord
    reply: Reply[None]


@attrs.frozen
class StoreWrite:
    """A control-plane change (users, tokens, subscriber deletion): ``call(storage)``, one transaction."""

    call: Callable[[Storage], Any]
    reply: Reply[Any]


@attrs.frozen
class PurgeIds:
    older_than: int


# --- to the StateActor: reads (served on their own connections) ---


@attrs.frozen
class ReadRange:
    exchange_id: int
    first: int
    last: int
    limit: int
    reply: Reply[Sequence[Delivery]]


@attrs.frozen
class FindTime:
    exchange_id: int
    head: int
    time_us: int
    reply: Reply[int]


@attrs.frozen
class ReadLog:
    """Stored events after ``after_seq`` in seq order (for a follower), at most ``limit``."""

    after_seq: int
    limit: int
    reply: Reply[list[StoredEvent]]


@attrs.frozen
class Restore:
    reply: Reply[Restored]


# --- to the Dispatcher ---


@attrs.frozen
class Publish:
    events: tuple[NewEvent, ...]
    reply: Reply[Sequence[PublishAck]]


@attrs.frozen
class AddExchange:
    name: str
    patterns: tuple[str, ...]
    reply: Reply[ExchangeRecord]


@attrs.frozen
class RemoveExchange:
    name: str
    reply: Reply[None]


@attrs.frozen
class ListExchanges:
    reply: Reply[list[ExchangeRecord]]


@attrs.frozen
class FindExchange:
    """Look an exchange up by name or id; the answer carries its actor's mailbox."""

    key: str | int
    reply: Reply[tuple[ExchangeRecord, Any]]


# --- to ExchangeActors and QueueActors ---


@attrs.frozen
class Committed:
    """New deliveries of one exchange, in offset order, already durable."""

    deliveries: tuple[Delivery, ...]


@attrs.frozen
class BindQueue:
    queue_id: str
    mailbox: Any
    reply: Reply[int]  # the exchange's head at binding; every later batch follows it


@attrs.frozen
class UnbindQueue:
    queue_id: str


@attrs.frozen
class ExchangeDeleted:
    name: str


# --- to the ConsumerManager and QueueActors ---


@attrs.frozen
class Subscribe:
    exchange: str
    name: str
    limit_size: int
    start: StartPoint
    reply: Reply[Any]  # a Subscription
    consumer: str = ""  # the consumer's address, for operators


@attrs.frozen
class Attach:
    name: str
    start: StartPoint
    reply: Reply[Any]  # a Subscription
    consumer: str = ""


@attrs.frozen
class RingSlice:
    """Deliveries from ``first`` up to ``last`` held in the queue's buffer (empty if not held)."""

    first: int
    last: int
    reply: Reply[tuple[Delivery, ...]]


@attrs.frozen
class ForgetSubscriber:
    """Delete a sleeping subscriber and its cursor (FailedPrecondition if it is active)."""

    name: str
    reply: Reply[None]


@attrs.frozen
class MoveCursor:
    """Set a sleeping subscriber's cursor to a start point (FailedPrecondition if active)."""

    name: str
    start: StartPoint
    reply: Reply[int]  # the new acked offset


@attrs.frozen
class AdvanceCursor:
    """A sleeping subscriber's cumulative ack from a pull consumer (HTTP): the cursor only grows."""

    name: str
    offset: int
    reply: Reply[int]  # the acked offset after it


@attrs.frozen
class GetHead:
    """The newest offset the queue has seen."""

    reply: Reply[int]


# --- from a consumer to its SubscriberActor ---


@attrs.frozen
class Ack:
    offset: int


@attrs.frozen
class Heartbeat:
    pass


Matcher = Callable[[str], bool]
