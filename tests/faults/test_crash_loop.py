"""Twenty SIGKILLs at random moments while 4 publishers and 8 durable subscribers (mixed start
points) run; the router is restarted each time (FAULTS_CRASH_ROUNDS to change the count: `just
test` runs 10 a store, `just faults` the 20 docs/reliability.md reports). Afterwards: every acked event is stored exactly
once, every subscriber's deliveries are gap-free and in order, and what it got twice is only what
it had not acknowledged (a resumed subscriber starts right after an ack it sent)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import random
import time
import uuid

import attrs
from grpclib.exceptions import GRPCError, StreamTerminatedError

from router.client import OutgoingEvent, RouterClient
from tests.helpers.polling import until
from tests.helpers.reading import exchange_ids
from tests.helpers.report import record, rss_mb
from tests.helpers.server import RouterProcess

FAILURES = (GRPCError, StreamTerminatedError, ConnectionError, OSError, asyncio.TimeoutError)
ROUNDS = int(os.environ.get("FAULTS_CRASH_ROUNDS", "20"))
PUBLISHERS = 4
# (exchange, start point of the first attachment); later attachments resume from "stored".
SUBSCRIBERS = [
    ("everything", "earliest"),
    ("everything", "latest"),
    ("everything", "stored"),
    ("everything", "offset:1"),
    ("orders", "earliest"),
    ("orders", "latest"),
    ("orders", "time:2000-01-01T00:00:00Z"),
    ("orders", "stored"),
]


@attrs.define
class Session:
    start: int
    offsets: list[int] = attrs.Factory(list)
    ids: list[str] = attrs.Factory(list)
    acks: list[int] = attrs.Factory(list)


@attrs.define
class Load:
    attempted: set[str] = attrs.Factory(set)
    acked: set[str] = attrs.Factory(set)
    sessions: dict[str, list[Session]] = attrs.Factory(dict)
    stop: asyncio.Event = attrs.Factory(asyncio.Event)


async def publisher(address: str, load: Load, seed: int) -> None:
    rng = random.Random(seed)
    while not load.stop.is_set():
        with contextlib.suppress(*FAILURES):
            async with RouterClient(address) as client:
                while not load.stop.is_set():
                    batch = [
                        OutgoingEvent(
                            rng.choice(("order.created", "order.paid", "user.seen")),
                            b"x" * 100,
                            id=str(uuid.UUID(int=rng.getrandbits(128))),
                        )
                        for _ in range(rng.randint(1, 40))
                    ]
                    load.attempted.update(e.id for e in batch)
                    for ack in await client.publish(batch, timeout=5):
                        load.acked.add(ack.id)
                    await asyncio.sleep(0.005)  # pacing: a steady flow, not a flood
        await asyncio.sleep(0.05)  # the router is down: retry shortly


async def subscriber(address: str, load: Load, name: str, exchange: str, start: str) -> None:
    sessions = load.sessions.setdefault(name, [])
    while not load.stop.is_set():
        with contextlib.suppress(*FAILURES):
            async with (
                RouterClient(address) as client,
                client.subscribe(exchange, name, start if not sessions else "stored") as sub,
            ):
                session = Session(sub.start_offset)
                sessions.append(session)
                async for batch in sub:
                    session.offsets.extend(e.offset for e in batch)
                    session.ids.extend(e.id for e in batch)
                    await sub.ack(batch[-1].offset)
                    session.acks.append(batch[-1].offset)
                    if load.stop.is_set():
                        break
        await asyncio.sleep(0.05)  # the router is down: retry shortly


async def drain(address: str, load: Load) -> None:
    """After the last restart: each subscriber resumes once more and reads up to the head."""
    async with RouterClient(address) as client:
        for name, (exchange, _) in zip(names(), SUBSCRIBERS, strict=True):
            async with client.subscribe(exchange, name, "stored") as sub:
                session = Session(sub.start_offset)
                load.sessions[name].append(session)
                if sub.start_offset > sub.head_offset:
                    continue
                async for batch in sub:
                    session.offsets.extend(e.offset for e in batch)
                    session.ids.extend(e.id for e in batch)
                    await sub.ack(batch[-1].offset)
                    session.acks.append(batch[-1].offset)
                    if batch[-1].offset >= sub.head_offset:
                        break


async def _more(acked: set[str], than: int) -> bool:
    return len(acked) > than


def names() -> list[str]:
    return [f"s{i}-{start.split(':')[0]}" for i, (_, start) in enumerate(SUBSCRIBERS)]


def test_sigkills_at_random_moments_lose_nothing_acked_and_keep_every_subscriber_gap_free(
    db_url: str, tmp_path: object
) -> None:
    router = RouterProcess(db_url, f"{tmp_path}/router.log").start()
    load = Load()
    recoveries: list[float] = []
    peak_rss = 0.0
    rng = random.Random(20261123)

    async def rounds() -> None:
        nonlocal peak_rss
        async with RouterClient(router.address) as client:
            await client.create_exchange("everything", ["#"])
            await client.create_exchange("orders", ["order.*"])
        tasks = [
            asyncio.ensure_future(publisher(router.address, load, seed))
            for seed in range(PUBLISHERS)
        ] + [
            asyncio.ensure_future(subscriber(router.address, load, name, exchange, start))
            for name, (exchange, start) in zip(names(), SUBSCRIBERS, strict=True)
        ]
        try:
            for _ in range(ROUNDS):
                await asyncio.sleep(rng.uniform(0.3, 1.2))  # a random moment in the load
                assert router.process is not None
                peak_rss = max(peak_rss, rss_mb(router.process.pid))
                router.kill()
                killed_at = time.monotonic()
                before = len(load.acked)
                await asyncio.to_thread(router.start)
                await until(functools.partial(_more, load.acked, before), timeout=30)
                recoveries.append(time.monotonic() - killed_at)
        finally:
            load.stop.set()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, *FAILURES):
                    await asyncio.wait_for(task, 10)

    try:
        asyncio.run(rounds())
        router.stop()
        router.start()
        asyncio.run(drain(router.address, load))
        everything = asyncio.run(exchange_ids(router.address, "everything"))
        orders = asyncio.run(exchange_ids(router.address, "orders"))
    finally:
        router.stop()

    stored = set(everything)
    assert len(everything) == len(stored), "an event was stored twice"
    assert load.acked <= stored, f"{len(load.acked - stored)} acknowledged events were lost"
    assert stored <= load.attempted
    logs = {"everything": everything, "orders": orders}
    redelivered = 0
    for name, (exchange, _) in zip(names(), SUBSCRIBERS, strict=True):
        sessions = load.sessions[name]
        sent_acks = {sessions[0].start - 1}
        reached = sessions[0].start - 1
        for session in sessions:
            # Resumed right after an ack it sent (the cursor is never ahead of its acks) and
            # never past what it had received: no gap.
            if session is not sessions[0]:
                assert session.start - 1 in sent_acks, f"{name}: resumed at an unacked point"
                assert session.start <= reached + 1, f"{name}: a gap before {session.start}"
            expected = list(range(session.start, session.start + len(session.offsets)))
            assert session.offsets == expected, f"{name}: out of order or a gap in a session"
            assert (
                session.ids == logs[exchange][session.start - 1 : expected[-1] if expected else 0]
            )
            redelivered += max(0, reached - session.start + 1)
            reached = max(reached, session.offsets[-1] if session.offsets else reached)
            sent_acks.update(session.acks)
        assert reached == len(logs[exchange]), f"{name}: did not reach the head"
    record(
        "crash loop",
        backend=db_url.split(":", 1)[0],
        rounds=ROUNDS,
        publishers=PUBLISHERS,
        subscribers=len(SUBSCRIBERS),
        published=len(load.attempted),
        acked=len(load.acked),
        stored=len(stored),
        lost=len(load.acked - stored),
        stored_twice=len(everything) - len(stored),
        # delivered again after a kill: not acked, or acked after the last cursor flush
        redelivered=redelivered,
        recovery_s_median=sorted(recoveries)[len(recoveries) // 2],
        recovery_s_max=max(recoveries),
        peak_rss_mb=round(peak_rss, 1),
    )
