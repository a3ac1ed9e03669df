"""Wire forms kept in parts (the SQLite store) are made whole byte for byte."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router._proto.router.v1 import router_pb2 as pb
from router.core.model import StoredEvent
from router.core.wire import (
    Counted,
    body_start,
    encode_event,
    fitting,
    frame,
    framed,
    framed_parts,
    frames_of,
    offsets_of,
    pieces,
    sizes_of,
    type_field,
    whole,
)
from storage.base import id_bytes

types = st.from_regex(r"[a-z0-9_-]{1,20}(\.[a-z0-9_-]{1,20}){0,12}", fullmatch=True)
events = st.builds(
    StoredEvent,
    st.integers(1, 2**62),
    st.uuids().map(str),
    types,
    st.binary(max_size=300),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3).map(
        lambda h: tuple(sorted(h.items()))
    ),
    st.integers(0, 2**62),
)


@given(st.lists(events, min_size=1, max_size=20), st.integers(1, 2**40))
def test_events_kept_in_parts_are_framed_as_their_wire_forms(
    stored: list[StoredEvent], first: int
) -> None:
    wires = [encode_event(e) for e in stored]
    fields = [type_field(e.type) for e in stored]
    bodies = [w[body_start(w, f) :] for w, f in zip(wires, fields, strict=True)]
    raw_ids = b"".join(id_bytes(e.id) for e in stored)
    assert [
        whole(id_bytes(e.id), f, b) for e, f, b in zip(stored, fields, bodies, strict=True)
    ] == (wires)
    sizes = [len(b) for b in bodies]
    framed_now = framed_parts(first, raw_ids, fields, b"".join(bodies), sizes)
    assert framed_now.frames == framed(first, wires).frames


def parsed(frames: list[bytes]) -> list[tuple[int, pb.Event, int]]:
    """What protobuf reads in these frames: each delivery's offset, event and count."""
    batch = pb.EventBatch.FromString(b"".join(frames))
    return [(d.offset, d.event, d.delivery_count) for d in batch.deliveries]


@given(
    st.lists(st.tuples(events, st.integers(1, 2**30)), min_size=1, max_size=10),
    st.integers(1, 2**40),
)
def test_a_first_delivery_is_framed_with_count_1_and_a_redelivery_with_its_count(
    stored_counts: list[tuple[StoredEvent, int]], first: int
) -> None:
    stored = [e for e, _ in stored_counts]
    counts = [n for _, n in stored_counts]
    events_ = [pb.Event.FromString(encode_event(e)) for e in stored]
    offsets = range(first, first + len(stored))
    fresh = framed(first, [encode_event(e) for e in stored])
    assert fresh.frames == [frame(o, encode_event(e)) for o, e in zip(offsets, stored, strict=True)]
    assert parsed(fresh.frames) == list(zip(offsets, events_, [1] * len(stored), strict=True))
    again = Counted.of(fresh, counts)
    assert parsed(again.frames) == list(zip(offsets, events_, counts, strict=True))
    # counted once more (a redelivery of a redelivery): the count is replaced, not added
    more = [n + 1 for n in counts]
    twice = Counted.of_frames(again.offsets, frames_of(again), more)
    assert parsed(twice.frames) == list(zip(offsets, events_, more, strict=True))
    # counted back to 1 (a re-driven event's first delivery after its park): 1 again
    anew = Counted.of_frames(twice.offsets, frames_of(twice), [1] * len(stored))
    assert anew.frames == fresh.frames
    assert [len(f) for f in twice.frames] == [
        len(
            pb.EventBatch(
                deliveries=[pb.Delivery(offset=o, event=e, delivery_count=n)]
            ).SerializeToString()
        )
        for o, e, n in zip(offsets, events_, more, strict=True)
    ]


def test_a_type_longer_than_127_bytes_has_a_two_byte_length() -> None:
    long_type = "a" * 200
    field = type_field(long_type)
    assert pb.Event.FromString(field).type == long_type
    assert len(field) == 1 + 2 + 200


def test_a_wire_form_not_beginning_with_its_id_and_type_is_refused() -> None:
    wire = pb.Event(
        type="order.created", id="4b0c9bb2-63f5-4d5c-9b42-0e7c1c9e0a11"
    ).SerializeToString()
    with pytest.raises(ValueError, match="not an id field"):
        body_start(wire, type_field("order.other"))
    with pytest.raises(ValueError, match="not an id field"):
        body_start(pb.Event(type="order.created").SerializeToString(), type_field("order.created"))


@given(st.lists(st.integers(1, 300), min_size=1, max_size=30), st.integers(1, 2_000))
def test_a_batch_cut_by_bytes_keeps_order_and_each_piece_fits_or_is_one_event(
    payloads: list[int], budget: int
) -> None:
    made = [
        StoredEvent(n + 1, f"id-{n}", "a.b", b"x" * size, (), 1) for n, size in enumerate(payloads)
    ]
    batch = framed(7, [encode_event(e) for e in made])
    sizes = sizes_of(batch)
    count = fitting(batch, budget)
    assert count >= 1 and (count == 1 or sum(sizes[:count]) <= budget)
    assert count == len(batch) or sum(sizes[: count + 1]) > budget
    assert fitting(batch, budget, at_least_one=False) == (count if sizes[0] <= budget else 0)
    cut = list(pieces(batch, budget))
    assert [o for piece in cut for o in offsets_of(piece)] == list(offsets_of(batch))
    assert all(len(p) == 1 or sum(sizes_of(p)) <= budget for p in cut)
