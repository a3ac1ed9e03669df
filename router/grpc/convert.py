"""Protobuf messages <-> the router's records. Validation failures name the field."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import attrs

from actors.subscription import Gap
from router._proto.router.v1 import router_pb2 as pb
from router.control.contracts import Counts
from router.control.quotas import quotas as checked_quotas
from router.core import permissions, validation, wire
from router.core.delivery import DeliverySettings, ParkedEvent
from router.core.errors import InvalidArgument
from router.core.model import (
    AuditEntry,
    Delivery,
    ExchangeRecord,
    Grant,
    NewEvent,
    PublishAck,
    Quotas,
    StartKind,
    StartPoint,
    StoredEvent,
    TokenRecord,
    TypeSchema,
    UserRecord,
)
from router.core.settings import Settings
from router.core.views import QueueView, SubscriberView

MAX_MESSAGE_BYTES = wire.MAX_MESSAGE_BYTES
READ_BYTES = MAX_MESSAGE_BYTES - 64 * 1024  # a Read's page: what is read is what one message holds
# Tags (field number << 3 | 2) of the repeated fields the responses below are made of.
_SUBSCRIBE_BATCH = 0x12  # SubscribeResponse.batch
_READ_BATCH = 0x0A  # ReadResponse.batch
_READ_GAP = 0x22  # ReadResponse.gap (field 4, length-delimited)
_FOLLOW_EVENTS = 0x0A  # FollowResponse.events
_KINDS = {
    pb.StartPoint.STORED: StartKind.STORED,
    pb.StartPoint.EARLIEST: StartKind.EARLIEST,
    pb.StartPoint.LATEST: StartKind.LATEST,
    pb.StartPoint.OFFSET: StartKind.OFFSET,
    pb.StartPoint.TIME: StartKind.TIME,
}


def new_events(request: pb.PublishRequest, settings: Settings) -> list[NewEvent]:
    # One pass over the repeated field: each pass wraps every message in a new Python object
    # (75 ns an event), which was half the cost of a field-at-a-time check.
    messages = list(request.events)
    validation.batch_size(len(messages), settings)
    if not any([e.headers for e in messages]):
        plain = validation.plain_events(
            [e.id for e in messages],
            [e.type for e in messages],
            [e.payload for e in messages],
            settings,
        )
        if plain is not None:
            return plain
    check = validation.event
    return [
        check(index, e.id, e.type, e.payload, dict(e.headers) if e.headers else {}, settings)
        for index, e in enumerate(messages)
    ]


def publish_response(acks: Sequence[PublishAck]) -> wire.Encoded:
    return wire.Encoded(wire.publish_response(acks))


def start_point(message: pb.StartPoint) -> StartPoint:
    kind = _KINDS.get(message.kind)
    if kind is None:
        raise InvalidArgument(f"start.kind: unknown value {message.kind}")
    if kind is StartKind.OFFSET:
        return StartPoint(kind, message.offset)
    if kind is StartKind.TIME:
        if message.time_us < 0:
            raise InvalidArgument(f"start.time_us: {message.time_us} is negative")
        return StartPoint(kind, message.time_us)
    return StartPoint(kind)


def batches(deliveries: Sequence[Delivery]) -> Iterator[wire.Encoded]:
    """The deliveries as SubscribeResponse messages of at most about MAX_MESSAGE_BYTES each.

    Made from the events' wire forms by concatenation (router.core.wire): a replayed chunk is sent
    as it was read, a live batch as it was encoded at commit.
    """
    return framed_batches(wire.frames_of(deliveries))


def framed_batches(frames: Sequence[bytes]) -> Iterator[wire.Encoded]:
    """:func:`batches` of deliveries framed already (router.core.wire.frames_of)."""
    for message in wire.groups(frames, MAX_MESSAGE_BYTES - 64, _SUBSCRIBE_BATCH):
        yield wire.Encoded(message)


def gap(notice: Gap) -> pb.Gap:
    return pb.Gap(from_offset=notice.first, to_offset=notice.last, reason=notice.reason)


def read_response(
    deliveries: Sequence[Delivery], head: int, following: int, notice: Gap | None = None
) -> wire.Encoded:
    """One page: the deliveries that fit in MAX_MESSAGE_BYTES (at least one), with where the
    next page starts; a page cut short by the size says so by its ``next_offset``; and the gap
    notice when the start was before the horizon."""
    frames = wire.frames_of(deliveries)
    count = size = 0
    for data in frames:
        if count and size + len(data) > MAX_MESSAGE_BYTES - 64:
            following = wire.bounds(deliveries)[0] + count
            break
        count, size = count + 1, size + len(data)
    return wire.Encoded(
        b"".join((bytes([_READ_BATCH]), wire.varint(size), *frames[:count]))
        + b"\x10"
        + wire.varint(head)
        + b"\x18"
        + wire.varint(following)
        + (wire.field(_READ_GAP, gap(notice).SerializeToString()) if notice else b"")
    )


def log_responses(events: Sequence[StoredEvent], last_seq: int) -> Iterator[wire.Encoded]:
    """Stored events for a follower, in FollowResponse messages of at most about
    MAX_MESSAGE_BYTES each, made from their wire forms."""
    tail = b"\x10" + wire.varint(last_seq)
    entries = [wire.field(_FOLLOW_EVENTS, wire.encode_event(e)) for e in events]
    for body in wire.groups(entries, MAX_MESSAGE_BYTES - 64):
        yield wire.Encoded(body + tail)


def stored_events(response: pb.FollowResponse) -> list[StoredEvent]:
    """A follower's side of :func:`log_responses`."""
    return [wire.event_of(e) for e in response.events]


