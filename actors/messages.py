"""The messages actors exchange: small frozen classes, commands in the imperative, facts in the past.

Each class says who sends it and who handles it. Requests that need an answer carry a
:class:`~actors.runtime.Reply`; events travel in tuples. At the end, each actor's mailbox type is
the union of the messages it handles: the protocol of the actor tree in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs

from actors.runtime import Mailbox, Reply
from actors.subscription import (
    Ack as Ack,
)
from actors.subscription import (
    ConsumerMessage as ConsumerMessage,
)
from actors.subscription import (
    Gap as Gap,
)
from actors.subscription import (
    Heartbeat as Heartbeat,
)
from actors.subscription import (
    Nack as Nack,
)
from actors.subscription import (
    Park as Park,
)
from actors.subscription import (
    Rejected as Rejected,
)
from actors.subscription import (
    Settle as Settle,
)
from actors.subscription import (
    Subscription,
)
from router.core.model import (
    Delivery,
    ExchangeRecord,
    NewEvent,
    PublishAck,
    QueueRecord,
    StartPoint,
    StoredEvent,
    SubscriberRecord,
)
from storage.base import Append, CommitResult, Storage
from storage.retention import Trimmed

# --- to the StateActor's mailbox: writes, applied in arrival order, appends group-committed ---


@attrs.frozen
class AppendEvents:
    """Events to store, routed. Sent by the Dispatcher (``StateActor.start_append``); handled by
    the StateActor, which answers after the commit with the outcomes and the new deliveries."""

    appends: tuple[Append, ...]
    reply: Reply[CommitResult]


@attrs.frozen
class SaveCursor:
    """A subscriber's ack floor and ledger. Sent by a SubscriberActor (``StateActor.save_cursor``);
    handled by the StateActor, coalesced into the next commit; ``reply`` (if any) after it."""

    queue_id: str
    name: str
    acked: int
    ledger: str = ""
    reply: Reply[None] | None = None


@attrs.frozen
class CreateExchange:
    """Sent by the Dispatcher (``StateActor.create_exchange``); handled by the StateActor, which
    stores the exchange and indexes the matching events already in the log."""

    name: str
    patterns: tuple[str, ...]
    reply: Reply[ExchangeRecord]


@attrs.frozen
class DeleteExchange:
    """Sent by the Dispatcher (``StateActor.delete_exchange``); handled by the StateActor."""

    exchange_id: int
    reply: Reply[None]


@attrs.frozen
class SaveQueue:
    """A new queue. Sent by the ConsumerManager (``StateActor.save_queue``); handled by the
    StateActor."""

    queue: QueueRecord
    reply: Reply[None]


@attrs.frozen
class SaveSubscriber:
    """A subscriber's cursor set outright (new, moved, reset). Sent by QueueActors and
    SubscriberActors (``StateActor.save_subscriber``); handled by the StateActor."""

    subscriber: SubscriberRecord
    reply: Reply[None]


@attrs.frozen
class StoreWrite:
    """A control-plane change (users, tokens, subscriber deletion): ``call(storage)``, one
    transaction. Sent by Auth and QueueActors (``StateActor.write``); handled by the StateActor."""

    call: Callable[[Storage], Any]
    reply: Reply[Any]


@attrs.frozen
class PurgeIds:
    """Forget idempotency keys older than ``older_than`` (microseconds). Sent by the StateActor's
    own timer; handled by the StateActor."""

    older_than: int


@attrs.frozen
class TrimLog:
    """Remove the events before ``before_seq`` (at most ``most``: one step). Sent by the
    StateActor's retention timer and the Router (``router log trim``); handled by the
    StateActor. ``before_seq`` None: as far as the retention limits say."""

    before_seq: int | None
    most: int
    reply: Reply[Trimmed] | None = None


# --- to the StateActor's read mailbox: served on their own connections ---


@attrs.frozen
class ReadRange:
    """Stored deliveries of one exchange from ``first`` to ``last``, at most ``limit``. Sent by
    SubscriberActors (catch-up) and the Router (reads); handled by the StateActor's readers."""

    exchange_id: int
    first: int
    last: int
    limit: int
    reply: Reply[Sequence[Delivery]]
    max_bytes: int = 0  # and no more than fit in it (at least one); 0: no limit


