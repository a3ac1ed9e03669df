from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Event(_message.Message):
    __slots__ = ("id", "type", "payload", "headers", "seq", "published_at_us")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_AT_US_FIELD_NUMBER: _ClassVar[int]
    id: str
    type: str
    payload: bytes
    headers: _containers.ScalarMap[str, str]
    seq: int
    published_at_us: int
    def __init__(self, id: _Optional[str] = ..., type: _Optional[str] = ..., payload: _Optional[bytes] = ..., headers: _Optional[_Mapping[str, str]] = ..., seq: _Optional[int] = ..., published_at_us: _Optional[int] = ...) -> None: ...

class PublishRequest(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ...) -> None: ...

class ExchangeOffset(_message.Message):
    __slots__ = ("exchange", "offset")
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    exchange: str
    offset: int
    def __init__(self, exchange: _Optional[str] = ..., offset: _Optional[int] = ...) -> None: ...

class EventAck(_message.Message):
    __slots__ = ("id", "seq", "duplicate", "offsets")
    ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    OFFSETS_FIELD_NUMBER: _ClassVar[int]
    id: str
    seq: int
    duplicate: bool
    offsets: _containers.RepeatedCompositeFieldContainer[ExchangeOffset]
    def __init__(self, id: _Optional[str] = ..., seq: _Optional[int] = ..., duplicate: _Optional[bool] = ..., offsets: _Optional[_Iterable[_Union[ExchangeOffset, _Mapping]]] = ...) -> None: ...

class PublishRefused(_message.Message):
    __slots__ = ("code", "message", "retry_after_s")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RETRY_AFTER_S_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    retry_after_s: float
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ..., retry_after_s: _Optional[float] = ...) -> None: ...

class PublishResponse(_message.Message):
    __slots__ = ("acks", "refused")
    ACKS_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    acks: _containers.RepeatedCompositeFieldContainer[EventAck]
    refused: PublishRefused
    def __init__(self, acks: _Optional[_Iterable[_Union[EventAck, _Mapping]]] = ..., refused: _Optional[_Union[PublishRefused, _Mapping]] = ...) -> None: ...

class StartPoint(_message.Message):
    __slots__ = ("kind", "offset", "time_us")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STORED: _ClassVar[StartPoint.Kind]
        EARLIEST: _ClassVar[StartPoint.Kind]
        LATEST: _ClassVar[StartPoint.Kind]
        OFFSET: _ClassVar[StartPoint.Kind]
        TIME: _ClassVar[StartPoint.Kind]
    STORED: StartPoint.Kind
    EARLIEST: StartPoint.Kind
    LATEST: StartPoint.Kind
    OFFSET: StartPoint.Kind
    TIME: StartPoint.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    TIME_US_FIELD_NUMBER: _ClassVar[int]
    kind: StartPoint.Kind
    offset: int
    time_us: int
    def __init__(self, kind: _Optional[_Union[StartPoint.Kind, str]] = ..., offset: _Optional[int] = ..., time_us: _Optional[int] = ...) -> None: ...

class QueueOptions(_message.Message):
    __slots__ = ("limit_size",)
    LIMIT_SIZE_FIELD_NUMBER: _ClassVar[int]
    limit_size: int
    def __init__(self, limit_size: _Optional[int] = ...) -> None: ...

class SubscriberSettings(_message.Message):
    __slots__ = ("mode", "max_consumers", "prefetch", "dispatch", "key_header", "ack_wait_s", "max_deliveries", "backoff_initial_s", "backoff_max_s", "backoff_multiplier", "stall_after_s")
    MODE_FIELD_NUMBER: _ClassVar[int]
    MAX_CONSUMERS_FIELD_NUMBER: _ClassVar[int]
    PREFETCH_FIELD_NUMBER: _ClassVar[int]
    DISPATCH_FIELD_NUMBER: _ClassVar[int]
    KEY_HEADER_FIELD_NUMBER: _ClassVar[int]
    ACK_WAIT_S_FIELD_NUMBER: _ClassVar[int]
    MAX_DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    BACKOFF_INITIAL_S_FIELD_NUMBER: _ClassVar[int]
    BACKOFF_MAX_S_FIELD_NUMBER: _ClassVar[int]
    BACKOFF_MULTIPLIER_FIELD_NUMBER: _ClassVar[int]
    STALL_AFTER_S_FIELD_NUMBER: _ClassVar[int]
    mode: str
    max_consumers: int
    prefetch: int
    dispatch: str
    key_header: str
    ack_wait_s: float
    max_deliveries: int
    backoff_initial_s: float
    backoff_max_s: float
    backoff_multiplier: float
    stall_after_s: float
    def __init__(self, mode: _Optional[str] = ..., max_consumers: _Optional[int] = ..., prefetch: _Optional[int] = ..., dispatch: _Optional[str] = ..., key_header: _Optional[str] = ..., ack_wait_s: _Optional[float] = ..., max_deliveries: _Optional[int] = ..., backoff_initial_s: _Optional[float] = ..., backoff_max_s: _Optional[float] = ..., backoff_multiplier: _Optional[float] = ..., stall_after_s: _Optional[float] = ...) -> None: ...

