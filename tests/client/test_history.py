"""The client's reads of the stored log alone, on a router in memory: pages and their gaps,
the committed log as a feed, trimming, re-emits."""

from __future__ import annotations

import asyncio

import pytest

from router._proto.router.v1 import router_pb2 as pb
from router.client.history import HistoryCalls, trim_request
from router.client.values import start_point
from tests.helpers.fake_routers import FakeConnection, FakeOpened, FakeStream, FakeStub


class History(HistoryCalls):
    def __init__(self, connection: FakeConnection) -> None:
        self._connection = connection


def history(**stubs: FakeStub) -> History:
    return History(FakeConnection("a:1", {"a:1": dict(stubs)}))


def stored(*offsets: int) -> pb.EventBatch:
    return pb.EventBatch(
        deliveries=[pb.Delivery(offset=o, event=pb.Event(id=f"e{o}", type="t")) for o in offsets]
    )


def test_a_page_of_stored_events_with_its_head_and_where_the_next_begins() -> None:
    page = pb.ReadResponse(batch=stored(4, 5), head_offset=9, next_offset=6)
    subscriber = FakeStub(Read=page)
    events, head, after = asyncio.run(history(subscriber=subscriber).read("orders", "offset:4", 2))
    assert [e.offset for e in events] == [4, 5] and (head, after) == (9, 6)
    assert subscriber.requests("Read") == [
        pb.ReadRequest(exchange="orders", start=start_point("offset:4"), max=2)
    ]


def test_a_page_past_the_horizon_tells_on_gap_what_was_removed() -> None:
    gap = pb.Gap(from_offset=1, to_offset=3, reason="retention")
    page = pb.ReadResponse(batch=stored(4), head_offset=4, next_offset=5, gap=gap)
    told: list[pb.Gap] = []
    calls = history(subscriber=FakeStub(Read=page))
    asyncio.run(calls.read("orders", "earliest", on_gap=told.append))
    assert told == [gap]
    quiet: list[pb.Gap] = []
    calls = history(subscriber=FakeStub(Read=pb.ReadResponse(batch=stored(1))))
    asyncio.run(calls.read("orders", on_gap=quiet.append))
    assert quiet == []


def test_the_committed_log_is_followed_from_the_seq_given() -> None:
    commits = [pb.FollowResponse(), pb.FollowResponse()]
    stream = FakeStream(answers=list(commits))
    log = FakeStub()
    log.streams["Follow"] = [FakeOpened(stream)]

    async def story() -> list[pb.FollowResponse]:
        return [response async for response in history(log=log).follow(after_seq=7, max_batch=3)]

    assert asyncio.run(story()) == commits
    assert stream.sent == [pb.FollowRequest(after_seq=7, max_batch=3)] and stream.ended


def test_a_trim_step_is_before_a_seq_or_a_time() -> None:
    assert trim_request("seq:42", True, 10) == pb.TrimLogRequest(
        before_seq=42, dry_run=True, max=10
    )
    at = trim_request("time:2026-11-01T00:00:00Z", False, 0)
    assert at.before_time_us == start_point("time:2026-11-01T00:00:00Z").time_us > 0
    for wrong in ("seq:x", "offset:3", "42"):
        with pytest.raises(ValueError, match="seq:N or time:ISO-8601"):
            trim_request(wrong, False, 0)


def test_trim_log_sends_its_step_to_the_admin_service() -> None:
    admin = FakeStub(TrimLog=pb.TrimLogResponse(removed=5))
    assert asyncio.run(history(admin=admin).trim_log("seq:6", most=5)).removed == 5
    assert admin.requests("TrimLog") == [trim_request("seq:6", False, 5)]


def test_a_reemit_resumes_unless_given_a_start_and_reports_its_progress() -> None:
    steps = [pb.ReemitProgress(confirmed=1), pb.ReemitProgress(confirmed=2)]
    admin = FakeStub()
    streams = [FakeStream(answers=list(steps)), FakeStream()]
    admin.streams["Reemit"] = [FakeOpened(stream) for stream in streams]
    calls = history(admin=admin)

    async def story(start: str | None) -> list[pb.ReemitProgress]:
        return [step async for step in calls.reemit("orders", "amqp-orders", start, most=9)]

    assert asyncio.run(story(None)) == steps
    assert asyncio.run(story("earliest")) == []
    resumed, started = (stream.sent[0] for stream in streams)
    assert not resumed.HasField("start") and resumed.max == 9
    assert started.start == start_point("earliest") and started.amqp_exchange == "amqp-orders"
