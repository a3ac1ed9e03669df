"""The wire forms the router concatenates must parse as what protobuf itself would have built."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from router._proto.router.v1 import router_pb2 as pb
from router.core import wire
from router.core.model import Acks, Delivery, StoredEvent
from router.grpc import convert
from storage.base import EventOutcome

_text = st.text(string.ascii_letters + string.digits + ".-_é✓", max_size=40)
_events = st.builds(
    StoredEvent,
    seq=st.integers(1, 2**62),
    id=st.uuids().map(str),
    type=_text,
    payload=st.one_of(st.binary(max_size=300), st.just(b"x" * 20_000)),  # past 2**14: long lengths
    headers=st.dictionaries(_text, _text, max_size=4).map(lambda h: tuple(sorted(h.items()))),
    published_at=st.integers(0, 2**62),
)


@given(st.integers(-(2**63), 2**63 - 1).filter(bool))  # protobuf writes no zero field
def test_varint_is_protobufs(value: int) -> None:
    assert wire.varint(value) == pb.Delivery(offset=value).SerializeToString()[1:]


@given(_events)
def test_an_event_survives_its_wire_form(event: StoredEvent) -> None:
    assert wire.decode_event(wire.encode_event(event)) == event


@given(st.integers(1, 2**40), st.lists(_events, min_size=1, max_size=20))
def test_framed_deliveries_parse_as_the_batch_protobuf_builds(
    first: int, events: list[StoredEvent]
) -> None:
    deliveries = [Delivery(first + i, e) for i, e in enumerate(events)]
    rows = [(d.offset, wire.encode_event(d.event)) for d in deliveries]
    batch = wire.wire_batch(rows)
    assert wire.bounds(batch) == (first, first + len(events) - 1)
    (message,) = convert.batches(batch)
    parsed = pb.SubscribeResponse.FromString(message.data)
    assert [(d.offset, wire.event_of(d.event)) for d in parsed.batch.deliveries] == [
        (d.offset, d.event) for d in deliveries
    ]
    assert list(batch) == deliveries  # what the HTTP edge sees: parsed on first access


def test_a_large_batch_is_cut_into_messages_under_the_limit() -> None:
    payload = b"x" * 100_000
    deliveries = [
        Delivery(i, StoredEvent(i, f"{i:08d}-0000-4000-8000-000000000000", "t", payload, (), i))
        for i in range(1, 101)
    ]
    messages = [m.data for m in convert.batches(deliveries)]
    assert len(messages) == 3
    assert all(len(m) <= convert.MAX_MESSAGE_BYTES for m in messages)
    offsets = [
        d.offset for m in messages for d in pb.SubscribeResponse.FromString(m).batch.deliveries
    ]
    assert offsets == list(range(1, 101))


def test_a_read_page_that_does_not_fit_says_where_the_next_one_starts() -> None:
    payload = b"x" * 1_000_000
    deliveries = [
        Delivery(i, StoredEvent(i, f"{i:08d}-0000-4000-8000-000000000000", "t", payload, (), i))
        for i in range(10, 20)
    ]
    page = pb.ReadResponse.FromString(convert.read_response(deliveries, 50, 20).data)
    assert [d.offset for d in page.batch.deliveries] == [10, 11, 12, 13]
    assert (page.head_offset, page.next_offset) == (50, 14)
    whole = pb.ReadResponse.FromString(convert.read_response(deliveries[:2], 50, 12).data)
    assert ([d.offset for d in whole.batch.deliveries], whole.next_offset) == ([10, 11], 12)
    empty = pb.ReadResponse.FromString(convert.read_response([], 50, 51).data)
    assert (len(empty.batch.deliveries), empty.head_offset, empty.next_offset) == (0, 50, 51)


_offsets = st.lists(st.tuples(st.integers(1, 4), st.integers(0, 2**40)), max_size=3)
_outcomes = st.builds(
    EventOutcome, seq=st.integers(0, 2**62), duplicate=st.booleans(), offsets=_offsets.map(tuple)
)


@given(st.lists(st.tuples(st.uuids().map(str), _outcomes), max_size=20))
def test_acks_written_out_parse_as_protobuf_builds_them(rows: list) -> None:
    names = {1: "orders", 2: "all", 3: "é✓"}  # exchange 4 was deleted: its offsets are left out
    acks = Acks([event_id for event_id, _ in rows], [outcome for _, outcome in rows], names)
    expected = pb.PublishResponse(
        acks=[
            pb.EventAck(
                id=a.id,
                seq=a.seq,
                duplicate=a.duplicate,
                offsets=[pb.ExchangeOffset(exchange=x, offset=o) for x, o in a.offsets],
            )
            for a in acks
        ]
    )
    assert all(x != "4" for a in acks for x, _ in a.offsets)
    assert pb.PublishResponse.FromString(wire.publish_response(acks)) == expected
    assert pb.PublishResponse.FromString(wire.publish_response(list(acks))) == expected