@attrs.frozen
class FindTime:
    """The first offset at or after a time. Sent for time start points (``first_offset``);
    handled by the StateActor's readers."""

    exchange_id: int
    head: int
    time_us: int
    reply: Reply[int]
    low: int = 1  # the exchange's oldest kept offset


@attrs.frozen
class ReadLog:
    """Stored events after ``after_seq`` in seq order, at most ``limit``. Sent by the Router for
    a route node following this one; handled by the StateActor's readers."""

    after_seq: int
    limit: int
    reply: Reply[list[StoredEvent]]


# --- to the Dispatcher ---


@attrs.frozen
class Publish:
    """Events to store and route. Sent by the Router's ``publish`` (every publishing edge);
    handled by the Dispatcher, which answers with the acks after the commit."""

    events: tuple[NewEvent, ...]
    reply: Reply[Sequence[PublishAck]]
    publisher: str = ""  # the user ("": auth off, or a bridge), remembered with the events
    scoped: bool = False  # refused whole if it re-uses an id another publisher used


@attrs.frozen
class AddExchange:
    """Sent by the Router (``Dispatcher.add_exchange``); handled by the Dispatcher, which starts
    the exchange's actor once the StateActor stored it."""

    name: str
    patterns: tuple[str, ...]
    reply: Reply[ExchangeRecord]


@attrs.frozen
class RemoveExchange:
    """Sent by the Router (``Dispatcher.remove_exchange``); handled by the Dispatcher."""

    name: str
    reply: Reply[None]


@attrs.frozen
class ListExchanges:
    """Sent by the Router (``Dispatcher.list_exchanges``); handled by the Dispatcher."""

    reply: Reply[list[ExchangeRecord]]


@attrs.frozen
class FindExchange:
    """Look an exchange up by name or id; the answer carries its actor's mailbox. Sent by the
    Router and the ConsumerManager (``Dispatcher.find_exchange``); handled by the Dispatcher."""

    key: str | int
    reply: Reply[tuple[ExchangeRecord, Mailbox[ExchangeMessage]]]


# --- to ExchangeActors, QueueActors and SubscriberActors ---


@attrs.frozen
class Committed:
    """New deliveries of one exchange, in offset order, already durable. Sent by the Dispatcher
    to an ExchangeActor, by the ExchangeActor to each bound QueueActor, and offered by the
    QueueActor to each active SubscriberActor's mailbox."""

    deliveries: tuple[Delivery, ...]


@attrs.frozen
class BindQueue:
    """Sent by the ConsumerManager when it starts a queue; handled by the ExchangeActor, which
    answers with its head: every later batch follows it."""

    queue_id: str
    mailbox: Mailbox[QueueMessage]
    reply: Reply[int]


@attrs.frozen
class UnbindQueue:
    """Sent by the ConsumerManager when a queue ends; handled by the ExchangeActor."""

    queue_id: str


@attrs.frozen
class ExchangeDeleted:
    """Sent by a deleted ExchangeActor as it ends; handled by its QueueActors, which end their
    subscribers with NOT_FOUND."""

    name: str


# --- to the ConsumerManager and QueueActors ---


@attrs.frozen
class Subscribe:
    """A consumer wants a subscriber. Sent by the Router (``ConsumerManager.subscribe``);
    handled by the ConsumerManager, which finds or creates the queue of ``exchange`` and
    ``limit_size`` and passes ``attach`` on to it."""

    exchange: str
    limit_size: int
    attach: Attach


@attrs.frozen
class Attach:
    """Sent by the ConsumerManager; handled by the QueueActor, which starts the SubscriberActor;
    the subscriber answers with its Subscription once its start is resolved."""

    name: str
    start: StartPoint
    reply: Reply[Subscription]
    consumer: str = ""
    settings: dict[str, Any] | None = None  # for a new subscriber; mode checked on others
    prefetch: int = 0  # shared: this consumer's own prefetch (0: the subscriber's)
    most: int = 0  # deliveries this consumer takes in all before it leaves (a pull); 0: no end
    most_bytes: int = 0  # and the bytes of their stored events, at least one (0: no end)


