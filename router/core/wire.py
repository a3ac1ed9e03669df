"""Events in their wire form: the bytes of a ``router.v1.Event``, made once and sent as they are.

The log stores each event as its serialized ``Event`` message, built when the event is committed.
A protobuf message may be written by concatenating its fields, so a batch for a consumer is the
stored bytes of its events, each behind a few bytes of framing (its offset, two lengths): replay
builds no per-event object and no protobuf message, which was more than half of its cost.

Field numbers used below (protos/router/v1/router.proto): ``Delivery`` offset = 1, event = 2;
``PublishResponse`` acks = 1; ``EventAck`` id = 1, seq = 2, duplicate = 3, offsets = 4;
``ExchangeOffset`` exchange = 1, offset = 2;
``EventBatch`` deliveries = 1; ``SubscribeResponse`` batch = 2; ``ReadResponse`` batch = 1,
head_offset = 2, next_offset = 3; ``FollowResponse`` events = 1, last_seq = 2.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, overload

import attrs

from router._proto.router.v1 import router_pb2 as pb
from router.core.model import Acks, Delivery, PublishAck, StoredEvent

MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # grpclib's default limit on a received message
# Every varint below 2**14, and the two low bytes of a larger one (both marked "more follows"):
# below 2**28, a varint is two look-ups. Offsets and seqs pass 16,384 early, and a loop per
# offset was a third of replay's framing time.
_SMALL = [bytes([n]) if n < 0x80 else bytes([n & 0x7F | 0x80, n >> 7]) for n in range(1 << 14)]
_LOW = [bytes([n & 0x7F | 0x80, n >> 7 | 0x80]) for n in range(1 << 14)]


def varint(value: int) -> bytes:
    """``value`` as a protobuf varint (a negative int64 takes ten bytes, as protobuf has it)."""
    if 0 <= value < 0x4000:
        return _SMALL[value]
    if 0 < value < 0x10000000:
        return _LOW[value & 0x3FFF] + _SMALL[value >> 14]
    if value < 0:
        value += 1 << 64
    parts = []
    while value >= 0x4000:  # 14 bits, two bytes, at a time
        parts.append(_LOW[value & 0x3FFF])
        value >>= 14
    parts.append(_SMALL[value])
    return b"".join(parts)


def encode_event(event: StoredEvent) -> bytes:
    """The event's wire form; kept on the event (``event.wire``) so that it is built once."""
    if event.wire:
        return event.wire
    message = pb.Event()
    message.id = event.id
    message.type = event.type
    message.payload = event.payload
    if event.headers:
        message.headers.update(event.headers)
    message.seq = event.seq
    message.published_at_us = event.published_at
    event.wire = message.SerializeToString()
    return event.wire


def event_of(message: pb.Event, wire: bytes = b"") -> StoredEvent:
    headers = tuple(sorted(message.headers.items())) if message.headers else ()
    event = StoredEvent(
        message.seq, message.id, message.type, message.payload, headers, message.published_at_us
    )
    event.wire = wire
    return event


def decode_event(wire: bytes) -> StoredEvent:
    """The event a stored wire form holds (the inverse of :func:`encode_event`)."""
    return event_of(pb.Event.FromString(wire), wire)


# An event's wire form begins with its id (tag, length, the 36 characters of its canonical text)
# and its type (tag, length, text): encode_event writes fields in number order. The SQLite store
# keeps the id as 16 bytes and the type once in a table, and the rest of the wire form, the body,
# as it is: 36 characters of id text and the type were 50 of the 265 bytes of a 200-byte event.
ID_FIELD = b"\x0a\x24"
ID_FIELD_SIZE = 38
FIRST = b"\x18\x01"  # Delivery.delivery_count = 1, ending every frame of a first delivery


def type_field(type_: str) -> bytes:
    """The type's field of a wire form (tag, length, text), which the SQLite store keeps once."""
    data = type_.encode()
    return b"\x12" + varint(len(data)) + data


def body_start(wire: bytes, field: bytes) -> int:
    """Where the body of ``wire`` begins after its id and its type ``field``: ValueError if it
    does not begin with them (then it would not be made whole again by :func:`whole`)."""
    start = ID_FIELD_SIZE + len(field)
    if wire[:2] != ID_FIELD or wire[ID_FIELD_SIZE:start] != field:
        raise ValueError("wire form: not an id field and then a type field at its start")
    return start


def whole(raw_id: bytes, field: bytes, body: bytes) -> bytes:
    """The wire form again from the parts a store keeps (the inverse of :func:`body_start`)."""
    return b"".join((id_fields(raw_id), field, body))