class SubscribeStart(_message.Message):
    __slots__ = ("exchange", "subscriber", "queue", "start", "settings", "prefetch", "start_if_new")
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBER_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    PREFETCH_FIELD_NUMBER: _ClassVar[int]
    START_IF_NEW_FIELD_NUMBER: _ClassVar[int]
    exchange: str
    subscriber: str
    queue: QueueOptions
    start: StartPoint
    settings: SubscriberSettings
    prefetch: int
    start_if_new: bool
    def __init__(self, exchange: _Optional[str] = ..., subscriber: _Optional[str] = ..., queue: _Optional[_Union[QueueOptions, _Mapping]] = ..., start: _Optional[_Union[StartPoint, _Mapping]] = ..., settings: _Optional[_Union[SubscriberSettings, _Mapping]] = ..., prefetch: _Optional[int] = ..., start_if_new: _Optional[bool] = ...) -> None: ...

class SubscribeAck(_message.Message):
    __slots__ = ("offset",)
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    offset: int
    def __init__(self, offset: _Optional[int] = ...) -> None: ...

class OffsetRange(_message.Message):
    __slots__ = ("first", "last")
    FIRST_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    first: int
    last: int
    def __init__(self, first: _Optional[int] = ..., last: _Optional[int] = ...) -> None: ...

class SubscribeSettle(_message.Message):
    __slots__ = ("acks",)
    ACKS_FIELD_NUMBER: _ClassVar[int]
    acks: _containers.RepeatedCompositeFieldContainer[OffsetRange]
    def __init__(self, acks: _Optional[_Iterable[_Union[OffsetRange, _Mapping]]] = ...) -> None: ...

class SubscribeNack(_message.Message):
    __slots__ = ("offset", "delay_s", "reason")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DELAY_S_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    offset: int
    delay_s: float
    reason: str
    def __init__(self, offset: _Optional[int] = ..., delay_s: _Optional[float] = ..., reason: _Optional[str] = ...) -> None: ...