@attrs.frozen
class RingSlice:
    """Deliveries from ``first`` up to ``last`` held in the queue's buffer (empty if not held).
    Sent by a SubscriberActor catching up; handled by its QueueActor."""

    first: int
    last: int
    reply: Reply[tuple[Delivery, ...]]


@attrs.frozen
class QueueEmpty:
    """A queue has no subscriber left (its last was deleted, or the one it was made for never
    attached). Sent by the QueueActor; handled by the ConsumerManager, which retires it."""

    queue_id: str


@attrs.frozen
class Retire:
    """End the queue and delete its stored row if it still has no subscriber (True), or keep
    it (False: one attached since). Sent by the ConsumerManager; handled by the QueueActor."""

    reply: Reply[bool]


@attrs.frozen
class ForgetSubscriber:
    """Delete a sleeping subscriber and its cursor (FailedPrecondition if it is active). Sent by
    the Router (an admin call); handled by the QueueActor."""

    name: str
    reply: Reply[None]


@attrs.frozen
class MoveCursor:
    """Set a sleeping subscriber's cursor to a start point (FailedPrecondition if active). Sent
    by the Router (an admin call); handled by the QueueActor; answered with the new acked offset."""

    name: str
    start: StartPoint
    reply: Reply[int]


@attrs.frozen
class AdvanceCursor:
    """A sleeping subscriber's cumulative ack from a pull consumer (HTTP): the cursor only grows.
    Sent by the Router; handled by the QueueActor; answered with the acked offset after it."""

    name: str
    offset: int
    reply: Reply[int]


@attrs.frozen
class Settled:
    """What a :class:`SettleSleeping` did: the cursor after it, the offsets acked, those nacked
    with when each is due again (us), and those parked (asked for, or nacked once too often)."""

    acked_offset: int
    acked: tuple[int, ...]
    nacked: tuple[tuple[int, int], ...]
    parked: tuple[int, ...]


@attrs.frozen
class SettleSleeping:
    """A pull consumer's (HTTP) per-event settlement of a subscriber no stream is attached to:
    ``acks`` as (first, last) ranges, ``nacks`` as (offset, delay or None: the back-off),
    ``parks`` as (offset, reason). Sent by the Router; handled by the QueueActor, which checks
    every part before it changes anything."""

    name: str
    acks: tuple[tuple[int, int], ...]
    nacks: tuple[tuple[int, float | None], ...]
    parks: tuple[tuple[int, str], ...]
    reply: Reply[Settled]


@attrs.frozen
class ChangeSettings:
    """Sent by the Router (``set_subscriber_settings``); handled by the QueueActor, which saves
    them and hands them to the running SubscriberActor, if any."""

    name: str
    changes: dict[str, Any]
    reply: Reply[SubscriberRecord]


@attrs.frozen
class ChangeParked:
    """Re-drive or discard parked events (``offsets``, None: all). Sent by the Router; handled
    by the QueueActor (the subscriber's parked list changes in the writer's order, and a
    running subscriber delivers re-driven events at once)."""

    name: str
    offsets: tuple[int, ...] | None
    redrive: bool
    reply: Reply[list[int]]


@attrs.frozen
class GetHead:
    """The newest offset the queue has seen. Sent by a SubscriberActor before it waits for live
    batches; handled by its QueueActor."""

    reply: Reply[int]


# --- each actor's mailbox: the union of what it handles ---

StateWrite = (
    AppendEvents
    | SaveCursor
    | CreateExchange
    | DeleteExchange
    | SaveQueue
    | SaveSubscriber
    | StoreWrite
    | PurgeIds
    | TrimLog
)
StateRead = ReadRange | FindTime | ReadLog
DispatcherMessage = Publish | AddExchange | RemoveExchange | ListExchanges | FindExchange
ExchangeMessage = Committed | BindQueue | UnbindQueue
ManagerMessage = Subscribe | QueueEmpty
QueueMessage = (
    Committed
    | Retire
    | Attach
    | RingSlice
    | GetHead
    | ForgetSubscriber
    | MoveCursor
    | AdvanceCursor
    | SettleSleeping
    | ChangeSettings
    | ChangeParked
    | ExchangeDeleted
)
SubscriberMessage = Committed