# Where each of the 32 hex digits of an id goes in its canonical text (a dash after the 8th,
# 12th, 16th and 20th).
_TEXT_AT = [i + (i >= 8) + (i >= 12) + (i >= 16) + (i >= 20) for i in range(32)]


def id_fields(raw_ids: bytes) -> bytes:
    """The id fields (tag, length, canonical text: 38 bytes each) of ids of 16 bytes each,
    joined, made with a few dozen strided copies for all of them rather than a loop over ids:
    formatting each id's text alone cost replay about half a microsecond an event."""
    n = len(raw_ids) // 16
    hexed = raw_ids.hex().encode()
    out = bytearray(ID_FIELD_SIZE * n)
    out[0::ID_FIELD_SIZE] = ID_FIELD[:1] * n
    out[1::ID_FIELD_SIZE] = ID_FIELD[1:] * n
    dashes = b"-" * n
    for at in (10, 15, 20, 25):
        out[at::ID_FIELD_SIZE] = dashes
    for digit, at in enumerate(_TEXT_AT):
        out[2 + at :: ID_FIELD_SIZE] = hexed[digit::32]
    return bytes(out)


def framed_parts(
    first: int, raw_ids: bytes, fields: Sequence[bytes], bodies: bytes, sizes: Sequence[int]
) -> WireBatch:
    """:func:`framed` for events kept in parts: their ids (16 bytes each, joined), type fields,
    and bodies (joined, and their sizes), each made whole in the join that frames it.

    The loop of :func:`framed`, written out again on purpose: building each wire form first and
    framing it then cost a second join an event, and one loop shared by both over tuples of
    pieces cost 0.2 us an event more on each path (0.42 -> 0.62 and 0.68 -> 0.86 us)."""
    ids = id_fields(raw_ids)
    small, low = _SMALL, _LOW
    frames: list[bytes] = []
    append = frames.append
    offset = first
    at_id = at_body = 0
    for field, body_size in zip(fields, sizes, strict=True):
        body = bodies[at_body : at_body + body_size]
        at_body += body_size
        size = ID_FIELD_SIZE + len(field) + body_size
        if offset < 0x4000:
            at = small[offset]
        elif offset < 0x10000000:
            at = low[offset & 0x3FFF] + small[offset >> 14]
        else:
            at = varint(offset)
        length = small[size] if size < 0x4000 else varint(size)
        total = len(at) + len(length) + 4 + size
        head = small[total] if total < 0x4000 else varint(total)
        id_field = ids[at_id : at_id + ID_FIELD_SIZE]
        append(
            b"".join((b"\x0a", head, b"\x08", at, b"\x12", length, id_field, field, body, FIRST))
        )
        at_id += ID_FIELD_SIZE
        offset += 1
    return WireBatch(first, offset - 1, frames)


def frame(offset: int, wire: bytes) -> bytes:
    """One ``EventBatch.deliveries`` entry: ``Delivery{offset, event, delivery_count: 1}`` with
    its tag and length (:func:`counted` makes one delivered again)."""
    head = b"\x08" + varint(offset) + b"\x12" + varint(len(wire))
    return b"\x0a" + varint(len(head) + len(wire) + len(FIRST)) + head + wire + FIRST


class _Framed(Sequence[Delivery]):
    """Deliveries held as framed wire bytes (what the gRPC edge sends as they are), parsed into
    Delivery objects on first access (the HTTP edge, the AMQP re-emitter)."""

    __slots__ = ()
    frames: list[bytes]
    _parsed: tuple[Delivery, ...] | None

    def __len__(self) -> int:
        return len(self.frames)

    @overload
    def __getitem__(self, index: int) -> Delivery: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Delivery]: ...

    def __getitem__(self, index: int | slice) -> Delivery | Sequence[Delivery]:
        return self.deliveries()[index]

    def __iter__(self) -> Iterator[Delivery]:
        return iter(self.deliveries())

    def deliveries(self) -> tuple[Delivery, ...]:
        if self._parsed is None:
            batch = pb.EventBatch.FromString(b"".join(self.frames))
            self._parsed = tuple(Delivery(d.offset, event_of(d.event)) for d in batch.deliveries)
        return self._parsed


@attrs.define(slots=True, eq=False)
class WireBatch(_Framed):
    """Deliveries at consecutive offsets ``first``..``last``, held as framed wire bytes.

    What replay reads from storage: the gRPC edge sends ``frames`` as they are. Anything that
    looks at the deliveries themselves (the HTTP edge, the AMQP re-emitter) gets them parsed on
    first access.
    """

    first: int
    last: int
    frames: list[bytes]
    _parsed: tuple[Delivery, ...] | None = None


