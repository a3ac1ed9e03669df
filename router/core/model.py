"""The records every layer shares: events as published, events as stored, exchanges, start points."""

from __future__ import annotations

import enum
import hashlib
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol, overload

import attrs

from router.core.delivery import DeliverySettings

Headers = tuple[tuple[str, str], ...]
EventId = (
    str  # a UUID in canonical text form (36 lowercase characters); see ``validation.event_id``
)

# The per-event records below (NewEvent, StoredEvent, Delivery, PublishAck) are treated as
# immutable but not declared frozen: a frozen attrs class sets each field through
# ``object.__setattr__``, which made building them three times slower and was a visible share of
# the publish and replay profiles. Nothing mutates them after construction.


def now_us() -> int:
    """Wall-clock time in microseconds since the Unix epoch."""
    return time.time_ns() // 1000


@attrs.define(slots=True)
class NewEvent:
    """An event as a publisher hands it in, already validated by the edge."""

    id: EventId
    type: str
    payload: bytes
    headers: Headers = ()


@attrs.define(slots=True)
class StoredEvent:
    """An event in the log: stored once, with its global ``seq`` and the router's timestamp."""

    seq: int
    id: EventId
    type: str
    payload: bytes
    headers: Headers
    published_at: int  # microseconds since the epoch, never decreasing along seq
    # Its wire form (a serialized router.v1.Event; see router.core.wire), once made: what the log
    # stores and the gRPC edge sends. Not part of the event's value.
    wire: bytes = attrs.field(default=b"", eq=False, repr=False)


@attrs.define(slots=True)
class Delivery:
    """A stored event at its place in one exchange."""

    offset: int
    event: StoredEvent


@attrs.frozen(slots=True)
class ExchangeRecord:
    """A named selection of the log. ``head`` is the last offset given out (0 when empty);
    ``first_offset`` the oldest kept (retention removed those before it)."""

    id: int
    name: str
    patterns: tuple[str, ...]
    created_at: int
    head: int = 0
    first_offset: int = 1


@attrs.frozen(slots=True)
class QueueConfig:
    """What identifies a queue: the exchange it reads and its options."""

    exchange: str
    limit_size: int

    def key(self) -> str:
        """A stable hash of the configuration (the registry key of the seed's notes)."""
        text = f"exchange={self.exchange}\nlimit_size={self.limit_size}\n"
        return hashlib.sha256(text.encode()).hexdigest()[:24]


@attrs.frozen(slots=True)
class QueueRecord:
    id: str  # QueueConfig.key()
    exchange_id: int
    config: QueueConfig


@attrs.frozen(slots=True)
class SubscriberRecord:
    queue_id: str
    name: str
    acked: int  # the ack floor: every offset up to here is settled; delivery resumes after it
    settings: DeliverySettings = DeliverySettings()
    ledger: str = ""  # the durable part of its actors.ledger.Ledger above the floor
    parked: int = 0  # events in its parked list (read at start-up, kept by the queue)
    parked_since: int = 0  # when its oldest parked event was parked (us); 0: none


class StartKind(enum.Enum):
    STORED = "stored"
    EARLIEST = "earliest"
    LATEST = "latest"
    OFFSET = "offset"
    TIME = "time"


@attrs.frozen(slots=True)
class StartPoint:
    """Where a subscription starts: the committed cursor, the first or next event, an offset, a time."""

    kind: StartKind = StartKind.STORED
    value: int = 0  # the offset for OFFSET, microseconds since the epoch for TIME
    # Subscribing: True applies the start only to a subscriber created by this attach; one that
    # exists resumes from its cursor (Kafka's auto.offset.reset). False moves its cursor too.
    if_new: bool = False

    def __str__(self) -> str:
        if self.kind is StartKind.OFFSET:
            return f"offset:{self.value}"
        if self.kind is StartKind.TIME:
            return f"time:{self.value}us"
        return str(self.kind.value)


@attrs.define(slots=True)
class PublishAck:
    """The answer for one published event: where it is stored and at which exchange offsets."""

    id: EventId
    seq: int
    duplicate: bool
    offsets: tuple[tuple[str, int], ...]


