"""The actor tree end to end, without the network: stories against both backends."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import trio

from actors.subscription import Rejected
from router.app import open_router
from router.core.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    OutOfRange,
)
from router.core.model import StartKind, StartPoint, now_us
from router.core.settings import Settings
from tests.helpers.stories import events, eventually, publish, take

EARLIEST = StartPoint(StartKind.EARLIEST)
STORED = StartPoint(StartKind.STORED)


def settings(db_url: str, **changes: object) -> Settings:
    return Settings(db_url=db_url, cursor_flush_interval_s=0.01, **changes)  # type: ignore[arg-type]


async def test_published_events_are_routed_by_pattern_with_dense_offsets(db_url: str) -> None:
    async with open_router(settings(db_url)) as router:
        await router.create_exchange("orders", ["order.*"])
        await router.create_exchange("all", ["#"])
        acks = await router.publish(events(2) + events(1, "user.created"))
        assert [a.seq for a in acks] == [1, 2, 3]
        assert [dict(a.offsets) for a in acks] == [
            {"orders": 1, "all": 1},
            {"orders": 2, "all": 2},
            {"all": 3},
        ]


async def test_a_subscriber_resumes_after_what_it_acked(db_url: str) -> None:
    async with open_router(settings(db_url)) as router:
        await router.create_exchange("orders", ["order.#"])
        await publish(router, events(5))
        subscription = await router.subscribe("orders", "billing", EARLIEST)
        got = await take(subscription, 5)
        assert [d.offset for d in got] == [1, 2, 3, 4, 5]
        await subscription.close()
        await publish(router, events(3, start=5))
        again = await router.subscribe("orders", "billing", STORED)
        assert again.start_offset == 6
        assert [d.event.payload for d in await take(again, 3)] == [b"5", b"6", b"7"]


async def test_a_subscriber_and_its_cursor_survive_a_restart(db_url: str) -> None:
    async with open_router(settings(db_url)) as router:
        await router.create_exchange("orders", ["#"])
        await publish(router, events(10))
        subscription = await router.subscribe("orders", "billing", EARLIEST)
        await take(subscription, 10, ack=False)
        await subscription.ack(4)
    async with open_router(settings(db_url)) as router:
        await publish(router, events(2, start=10))
        subscription = await router.subscribe("orders", "billing", STORED)
        got = await take(subscription, 8)
        assert [d.offset for d in got] == list(range(5, 13))


async def test_live_events_follow_replay_without_gap_or_duplicate(db_url: str) -> None:
    async with open_router(settings(db_url, replay_chunk=7)) as router:
        await router.create_exchange("orders", ["#"])
        await publish(router, events(50))
        subscription = await router.subscribe("orders", "billing", EARLIEST, limit_size=5)

        async def keep_publishing() -> None:
            for round_ in range(20):
                await publish(router, events(5, start=50 + round_ * 5))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(keep_publishing)
            got = await take(subscription, 150)
        assert [d.offset for d in got] == list(range(1, 151))


async def test_a_slow_consumer_falls_back_to_storage_and_loses_nothing(db_url: str) -> None:
    async with open_router(settings(db_url)) as router:
        await router.create_exchange("orders", ["#"])
        subscription = await router.subscribe("orders", "slow", STORED, limit_size=3)
        for round_ in range(40):  # far more batches than its inbox and ring hold
            await publish(router, events(10, start=round_ * 10))
        got = await take(subscription, 400)
        assert [d.offset for d in got] == list(range(1, 401))
        assert [int(d.event.payload) for d in got] == list(range(400))


async def test_a_second_consumer_for_one_subscriber_is_refused(db_url: str) -> None:
    async with open_router(settings(db_url)) as router:
        await router.create_exchange("orders", ["#"])
        first = await router.subscribe("orders", "billing", STORED)
        with pytest.raises(FailedPrecondition, match="billing"):
            await router.subscribe("orders", "billing", STORED)
        await first.close()
        await eventually(lambda: _can_subscribe(router))


async def _can_subscribe(router) -> bool:  # type: ignore[no-untyped-def]
    try:
        subscription = await router.subscribe("orders", "billing", STORED)
    except FailedPrecondition:
        return False
    await subscription.close()
    return True


async def test_history_from_before_the_exchange_is_reachable_by_time(db_url: str) -> None:
    async with open_router(settings(db_url)) as router:
        before = now_us()
        await publish(router, events(3, "order.created"))
        await publish(router, events(2, "user.created"))
        await router.create_exchange("orders", ["order.*"])
        await publish(router, events(1, "order.paid", start=3))
        subscription = await router.subscribe("orders", "audit", StartPoint(StartKind.TIME, before))
        got = await take(subscription, 4)
        assert [d.event.payload for d in got] == [b"0", b"1", b"2", b"3"]
        late = await router.subscribe("orders", "late", StartPoint(StartKind.TIME, now_us()))
        assert late.start_offset == 5


async def test_start_points_outside_the_exchange_are_refused(db_url: str) -> None:
    async with open_router(settings(db_url)) as router:
        await router.create_exchange("orders", ["#"])
        await publish(router, events(3))
        with pytest.raises(OutOfRange, match="start.offset"):
            await router.subscribe("orders", "x", StartPoint(StartKind.OFFSET, 5))
        with pytest.raises(OutOfRange):
            await router.subscribe("orders", "x", StartPoint(StartKind.OFFSET, 0))
        subscription = await router.subscribe("orders", "x", StartPoint(StartKind.OFFSET, 4))
        assert subscription.start_offset == 4


async def test_bad_requests_change_nothing(db_url: str) -> None:
    async with open_router(settings(db_url)) as router:
        await router.create_exchange("orders", ["#"])
        with pytest.raises(AlreadyExists, match="orders"):
            await router.create_exchange("orders", ["x"])
        with pytest.raises(InvalidArgument, match=r"patterns\[0\]"):
            await router.create_exchange("bad", ["a..b"])
        with pytest.raises(InvalidArgument, match="events"):
            await router.publish([])
        with pytest.raises(NotFound, match="nope"):
            await router.subscribe("nope", "x", STORED)
        with pytest.raises(NotFound, match="nope"):
            await router.delete_exchange("nope")
        assert [e.name for e in await router.list_exchanges()] == ["orders"]


async def test_a_silent_consumer_is_put_to_sleep(db_url: str) -> None:
    async with open_router(settings(db_url, consumer_timeout_s=0.2)) as router:
        await router.create_exchange("orders", ["#"])
        subscription = await router.subscribe("orders", "quiet", STORED)
        assert await subscription.next_batch() is None
        assert "no ack or heartbeat" in str(subscription.end_reason())
        again = await router.subscribe("orders", "quiet", STORED)
        await again.close()


async def test_deleting_an_exchange_ends_its_subscribers(db_url: str) -> None:
    async with open_router(settings(db_url)) as router:
        await router.create_exchange("orders", ["#"])
        subscription = await router.subscribe("orders", "billing", STORED)
        await router.delete_exchange("orders")
        assert await subscription.next_batch() is None
        assert isinstance(subscription.end_reason(), NotFound)
        await router.create_exchange("orders", ["#"])
        await publish(router, events(1))
        fresh = await router.subscribe("orders", "billing", STORED)
        assert fresh.start_offset == 2  # a new subscriber starts at the head, as new ones do


def saved_cursor(path: Path, name: str) -> int | None:
    """The cursor as the live SQLite file holds it (a second reader; WAL allows it)."""
    with sqlite3.connect(path) as connection:
        row = connection.execute("SELECT acked FROM subscribers WHERE name = ?", (name,)).fetchone()
    connection.close()
    return None if row is None else int(row[0])


async def test_a_crash_keeps_the_cursor_flushed_before_it(tmp_path: Path) -> None:
    """A snapshot of the SQLite file taken while the router runs is what a SIGKILL would leave."""
    live, crashed = tmp_path / "live.db", tmp_path / "crashed.db"
    async with open_router(settings(f"sqlite:///{live}")) as router:
        await router.create_exchange("orders", ["#"])
        await publish(router, events(10))
        subscription = await router.subscribe("orders", "billing", EARLIEST)
        await take(subscription, 10, ack=False)
        await subscription.ack(4)
        await eventually(lambda: saved_cursor(live, "billing") == 4)  # the coalesced flush
        with sqlite3.connect(live) as source, sqlite3.connect(crashed) as copy:
            source.backup(copy)
        source.close()
        copy.close()
    async with open_router(settings(f"sqlite:///{crashed}")) as router:
        subscription = await router.subscribe("orders", "billing", STORED)
        assert subscription.start_offset == 5
        assert [d.offset for d in await take(subscription, 6)] == list(range(5, 11))


async def test_an_exchange_made_while_publishes_are_in_flight_gets_every_match_once(
    db_url: str,
) -> None:
    """Many publishes on their way at once (the Dispatcher keeps several appends in flight)
    while an exchange is created: every event is stored once with a dense seq, and the new
    exchange holds each matching event once, in seq order, whether it was committed before the
    exchange (its history) or after."""
    async with open_router(settings(db_url)) as router:
        await router.create_exchange("all", ["#"])
        acked: list[int] = []

        async def publisher(n: int) -> None:
            for round_ in range(10):
                batch = events(7, "order.created" if n % 2 else "user.x", start=100 * n + round_)
                acked.extend(a.seq for a in await router.publish(batch))

        async with trio.open_nursery() as nursery:
            for n in range(12):
                nursery.start_soon(publisher, n)
            await eventually(lambda: len(acked) >= 200)
            await router.create_exchange("orders", ["order.#"])
        assert sorted(acked) == list(range(1, 841))
        every = await take(await router.subscribe("all", "reader", EARLIEST), 840)
        assert [d.offset for d in every] == [d.event.seq for d in every] == list(range(1, 841))
        matching = [d.event.seq for d in every if d.event.type == "order.created"]
        orders = await take(await router.subscribe("orders", "reader", EARLIEST), len(matching))
        assert [d.offset for d in orders] == list(range(1, len(matching) + 1))
        assert [d.event.seq for d in orders] == matching


async def test_acks_posted_past_a_full_control_channel_keep_the_highest(db_url: str) -> None:
    """A gRPC stream posts its consumer's acks without waiting; a burst longer than the control
    channel still leaves the cursor at the highest ack, and an ack of more than was delivered
    is still heard: refused with a notice, and the subscription goes on."""
    async with open_router(settings(db_url)) as router:
        await router.create_exchange("orders", ["#"])
        await publish(router, events(200))
        subscription = await router.subscribe("orders", "billing", EARLIEST)
        await take(subscription, 200, ack=False)
        for offset in range(1, 201):  # in one go: the subscriber reads none before the last
            subscription.post_ack(offset)
        assert subscription.late_ack == 200
        await subscription.close()
        again = await router.subscribe("orders", "billing", STORED)
        assert again.start_offset == 201
        await publish(router, events(1, start=200))
        await take(again, 1, ack=False)
        for _ in range(100):
            again.post_ack(201)
        again.post_ack(202)  # never delivered, and late: heard all the same
        with trio.fail_after(10):
            notice = await again.next_item()
        assert isinstance(notice, Rejected) and notice.offset == 202
        assert notice.code == "never_delivered" and again.end_reason() is None
        await publish(router, events(1, start=201))
        assert [d.offset for d in await take(again, 1, ack=False)] == [202]
        await again.ack(202)
        await again.close()
        assert (await router.subscribe("orders", "billing", STORED)).start_offset == 203


async def test_a_parked_list_poll_and_follower_wake_when_an_event_is_parked(db_url: str) -> None:
    async with open_router(settings(db_url)) as router:
        await router.create_exchange("orders", ["#"])
        await publish(router, events(3))
        _, pulled, _ = await router.pull("orders", "billing", EARLIEST, 3, 0.0)
        assert [d.offset for d in pulled] == [1, 2, 3]
        await router.settle_sleeping("orders", "billing", [], [], [(1, "first")])
        (queue,) = router.manager.queues.values()
        polled: list[list[int]] = []
        followed: list[list[int]] = []

        async def poll() -> None:
            page, _ = await router.list_parked(
                "orders", "billing", after=1, most=1000, limit_size=0, wait_s=30
            )
            polled.append([p.offset for p, _ in page])

        async def follow() -> None:
            async for page, _ in router.follow_parked("orders", "billing"):
                followed.append([p.offset for p, _ in page])
                if len(followed) == 2:
                    return

        with trio.fail_after(20):  # a wake-up that never comes fails here, not by hanging
            async with trio.open_nursery() as nursery:
                nursery.start_soon(poll)
                nursery.start_soon(follow)
                # Both wait on the subscriber's parked signal (the list had nothing new).
                await eventually(
                    lambda: (
                        queue.parked_signal("billing").statistics().tasks_waiting == 2
                        and followed == [[1]]
                    )
                )
                assert polled == []
                await router.settle_sleeping("orders", "billing", [], [], [(3, "second")])
        assert polled == [[3]] and followed == [[1], [3]]


async def test_the_audit_trail_keeps_entries_in_order_and_bounds_their_detail(db_url: str) -> None:
    async with open_router(settings(db_url)) as router:
        await router.audit.record("ops", "exchange.create", "orders", "10.0.0.7", '{"a": 1}')
        await router.audit.record("", "parked.redrive", "orders/b", "10.0.0.8", "x" * 10_000)
        first, second = await router.audit.entries(0, 10)
        assert (first.user, first.action, first.target, first.source, first.detail) == (
            "ops",
            "exchange.create",
            "orders",
            "10.0.0.7",
            '{"a": 1}',
        )
        assert second.user == "-"  # auth off
        assert second.detail.startswith("x" * 4_096) and second.detail.endswith(
            "(10,000 characters)"
        )
        assert [e.action for e in await router.audit.entries(second.at, 10)] == ["parked.redrive"]
        assert len(await router.audit.entries(0, 1)) == 1
        router.audit.failed("10.0.0.9", "authorization: unknown, expired or revoked token")
        router.audit.failed("10.0.0.9", "authorization: unknown, expired or revoked token")
        assert router.stats().auth_failures == {"10.0.0.9": 2}