class SubscribePark(_message.Message):
    __slots__ = ("offset", "reason")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    offset: int
    reason: str
    def __init__(self, offset: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SubscribeRequest(_message.Message):
    __slots__ = ("start", "ack", "heartbeat", "settle", "nack", "park")
    START_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    SETTLE_FIELD_NUMBER: _ClassVar[int]
    NACK_FIELD_NUMBER: _ClassVar[int]
    PARK_FIELD_NUMBER: _ClassVar[int]
    start: SubscribeStart
    ack: SubscribeAck
    heartbeat: Heartbeat
    settle: SubscribeSettle
    nack: SubscribeNack
    park: SubscribePark
    def __init__(self, start: _Optional[_Union[SubscribeStart, _Mapping]] = ..., ack: _Optional[_Union[SubscribeAck, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., settle: _Optional[_Union[SubscribeSettle, _Mapping]] = ..., nack: _Optional[_Union[SubscribeNack, _Mapping]] = ..., park: _Optional[_Union[SubscribePark, _Mapping]] = ...) -> None: ...

class Subscribed(_message.Message):
    __slots__ = ("queue_id", "start_offset", "head_offset")
    QUEUE_ID_FIELD_NUMBER: _ClassVar[int]
    START_OFFSET_FIELD_NUMBER: _ClassVar[int]
    HEAD_OFFSET_FIELD_NUMBER: _ClassVar[int]
    queue_id: str
    start_offset: int
    head_offset: int
    def __init__(self, queue_id: _Optional[str] = ..., start_offset: _Optional[int] = ..., head_offset: _Optional[int] = ...) -> None: ...

class Delivery(_message.Message):
    __slots__ = ("offset", "event", "delivery_count")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_COUNT_FIELD_NUMBER: _ClassVar[int]
    offset: int
    event: Event
    delivery_count: int
    def __init__(self, offset: _Optional[int] = ..., event: _Optional[_Union[Event, _Mapping]] = ..., delivery_count: _Optional[int] = ...) -> None: ...

class EventBatch(_message.Message):
    __slots__ = ("deliveries",)
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    deliveries: _containers.RepeatedCompositeFieldContainer[Delivery]
    def __init__(self, deliveries: _Optional[_Iterable[_Union[Delivery, _Mapping]]] = ...) -> None: ...

class SettleRejected(_message.Message):
    __slots__ = ("offset", "code", "message")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    offset: int
    code: str
    message: str
    def __init__(self, offset: _Optional[int] = ..., code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class Gap(_message.Message):
    __slots__ = ("from_offset", "to_offset", "reason")
    FROM_OFFSET_FIELD_NUMBER: _ClassVar[int]
    TO_OFFSET_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    from_offset: int
    to_offset: int
    reason: str
    def __init__(self, from_offset: _Optional[int] = ..., to_offset: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class SubscribeResponse(_message.Message):
    __slots__ = ("subscribed", "batch", "rejected", "gap")
    SUBSCRIBED_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    GAP_FIELD_NUMBER: _ClassVar[int]
    subscribed: Subscribed
    batch: EventBatch
    rejected: SettleRejected
    gap: Gap
    def __init__(self, subscribed: _Optional[_Union[Subscribed, _Mapping]] = ..., batch: _Optional[_Union[EventBatch, _Mapping]] = ..., rejected: _Optional[_Union[SettleRejected, _Mapping]] = ..., gap: _Optional[_Union[Gap, _Mapping]] = ...) -> None: ...

class ReadRequest(_message.Message):
    __slots__ = ("exchange", "start", "max")
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    exchange: str
    start: StartPoint
    max: int
    def __init__(self, exchange: _Optional[str] = ..., start: _Optional[_Union[StartPoint, _Mapping]] = ..., max: _Optional[int] = ...) -> None: ...

class ReadResponse(_message.Message):
    __slots__ = ("batch", "head_offset", "next_offset", "gap")
    BATCH_FIELD_NUMBER: _ClassVar[int]
    HEAD_OFFSET_FIELD_NUMBER: _ClassVar[int]
    NEXT_OFFSET_FIELD_NUMBER: _ClassVar[int]
    GAP_FIELD_NUMBER: _ClassVar[int]
    batch: EventBatch
    head_offset: int
    next_offset: int
    gap: Gap
    def __init__(self, batch: _Optional[_Union[EventBatch, _Mapping]] = ..., head_offset: _Optional[int] = ..., next_offset: _Optional[int] = ..., gap: _Optional[_Union[Gap, _Mapping]] = ...) -> None: ...

class Exchange(_message.Message):
    __slots__ = ("name", "patterns", "head_offset", "created_at_us", "events_in", "first_offset")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PATTERNS_FIELD_NUMBER: _ClassVar[int]
    HEAD_OFFSET_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_US_FIELD_NUMBER: _ClassVar[int]
    EVENTS_IN_FIELD_NUMBER: _ClassVar[int]
    FIRST_OFFSET_FIELD_NUMBER: _ClassVar[int]
    name: str
    patterns: _containers.RepeatedScalarFieldContainer[str]
    head_offset: int
    created_at_us: int
    events_in: int
    first_offset: int
    def __init__(self, name: _Optional[str] = ..., patterns: _Optional[_Iterable[str]] = ..., head_offset: _Optional[int] = ..., created_at_us: _Optional[int] = ..., events_in: _Optional[int] = ..., first_offset: _Optional[int] = ...) -> None: ...

class CreateExchangeRequest(_message.Message):
    __slots__ = ("name", "patterns")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PATTERNS_FIELD_NUMBER: _ClassVar[int]
    name: str
    patterns: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., patterns: _Optional[_Iterable[str]] = ...) -> None: ...

class ListExchangesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListExchangesResponse(_message.Message):
    __slots__ = ("exchanges",)
    EXCHANGES_FIELD_NUMBER: _ClassVar[int]
    exchanges: _containers.RepeatedCompositeFieldContainer[Exchange]
    def __init__(self, exchanges: _Optional[_Iterable[_Union[Exchange, _Mapping]]] = ...) -> None: ...

class DeleteExchangeRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteExchangeResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DescribeExchangeRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class User(_message.Message):
    __slots__ = ("name", "role", "token_ids", "created_at_us", "grants", "quotas")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    TOKEN_IDS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_US_FIELD_NUMBER: _ClassVar[int]
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    QUOTAS_FIELD_NUMBER: _ClassVar[int]
    name: str
    role: str
    token_ids: _containers.RepeatedScalarFieldContainer[str]
    created_at_us: int
    grants: _containers.RepeatedCompositeFieldContainer[Grant]
    quotas: Quotas
    def __init__(self, name: _Optional[str] = ..., role: _Optional[str] = ..., token_ids: _Optional[_Iterable[str]] = ..., created_at_us: _Optional[int] = ..., grants: _Optional[_Iterable[_Union[Grant, _Mapping]]] = ..., quotas: _Optional[_Union[Quotas, _Mapping]] = ...) -> None: ...

class Grant(_message.Message):
    __slots__ = ("action", "pattern", "deny")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    DENY_FIELD_NUMBER: _ClassVar[int]
    action: str
    pattern: str
    deny: bool
    def __init__(self, action: _Optional[str] = ..., pattern: _Optional[str] = ..., deny: _Optional[bool] = ...) -> None: ...

class Quotas(_message.Message):
    __slots__ = ("events_per_s", "bytes_per_s", "streams", "subscribers")
    EVENTS_PER_S_FIELD_NUMBER: _ClassVar[int]
    BYTES_PER_S_FIELD_NUMBER: _ClassVar[int]
    STREAMS_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBERS_FIELD_NUMBER: _ClassVar[int]
    events_per_s: int
    bytes_per_s: int
    streams: int
    subscribers: int
    def __init__(self, events_per_s: _Optional[int] = ..., bytes_per_s: _Optional[int] = ..., streams: _Optional[int] = ..., subscribers: _Optional[int] = ...) -> None: ...

class GetUserRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ChangeGrantsRequest(_message.Message):
    __slots__ = ("user", "grants")
    USER_FIELD_NUMBER: _ClassVar[int]
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    user: str
    grants: _containers.RepeatedCompositeFieldContainer[Grant]
    def __init__(self, user: _Optional[str] = ..., grants: _Optional[_Iterable[_Union[Grant, _Mapping]]] = ...) -> None: ...

class SetQuotasRequest(_message.Message):
    __slots__ = ("user", "quotas")
    USER_FIELD_NUMBER: _ClassVar[int]
    QUOTAS_FIELD_NUMBER: _ClassVar[int]
    user: str
    quotas: Quotas
    def __init__(self, user: _Optional[str] = ..., quotas: _Optional[_Union[Quotas, _Mapping]] = ...) -> None: ...

class AddUserRequest(_message.Message):
    __slots__ = ("name", "role")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    name: str
    role: str
    def __init__(self, name: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class IssuedToken(_message.Message):
    __slots__ = ("user", "token_id", "token", "expires_at_us")
    USER_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_US_FIELD_NUMBER: _ClassVar[int]
    user: str
    token_id: str
    token: str
    expires_at_us: int
    def __init__(self, user: _Optional[str] = ..., token_id: _Optional[str] = ..., token: _Optional[str] = ..., expires_at_us: _Optional[int] = ...) -> None: ...

class AddUserResponse(_message.Message):
    __slots__ = ("user", "token")
    USER_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    user: User
    token: IssuedToken
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ..., token: _Optional[_Union[IssuedToken, _Mapping]] = ...) -> None: ...

class RemoveUserRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RemoveUserResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListUsersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListUsersResponse(_message.Message):
    __slots__ = ("users",)
    USERS_FIELD_NUMBER: _ClassVar[int]
    users: _containers.RepeatedCompositeFieldContainer[User]
    def __init__(self, users: _Optional[_Iterable[_Union[User, _Mapping]]] = ...) -> None: ...

class IssueTokenRequest(_message.Message):
    __slots__ = ("user", "expires_in_s")
    USER_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_S_FIELD_NUMBER: _ClassVar[int]
    user: str
    expires_in_s: int
    def __init__(self, user: _Optional[str] = ..., expires_in_s: _Optional[int] = ...) -> None: ...

class TokenInfo(_message.Message):
    __slots__ = ("token_id", "user", "created_at_us", "expires_at_us", "last_used_us")
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_US_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_US_FIELD_NUMBER: _ClassVar[int]
    LAST_USED_US_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    user: str
    created_at_us: int
    expires_at_us: int
    last_used_us: int
    def __init__(self, token_id: _Optional[str] = ..., user: _Optional[str] = ..., created_at_us: _Optional[int] = ..., expires_at_us: _Optional[int] = ..., last_used_us: _Optional[int] = ...) -> None: ...

class AuditEntry(_message.Message):
    __slots__ = ("at_us", "user", "action", "target", "source", "detail")
    AT_US_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    at_us: int
    user: str
    action: str
    target: str
    source: str
    detail: str
    def __init__(self, at_us: _Optional[int] = ..., user: _Optional[str] = ..., action: _Optional[str] = ..., target: _Optional[str] = ..., source: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class ListAuditRequest(_message.Message):
    __slots__ = ("since_us", "max")
    SINCE_US_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    since_us: int
    max: int
    def __init__(self, since_us: _Optional[int] = ..., max: _Optional[int] = ...) -> None: ...

class ListAuditResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[AuditEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[AuditEntry, _Mapping]]] = ...) -> None: ...

class ListTokensRequest(_message.Message):
    __slots__ = ("user",)
    USER_FIELD_NUMBER: _ClassVar[int]
    user: str
    def __init__(self, user: _Optional[str] = ...) -> None: ...

class ListTokensResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: _containers.RepeatedCompositeFieldContainer[TokenInfo]
    def __init__(self, tokens: _Optional[_Iterable[_Union[TokenInfo, _Mapping]]] = ...) -> None: ...

class RevokeTokenRequest(_message.Message):
    __slots__ = ("token_id",)
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    def __init__(self, token_id: _Optional[str] = ...) -> None: ...

class RevokeTokenResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Queue(_message.Message):
    __slots__ = ("id", "exchange", "limit_size", "buffered", "fill", "head_offset", "active", "sleeping", "events_in", "events_out")
    ID_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_SIZE_FIELD_NUMBER: _ClassVar[int]
    BUFFERED_FIELD_NUMBER: _ClassVar[int]
    FILL_FIELD_NUMBER: _ClassVar[int]
    HEAD_OFFSET_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    SLEEPING_FIELD_NUMBER: _ClassVar[int]
    EVENTS_IN_FIELD_NUMBER: _ClassVar[int]
    EVENTS_OUT_FIELD_NUMBER: _ClassVar[int]
    id: str
    exchange: str
    limit_size: int
    buffered: int
    fill: float
    head_offset: int
    active: int
    sleeping: int
    events_in: int
    events_out: int
    def __init__(self, id: _Optional[str] = ..., exchange: _Optional[str] = ..., limit_size: _Optional[int] = ..., buffered: _Optional[int] = ..., fill: _Optional[float] = ..., head_offset: _Optional[int] = ..., active: _Optional[int] = ..., sleeping: _Optional[int] = ..., events_in: _Optional[int] = ..., events_out: _Optional[int] = ...) -> None: ...

class ListQueuesRequest(_message.Message):
    __slots__ = ("exchange",)
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    exchange: str
    def __init__(self, exchange: _Optional[str] = ...) -> None: ...

class ListQueuesResponse(_message.Message):
    __slots__ = ("queues",)
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    queues: _containers.RepeatedCompositeFieldContainer[Queue]
    def __init__(self, queues: _Optional[_Iterable[_Union[Queue, _Mapping]]] = ...) -> None: ...

class SubscriberInfo(_message.Message):
    __slots__ = ("exchange", "queue_id", "name", "state", "acked_offset", "delivered_offset", "head_offset", "lag", "since_us", "events_out", "fill", "consumer", "settings", "consumers", "unsettled", "parked", "redelivered", "oldest_unsettled_s", "stalled", "stalled_at", "oldest_parked_s", "holding_log")
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    QUEUE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ACKED_OFFSET_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_OFFSET_FIELD_NUMBER: _ClassVar[int]
    HEAD_OFFSET_FIELD_NUMBER: _ClassVar[int]
    LAG_FIELD_NUMBER: _ClassVar[int]
    SINCE_US_FIELD_NUMBER: _ClassVar[int]
    EVENTS_OUT_FIELD_NUMBER: _ClassVar[int]
    FILL_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    CONSUMERS_FIELD_NUMBER: _ClassVar[int]
    UNSETTLED_FIELD_NUMBER: _ClassVar[int]
    PARKED_FIELD_NUMBER: _ClassVar[int]
    REDELIVERED_FIELD_NUMBER: _ClassVar[int]
    OLDEST_UNSETTLED_S_FIELD_NUMBER: _ClassVar[int]
    STALLED_FIELD_NUMBER: _ClassVar[int]
    STALLED_AT_FIELD_NUMBER: _ClassVar[int]
    OLDEST_PARKED_S_FIELD_NUMBER: _ClassVar[int]
    HOLDING_LOG_FIELD_NUMBER: _ClassVar[int]
    exchange: str
    queue_id: str
    name: str
    state: str
    acked_offset: int
    delivered_offset: int
    head_offset: int
    lag: int
    since_us: int
    events_out: int
    fill: float
    consumer: str
    settings: SubscriberSettings
    consumers: int
    unsettled: int
    parked: int
    redelivered: int
    oldest_unsettled_s: float
    stalled: bool
    stalled_at: int
    oldest_parked_s: float
    holding_log: bool
    def __init__(self, exchange: _Optional[str] = ..., queue_id: _Optional[str] = ..., name: _Optional[str] = ..., state: _Optional[str] = ..., acked_offset: _Optional[int] = ..., delivered_offset: _Optional[int] = ..., head_offset: _Optional[int] = ..., lag: _Optional[int] = ..., since_us: _Optional[int] = ..., events_out: _Optional[int] = ..., fill: _Optional[float] = ..., consumer: _Optional[str] = ..., settings: _Optional[_Union[SubscriberSettings, _Mapping]] = ..., consumers: _Optional[int] = ..., unsettled: _Optional[int] = ..., parked: _Optional[int] = ..., redelivered: _Optional[int] = ..., oldest_unsettled_s: _Optional[float] = ..., stalled: _Optional[bool] = ..., stalled_at: _Optional[int] = ..., oldest_parked_s: _Optional[float] = ..., holding_log: _Optional[bool] = ...) -> None: ...

class ListSubscribersRequest(_message.Message):
    __slots__ = ("exchange", "name")
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    exchange: str
    name: str
    def __init__(self, exchange: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class ListSubscribersResponse(_message.Message):
    __slots__ = ("subscribers",)
    SUBSCRIBERS_FIELD_NUMBER: _ClassVar[int]
    subscribers: _containers.RepeatedCompositeFieldContainer[SubscriberInfo]
    def __init__(self, subscribers: _Optional[_Iterable[_Union[SubscriberInfo, _Mapping]]] = ...) -> None: ...

class SubscriberRef(_message.Message):
    __slots__ = ("exchange", "name", "limit_size")
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    LIMIT_SIZE_FIELD_NUMBER: _ClassVar[int]
    exchange: str
    name: str
    limit_size: int
    def __init__(self, exchange: _Optional[str] = ..., name: _Optional[str] = ..., limit_size: _Optional[int] = ...) -> None: ...

class DeleteSubscriberResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SetSubscriberSettingsRequest(_message.Message):
    __slots__ = ("subscriber", "settings")
    SUBSCRIBER_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    subscriber: SubscriberRef
    settings: SubscriberSettings
    def __init__(self, subscriber: _Optional[_Union[SubscriberRef, _Mapping]] = ..., settings: _Optional[_Union[SubscriberSettings, _Mapping]] = ...) -> None: ...

class ParkedEvent(_message.Message):
    __slots__ = ("offset", "reason", "deliveries", "parked_at_us", "redriving", "event")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    PARKED_AT_US_FIELD_NUMBER: _ClassVar[int]
    REDRIVING_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    offset: int
    reason: str
    deliveries: int
    parked_at_us: int
    redriving: bool
    event: Event
    def __init__(self, offset: _Optional[int] = ..., reason: _Optional[str] = ..., deliveries: _Optional[int] = ..., parked_at_us: _Optional[int] = ..., redriving: _Optional[bool] = ..., event: _Optional[_Union[Event, _Mapping]] = ...) -> None: ...

class ListParkedRequest(_message.Message):
    __slots__ = ("subscriber", "after_offset", "max", "wait_s")
    SUBSCRIBER_FIELD_NUMBER: _ClassVar[int]
    AFTER_OFFSET_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    WAIT_S_FIELD_NUMBER: _ClassVar[int]
    subscriber: SubscriberRef
    after_offset: int
    max: int
    wait_s: float
    def __init__(self, subscriber: _Optional[_Union[SubscriberRef, _Mapping]] = ..., after_offset: _Optional[int] = ..., max: _Optional[int] = ..., wait_s: _Optional[float] = ...) -> None: ...

class ListParkedResponse(_message.Message):
    __slots__ = ("parked", "total")
    PARKED_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    parked: _containers.RepeatedCompositeFieldContainer[ParkedEvent]
    total: int
    def __init__(self, parked: _Optional[_Iterable[_Union[ParkedEvent, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class ParkedRequest(_message.Message):
    __slots__ = ("subscriber", "offsets", "all")
    SUBSCRIBER_FIELD_NUMBER: _ClassVar[int]
    OFFSETS_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    subscriber: SubscriberRef
    offsets: _containers.RepeatedScalarFieldContainer[int]
    all: bool
    def __init__(self, subscriber: _Optional[_Union[SubscriberRef, _Mapping]] = ..., offsets: _Optional[_Iterable[int]] = ..., all: _Optional[bool] = ...) -> None: ...

class ParkedChanged(_message.Message):
    __slots__ = ("offsets",)
    OFFSETS_FIELD_NUMBER: _ClassVar[int]
    offsets: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, offsets: _Optional[_Iterable[int]] = ...) -> None: ...

class ResetSubscriberRequest(_message.Message):
    __slots__ = ("subscriber", "to")
    SUBSCRIBER_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    subscriber: SubscriberRef
    to: StartPoint
    def __init__(self, subscriber: _Optional[_Union[SubscriberRef, _Mapping]] = ..., to: _Optional[_Union[StartPoint, _Mapping]] = ...) -> None: ...

class StatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Stats(_message.Message):
    __slots__ = ("at_us", "last_seq", "published", "exchanges", "queues", "subscribers", "links_json")
    AT_US_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_FIELD_NUMBER: _ClassVar[int]
    EXCHANGES_FIELD_NUMBER: _ClassVar[int]
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBERS_FIELD_NUMBER: _ClassVar[int]
    LINKS_JSON_FIELD_NUMBER: _ClassVar[int]
    at_us: int
    last_seq: int
    published: int
    exchanges: _containers.RepeatedCompositeFieldContainer[Exchange]
    queues: _containers.RepeatedCompositeFieldContainer[Queue]
    subscribers: _containers.RepeatedCompositeFieldContainer[SubscriberInfo]
    links_json: str
    def __init__(self, at_us: _Optional[int] = ..., last_seq: _Optional[int] = ..., published: _Optional[int] = ..., exchanges: _Optional[_Iterable[_Union[Exchange, _Mapping]]] = ..., queues: _Optional[_Iterable[_Union[Queue, _Mapping]]] = ..., subscribers: _Optional[_Iterable[_Union[SubscriberInfo, _Mapping]]] = ..., links_json: _Optional[str] = ...) -> None: ...

class ServerInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ServerInfo(_message.Message):
    __slots__ = ("version", "storage", "auth", "started_at_us", "last_seq", "exchanges", "queues", "role", "first_seq", "removed_until_us", "removed_events", "retention", "leader", "epoch", "routers", "database_host")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STORAGE_FIELD_NUMBER: _ClassVar[int]
    AUTH_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_US_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    EXCHANGES_FIELD_NUMBER: _ClassVar[int]
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEQ_FIELD_NUMBER: _ClassVar[int]
    REMOVED_UNTIL_US_FIELD_NUMBER: _ClassVar[int]
    REMOVED_EVENTS_FIELD_NUMBER: _ClassVar[int]
    RETENTION_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    ROUTERS_FIELD_NUMBER: _ClassVar[int]
    DATABASE_HOST_FIELD_NUMBER: _ClassVar[int]
    version: str
    storage: str
    auth: bool
    started_at_us: int
    last_seq: int
    exchanges: int
    queues: int
    role: str
    first_seq: int
    removed_until_us: int
    removed_events: int
    retention: str
    leader: str
    epoch: int
    routers: _containers.RepeatedCompositeFieldContainer[RouterNode]
    database_host: str
    def __init__(self, version: _Optional[str] = ..., storage: _Optional[str] = ..., auth: _Optional[bool] = ..., started_at_us: _Optional[int] = ..., last_seq: _Optional[int] = ..., exchanges: _Optional[int] = ..., queues: _Optional[int] = ..., role: _Optional[str] = ..., first_seq: _Optional[int] = ..., removed_until_us: _Optional[int] = ..., removed_events: _Optional[int] = ..., retention: _Optional[str] = ..., leader: _Optional[str] = ..., epoch: _Optional[int] = ..., routers: _Optional[_Iterable[_Union[RouterNode, _Mapping]]] = ..., database_host: _Optional[str] = ...) -> None: ...

class RouterNode(_message.Message):
    __slots__ = ("name", "grpc_address", "http_address", "leading", "seen_s_ago")
    NAME_FIELD_NUMBER: _ClassVar[int]
    GRPC_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    HTTP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    LEADING_FIELD_NUMBER: _ClassVar[int]
    SEEN_S_AGO_FIELD_NUMBER: _ClassVar[int]
    name: str
    grpc_address: str
    http_address: str
    leading: bool
    seen_s_ago: float
    def __init__(self, name: _Optional[str] = ..., grpc_address: _Optional[str] = ..., http_address: _Optional[str] = ..., leading: _Optional[bool] = ..., seen_s_ago: _Optional[float] = ...) -> None: ...

class TrimLogRequest(_message.Message):
    __slots__ = ("before_seq", "before_time_us", "dry_run", "max")
    BEFORE_SEQ_FIELD_NUMBER: _ClassVar[int]
    BEFORE_TIME_US_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    before_seq: int
    before_time_us: int
    dry_run: bool
    max: int
    def __init__(self, before_seq: _Optional[int] = ..., before_time_us: _Optional[int] = ..., dry_run: _Optional[bool] = ..., max: _Optional[int] = ...) -> None: ...

class TrimLogResponse(_message.Message):
    __slots__ = ("removed", "remaining", "first_seq", "removed_until_us", "parked_dropped")
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEQ_FIELD_NUMBER: _ClassVar[int]
    REMOVED_UNTIL_US_FIELD_NUMBER: _ClassVar[int]
    PARKED_DROPPED_FIELD_NUMBER: _ClassVar[int]
    removed: int
    remaining: int
    first_seq: int
    removed_until_us: int
    parked_dropped: int
    def __init__(self, removed: _Optional[int] = ..., remaining: _Optional[int] = ..., first_seq: _Optional[int] = ..., removed_until_us: _Optional[int] = ..., parked_dropped: _Optional[int] = ...) -> None: ...

class ReemitRequest(_message.Message):
    __slots__ = ("exchange", "start", "subscriber", "amqp_url", "amqp_exchange", "max")
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBER_FIELD_NUMBER: _ClassVar[int]
    AMQP_URL_FIELD_NUMBER: _ClassVar[int]
    AMQP_EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    exchange: str
    start: StartPoint
    subscriber: str
    amqp_url: str
    amqp_exchange: str
    max: int
    def __init__(self, exchange: _Optional[str] = ..., start: _Optional[_Union[StartPoint, _Mapping]] = ..., subscriber: _Optional[str] = ..., amqp_url: _Optional[str] = ..., amqp_exchange: _Optional[str] = ..., max: _Optional[int] = ...) -> None: ...

class ReemitProgress(_message.Message):
    __slots__ = ("confirmed", "last_offset", "until_offset", "done")
    CONFIRMED_FIELD_NUMBER: _ClassVar[int]
    LAST_OFFSET_FIELD_NUMBER: _ClassVar[int]
    UNTIL_OFFSET_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    confirmed: int
    last_offset: int
    until_offset: int
    done: bool
    def __init__(self, confirmed: _Optional[int] = ..., last_offset: _Optional[int] = ..., until_offset: _Optional[int] = ..., done: _Optional[bool] = ...) -> None: ...

class EventType(_message.Message):
    __slots__ = ("pattern", "version", "schema", "mode", "description", "owner", "created_at_us", "created_by", "checked", "refused", "warned", "versions")
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_US_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    CHECKED_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    WARNED_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    pattern: str
    version: int
    schema: str
    mode: str
    description: str
    owner: str
    created_at_us: int
    created_by: str
    checked: int
    refused: int
    warned: int
    versions: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, pattern: _Optional[str] = ..., version: _Optional[int] = ..., schema: _Optional[str] = ..., mode: _Optional[str] = ..., description: _Optional[str] = ..., owner: _Optional[str] = ..., created_at_us: _Optional[int] = ..., created_by: _Optional[str] = ..., checked: _Optional[int] = ..., refused: _Optional[int] = ..., warned: _Optional[int] = ..., versions: _Optional[_Iterable[int]] = ...) -> None: ...

class RegisterTypeRequest(_message.Message):
    __slots__ = ("pattern", "schema", "mode", "description", "owner", "force")
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    pattern: str
    schema: str
    mode: str
    description: str
    owner: str
    force: bool
    def __init__(self, pattern: _Optional[str] = ..., schema: _Optional[str] = ..., mode: _Optional[str] = ..., description: _Optional[str] = ..., owner: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class GetTypeRequest(_message.Message):
    __slots__ = ("pattern", "version")
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    pattern: str
    version: int
    def __init__(self, pattern: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class ListTypesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListTypesResponse(_message.Message):
    __slots__ = ("types",)
    TYPES_FIELD_NUMBER: _ClassVar[int]
    types: _containers.RepeatedCompositeFieldContainer[EventType]
    def __init__(self, types: _Optional[_Iterable[_Union[EventType, _Mapping]]] = ...) -> None: ...

class DeleteTypeRequest(_message.Message):
    __slots__ = ("pattern",)
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    pattern: str
    def __init__(self, pattern: _Optional[str] = ...) -> None: ...

class DeleteTypeResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AsyncAPIRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AsyncAPIDocument(_message.Message):
    __slots__ = ("json",)
    JSON_FIELD_NUMBER: _ClassVar[int]
    json: str
    def __init__(self, json: _Optional[str] = ...) -> None: ...

class FollowRequest(_message.Message):
    __slots__ = ("after_seq", "max_batch")
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    after_seq: int
    max_batch: int
    def __init__(self, after_seq: _Optional[int] = ..., max_batch: _Optional[int] = ...) -> None: ...

class FollowResponse(_message.Message):
    __slots__ = ("events", "last_seq")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    last_seq: int
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., last_seq: _Optional[int] = ...) -> None: ...