def wire_batch(rows: Sequence[tuple[int, bytes]]) -> WireBatch:
    """A batch from stored (offset, wire) rows in offset order: their run of consecutive offsets
    from the first row (the rest are left out: a short batch, which its reader asks again for)."""
    if not rows:
        return WireBatch(0, -1, [])
    first = rows[0][0]
    dense = len(rows)
    if rows[-1][0] - first + 1 != dense:
        dense = next(i for i, (offset, _) in enumerate(rows) if offset != first + i)
    return framed(first, [data for _, data in rows[:dense]])


def framed(first: int, wires: Iterable[bytes]) -> WireBatch:
    """A batch of stored wire forms at consecutive offsets from ``first``.

    :func:`frame` for each, written out: this loop is most of a replayed chunk's cost in the
    router, and the calls and concatenations cost twice what one join per frame does.
    """
    small, low = _SMALL, _LOW
    frames: list[bytes] = []
    append = frames.append
    offset = first
    for data in wires:
        size = len(data)
        if offset < 0x4000:
            at = small[offset]
        elif offset < 0x10000000:
            at = low[offset & 0x3FFF] + small[offset >> 14]
        else:
            at = varint(offset)
        length = small[size] if size < 0x4000 else varint(size)
        body = len(at) + len(length) + 4 + size
        head = small[body] if body < 0x4000 else varint(body)
        append(b"".join((b"\x0a", head, b"\x08", at, b"\x12", length, data, FIRST)))
        offset += 1
    return WireBatch(first, offset - 1, frames)


@attrs.define(slots=True, eq=False)
class Counted(_Framed):
    """Deliveries in any offset order, each with its delivery count: redeliveries, re-driven
    events, a resumed subscriber's deliveries made before. ``frames`` carry the count."""

    offsets: list[int]
    counts: list[int]
    frames: list[bytes]
    _parsed: tuple[Delivery, ...] | None = None

    @classmethod
    def of(cls, batch: Sequence[Delivery], counts: Sequence[int]) -> Counted:
        """``batch`` (each delivery once) with these counts."""
        # a list is a selection (gaps allowed); any other batch is consecutive
        offsets = [d.offset for d in batch] if isinstance(batch, list) else list(offsets_of(batch))
        return cls.of_frames(offsets, frames_of(batch), counts)

    @classmethod
    def of_frames(
        cls, offsets: Sequence[int], frames: Sequence[bytes], counts: Sequence[int]
    ) -> Counted:
        """Delivery frames as :func:`frame` makes them (a count of 1), or counted already, with
        these counts."""
        written = [
            data if count == 1 and data.endswith(FIRST) else counted(data, count)
            for data, count in zip(frames, counts, strict=True)
        ]
        return cls(list(offsets), list(counts), written)


def counted(data: bytes, count: int) -> bytes:
    """A ``Delivery`` frame (as :func:`frame` makes it, or counted already) with its
    ``delivery_count`` field set to ``count``: the offset and event kept, the count replaced."""
    _, start = _read_varint(data, 1)  # the frame's length
    _, at = _read_varint(data, start + 1)  # the offset, after its tag
    size, at = _read_varint(data, at + 1)  # the event's length, after its tag
    body = data[start : at + size] + b"\x18" + varint(count)
    return b"\x0a" + varint(len(body)) + body


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def counts_of(batch: Sequence[Delivery]) -> list[int]:
    """Each delivery's delivery count (1 unless the batch says otherwise)."""
    if isinstance(batch, Counted):
        return batch.counts
    return [1] * len(batch)


def offsets_of(batch: Sequence[Delivery]) -> Sequence[int]:
    """The offsets of a batch: a range for consecutive ones (every batch but a Counted)."""
    if isinstance(batch, Counted):
        return batch.offsets
    first, last = bounds(batch)
    return range(first, last + 1)


def part(batch: Sequence[Delivery], start: int, stop: int) -> Sequence[Delivery]:
    """``batch[start:stop]`` without parsing stored wire forms."""
    if isinstance(batch, WireBatch):
        return WireBatch(batch.first + start, batch.first + stop - 1, batch.frames[start:stop])
    if isinstance(batch, Counted):
        return Counted(
            batch.offsets[start:stop], batch.counts[start:stop], batch.frames[start:stop]
        )
    return tuple(batch[start:stop])


def sizes_of(batch: Sequence[Delivery]) -> list[int]:
    """Each delivery's size: its frame's for a framed batch, its event's wire form's else (the
    bytes it holds either way, within a few)."""
    if isinstance(batch, WireBatch | Counted):
        return [len(data) for data in batch.frames]
    return [len(encode_event(d.event)) for d in batch]