class Outcome(Protocol):
    """Where a commit put one event (storage.base.EventOutcome)."""

    @property
    def seq(self) -> int: ...
    @property
    def duplicate(self) -> bool: ...
    @property
    def offsets(self) -> tuple[tuple[int, int], ...]: ...  # (exchange id, offset)


@attrs.define(slots=True, eq=False)
class Acks(Sequence[PublishAck]):
    """The acks of one publish, as the commit left them: the events' ids, their outcomes and the
    names of the exchanges. :class:`PublishAck` objects are made only when looked at (the HTTP
    and AMQP edges); the gRPC edge writes its response straight from here (router.core.wire), which
    saved two objects and a protobuf message per event.
    """

    ids: Sequence[EventId]
    outcomes: Sequence[Outcome]
    names: Mapping[int, str]  # exchange id -> name; offsets in exchanges not named are left out
    committed_ns: int = 0  # when the commit was done (router.observe.tracing)
    _made: list[PublishAck] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, index: int) -> PublishAck: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[PublishAck]: ...

    def __getitem__(self, index: int | slice) -> PublishAck | Sequence[PublishAck]:
        return self.acks()[index]

    def __iter__(self) -> Iterator[PublishAck]:
        return iter(self.acks())

    def acks(self) -> list[PublishAck]:
        if self._made is None:
            names = self.names
            self._made = [
                PublishAck(
                    event_id,
                    outcome.seq,
                    outcome.duplicate,
                    tuple([(names[x], o) for x, o in outcome.offsets if x in names]),
                )
                for event_id, outcome in zip(self.ids, self.outcomes, strict=True)
            ]
        return self._made


class Role(enum.Enum):
    """What a user is: ``admin`` may do everything; a publisher or a consumer starts with the
    grant its role stands for and may be given more (router.core.permissions)."""

    PUBLISHER = "publisher"
    CONSUMER = "consumer"
    ADMIN = "admin"


class Access(enum.Enum):
    """What a call needs. The first four can be granted; ``admin`` is the admin role's alone."""

    PUBLISH = "publish"
    CONSUME = "consume"
    MANAGE = "manage"
    MONITOR = "monitor"
    ADMIN = "admin"


GRANTABLE = (Access.PUBLISH, Access.CONSUME, Access.MANAGE, Access.MONITOR)


@attrs.frozen(slots=True)
class Grant:
    access: Access
    pattern: str
    deny: bool = False

    def __str__(self) -> str:
        return f"{'deny ' if self.deny else ''}{self.access.value} {self.pattern}"


@attrs.frozen(slots=True)
class Quotas:
    """A user's limits; 0: none. Publishing past a rate is refused (RESOURCE_EXHAUSTED / 429
    with when to retry); so is a stream or a subscriber past its count."""

    events_per_s: int = 0
    bytes_per_s: int = 0
    streams: int = 0  # open Subscribe streams and REST pulls at once
    subscribers: int = 0  # durable subscribers it may create


@attrs.frozen(slots=True)
class UserRecord:
    name: str
    role: Role
    created_at: int
    grants: tuple[Grant, ...] = ()
    quotas: Quotas = Quotas()


@attrs.frozen(slots=True)
class TypeSchema:
    """One version of an event type's contract: the JSON Schema that payloads of the types
    matching ``pattern`` are checked against (router.control.contracts), and what to do with one that
    does not match (``mode``: "enforce" refuses the publish, "warn" stores and counts it)."""

    pattern: str
    version: int
    schema: str  # JSON text
    mode: str
    description: str
    owner: str
    created_at: int
    created_by: str


@attrs.frozen(slots=True)
class AuditEntry:
    """One admin change: when, who (the user, "-" with auth off), what (``action`` on
    ``target``, with the request's settings in ``detail``, never a token's text) and from where
    (the caller's address)."""

    at: int
    user: str
    action: str
    target: str
    source: str
    detail: str


@attrs.frozen(slots=True)
class TokenRecord:
    """A token as stored: its public id, its owner and the SHA-256 of its text, never the text.
    ``expires_at`` 0: it does not expire; ``last_used_at`` 0: never used (kept to the minute)."""

    id: str
    user: str
    hash: str
    created_at: int
    expires_at: int = 0
    last_used_at: int = 0
