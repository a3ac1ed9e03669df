"""A publish request checked a field at a time across the batch (the fast path of
``convert.new_events``) gives what checking each event on its own gives: the same events, or the
same error naming the same field."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from router._proto.router.v1 import router_pb2 as pb
from router.core import validation
from router.core.errors import InvalidArgument
from router.core.model import NewEvent
from router.core.settings import Settings
from router.grpc import convert

SETTINGS = Settings(max_payload_bytes=64)
_canonical = st.uuids().map(str)
_ids = st.one_of(  # mostly canonical, so that whole batches of them come up often
    *[_canonical] * 8,
    st.uuids().map(lambda u: str(u).upper()),  # accepted, made canonical
    st.uuids().map(lambda u: u.hex),  # accepted, made canonical
    st.sampled_from(["not-a-uuid", str(uuid.UUID(int=7)) + "\n" + str(uuid.UUID(int=8))]),
)
_good_types = st.sampled_from(["order.created", "order.paid", "user.x"])
_types = st.one_of(*[_good_types] * 8, st.sampled_from(["", "bad type", "a..b"]))
_events = st.builds(
    pb.Event,
    id=_ids,
    type=_types,
    payload=st.one_of(st.binary(max_size=64), st.binary(min_size=60, max_size=70)),
    headers=st.one_of(
        st.just({}), st.just({}), st.dictionaries(st.sampled_from("kv"), st.just("1"))
    ),
)


def one_by_one(request: pb.PublishRequest) -> list[NewEvent] | str:
    try:
        return [
            validation.event(i, e.id, e.type, e.payload, dict(e.headers), SETTINGS)
            for i, e in enumerate(request.events)
        ]
    except InvalidArgument as error:
        return str(error)


def batched(request: pb.PublishRequest) -> list[NewEvent] | str:
    try:
        return convert.new_events(request, SETTINGS)
    except InvalidArgument as error:
        return str(error)


@settings(max_examples=500)
@given(st.lists(_events, min_size=1, max_size=4), st.booleans())
def test_a_batch_checked_at_once_is_checked_as_each_event_alone(
    events: list[pb.Event], types_seen: bool
) -> None:
    request = pb.PublishRequest(events=events)
    if types_seen:  # the fast path only takes types found valid before
        one_by_one(pb.PublishRequest(events=[pb.Event(type=e.type) for e in events]))
    assert batched(request) == one_by_one(request)


def test_the_usual_batch_takes_the_fast_path() -> None:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    validation.event(0, ids[0], "order.created", b"", {}, SETTINGS)
    events = validation.plain_events(ids, ["order.created"] * 3, [b"x" * 64] * 3, SETTINGS)
    assert events == [NewEvent(i, "order.created", b"x" * 64) for i in ids]
    assert validation.plain_events(ids, ["order.created"] * 3, [b"x" * 65], SETTINGS) is None
    assert validation.plain_events([ids[0].upper()], ["order.created"], [b""], SETTINGS) is None