def exchange(record: ExchangeRecord, events_in: int = 0) -> pb.Exchange:
    return pb.Exchange(
        name=record.name,
        patterns=list(record.patterns),
        head_offset=record.head,
        created_at_us=record.created_at,
        events_in=events_in,
        first_offset=record.first_offset,
    )


def user(record: UserRecord, token_ids: Sequence[str]) -> pb.User:
    return pb.User(
        name=record.name,
        role=record.role.value,
        token_ids=list(token_ids),
        created_at_us=record.created_at,
        grants=[
            pb.Grant(action=g.access.value, pattern=g.pattern, deny=g.deny) for g in record.grants
        ],
        quotas=pb.Quotas(**attrs.asdict(record.quotas)),
    )


def quotas(message: pb.Quotas) -> Quotas:
    return checked_quotas(
        message.events_per_s, message.bytes_per_s, message.streams, message.subscribers
    )


def grants(request: pb.ChangeGrantsRequest) -> list[Grant]:
    if not request.grants:
        raise InvalidArgument("grants: name at least one")
    return [
        permissions.grant(g.action, g.pattern, g.deny, f"grants[{i}]")
        for i, g in enumerate(request.grants)
    ]


def audit_entry(entry: AuditEntry) -> pb.AuditEntry:
    return pb.AuditEntry(
        at_us=entry.at,
        user=entry.user,
        action=entry.action,
        target=entry.target,
        source=entry.source,
        detail=entry.detail,
    )


def event_type(record: TypeSchema, counts: Counts | None, versions: list[int]) -> pb.EventType:
    counts = counts or Counts()
    return pb.EventType(
        pattern=record.pattern,
        version=record.version,
        schema=record.schema,
        mode=record.mode,
        description=record.description,
        owner=record.owner,
        created_at_us=record.created_at,
        created_by=record.created_by,
        checked=counts.checked,
        refused=counts.refused,
        warned=counts.warned,
        versions=versions,
    )


def token(record: TokenRecord) -> pb.TokenInfo:
    return pb.TokenInfo(
        token_id=record.id,
        user=record.user,
        created_at_us=record.created_at,
        expires_at_us=record.expires_at,
        last_used_us=record.last_used_at,
    )


def queue(view: QueueView) -> pb.Queue:
    return pb.Queue(
        id=view.id,
        exchange=view.exchange,
        limit_size=view.limit_size,
        buffered=view.buffered,
        fill=view.fill,
        head_offset=view.head,
        active=view.active,
        sleeping=view.sleeping,
        events_in=view.events_in,
        events_out=view.events_out,
    )


def subscriber(view: SubscriberView) -> pb.SubscriberInfo:
    return pb.SubscriberInfo(
        exchange=view.exchange,
        queue_id=view.queue_id,
        name=view.name,
        state=view.state,
        acked_offset=view.acked,
        delivered_offset=view.delivered,
        head_offset=view.head,
        lag=view.lag,
        since_us=view.since_us,
        events_out=view.events_out,
        fill=view.fill,
        consumer=view.consumer,
        settings=subscriber_settings(view.settings),
        consumers=view.consumers,
        unsettled=view.unsettled,
        parked=view.parked,
        redelivered=view.redelivered,
        oldest_unsettled_s=view.oldest_unsettled_s,
        stalled=view.stalled,
        stalled_at=view.acked + 1 if view.stalled else 0,
        oldest_parked_s=view.oldest_parked_s,
        holding_log=view.holding_log,
    )


def subscriber_settings(settings: DeliverySettings) -> pb.SubscriberSettings:
    return pb.SubscriberSettings(**settings.as_dict())


def settings_changes(message: pb.SubscriberSettings) -> dict[str, Any]:
    """The fields a request sets (proto3 optional fields: unset ones are absent)."""
    return {f.name: value for f, value in message.ListFields()}


def parked_event(parked: ParkedEvent, delivery: Delivery | None) -> pb.ParkedEvent:
    message = pb.ParkedEvent(
        offset=parked.offset,
        reason=parked.reason,
        deliveries=parked.deliveries,
        parked_at_us=parked.parked_at,
        redriving=parked.redriving,
    )
    if delivery is not None:
        message.event.ParseFromString(wire.encode_event(delivery.event))
    return message