def fitting(batch: Sequence[Delivery], max_bytes: int, at_least_one: bool = True) -> int:
    """How many deliveries from the start of ``batch`` fit in ``max_bytes`` (0: no limit); at
    least one if ``at_least_one``, however large."""
    if max_bytes <= 0 or not batch:
        return len(batch)
    if isinstance(batch, WireBatch | Counted) and sum(map(len, batch.frames)) <= max_bytes:
        return len(batch)
    total = count = 0
    for size in sizes_of(batch):
        total += size
        if total > max_bytes:
            break
        count += 1
    return max(count, 1) if at_least_one else count


def pieces(batch: Sequence[Delivery], max_bytes: int) -> Iterator[Sequence[Delivery]]:
    """``batch`` in consecutive parts of at most ``max_bytes`` each (at least one delivery)."""
    if fitting(batch, max_bytes) == len(batch):
        yield batch
        return
    start = total = 0
    for index, size in enumerate(sizes_of(batch)):
        if index > start and total + size > max_bytes:
            yield part(batch, start, index)
            start, total = index, 0
        total += size
    yield part(batch, start, len(batch))


def frame_at(batch: Sequence[Delivery], offset: int) -> bytes:
    """The frame of the delivery at ``offset`` in ``batch`` (it must be there)."""
    index = offsets_of(batch).index(offset)
    return frames_of(part(batch, index, index + 1))[0]


def bounds(batch: Sequence[Delivery]) -> tuple[int, int]:
    """The first and last offsets of a non-empty batch, without parsing a WireBatch."""
    if isinstance(batch, WireBatch):
        return batch.first, batch.last
    if isinstance(batch, Counted):
        return batch.offsets[0], batch.offsets[-1]
    return batch[0].offset, batch[-1].offset


def frames_of(batch: Sequence[Delivery]) -> list[bytes]:
    if isinstance(batch, WireBatch | Counted):
        return batch.frames
    return [frame(d.offset, encode_event(d.event)) for d in batch]


def groups(frames: Sequence[bytes], limit: int, tag: int | None = None) -> Iterator[bytes]:
    """The frames joined into runs of at most about ``limit`` bytes (at least one frame each);
    with ``tag``, each run is a length-delimited field of that tag (one join, no second copy)."""
    start, size = 0, 0
    for index, data in enumerate(frames):
        if size and size + len(data) > limit:
            yield _joined(frames[start:index], size, tag)
            start, size = index, 0
        size += len(data)
    if size:
        yield _joined(frames[start:], size, tag)


def _joined(frames: Sequence[bytes], size: int, tag: int | None) -> bytes:
    if tag is None:
        return b"".join(frames)
    return b"".join((bytes([tag]), varint(size), *frames))


def field(tag: int, body: bytes) -> bytes:
    """A length-delimited field: ``tag`` (field number << 3 | 2), length, body."""
    return bytes([tag]) + varint(len(body)) + body


def publish_response(acks: Sequence[PublishAck]) -> bytes:
    """A ``PublishResponse`` of ``acks``, written out.

    :class:`router.core.model.Acks` are read as the commit left them, without making their
    PublishAck objects: their offsets name exchanges by id, and the offsets of an exchange
    deleted meanwhile are left out.
    """
    names: Mapping[int, str] = {}
    rows: Iterable[tuple[str, Any]]
    if isinstance(acks, Acks):
        names = acks.names
        rows = zip(acks.ids, acks.outcomes, strict=True)
    else:
        rows = ((a.id, a) for a in acks)
    # Exchange (id or name) -> its ExchangeOffset's name field; b"" for an exchange left out.
    heads: dict[int | str, bytes] = {}
    parts: list[bytes] = []
    for event_id, ack in rows:
        text = event_id.encode()
        body = [b"\x0a", varint(len(text)), text] if text else []
        if ack.seq:
            body += (b"\x10", varint(ack.seq))
        if ack.duplicate:
            body.append(b"\x18\x01")
        for exchange, offset in ack.offsets:
            head = heads.get(exchange)
            if head is None:
                name = names.get(exchange, "") if isinstance(exchange, int) else exchange
                head = heads[exchange] = _exchange_head(name) if name else b""
            if head:
                entry = head + b"\x10" + varint(offset) if offset else head
                body += (b"\x22", varint(len(entry)), entry)
        message = b"".join(body)
        parts += (b"\x0a", varint(len(message)), message)
    return b"".join(parts)


def _exchange_head(name: str) -> bytes:
    encoded = name.encode()
    return b"\x0a" + varint(len(encoded)) + encoded


@attrs.frozen
class Encoded:
    """A response message already serialized; the gRPC codec sends its bytes unchanged."""

    data: bytes
