"""A router killed with SIGKILL while a publisher and a subscriber run loses nothing acked."""

from __future__ import annotations

import asyncio
import contextlib

from grpclib.exceptions import GRPCError, StreamTerminatedError

from router.client import OutgoingEvent, RouterClient
from tests.helpers.server import RouterProcess, running_router

FAILURES = (GRPCError, StreamTerminatedError, ConnectionError, OSError, asyncio.TimeoutError)


async def publish_until_it_fails(address: str, acked: set[str], enough: asyncio.Event) -> None:
    async with RouterClient(address) as client:
        with contextlib.suppress(*FAILURES):
            for round_ in range(100_000):
                batch = [
                    OutgoingEvent("order.created", f"{round_}-{i}".encode()) for i in range(50)
                ]
                for ack in await client.publish(batch, timeout=5):
                    acked.add(ack.id)
                if len(acked) >= 2_000:
                    enough.set()


async def consume_until_it_fails(
    address: str, received: list[int], acked: list[int], enough: asyncio.Event
) -> None:
    async with RouterClient(address) as client:
        with contextlib.suppress(*FAILURES):
            async with client.subscribe("orders", "crash-survivor") as subscription:
                async for batch in subscription:
                    received.extend(e.offset for e in batch)
                    if len(received) >= 500:
                        enough.set()
                    await subscription.ack(batch[-1].offset)
                    acked.append(batch[-1].offset)


def test_sigkill_loses_no_acked_event_and_the_subscriber_resumes_gap_free(
    db_url: str, tmp_path: object
) -> None:
    acked_ids: set[str] = set()
    first_session: list[int] = []
    acked_offsets: list[int] = []

    async def before_the_crash(router: RouterProcess) -> None:
        async with RouterClient(router.address) as client:
            await client.create_exchange("orders", ["order.#"])
        published, consumed = asyncio.Event(), asyncio.Event()
        publisher = asyncio.ensure_future(
            publish_until_it_fails(router.address, acked_ids, published)
        )
        consumer = asyncio.ensure_future(
            consume_until_it_fails(router.address, first_session, acked_offsets, consumed)
        )
        async with asyncio.timeout(30):
            await published.wait()
            await consumed.wait()
        router.kill()  # mid-flight: both are still running
        await asyncio.gather(publisher, consumer)

    async def after_the_restart(router: RouterProcess) -> tuple[list[str], list[int]]:
        async with RouterClient(router.address) as client:
            everything: list[str] = []
            offsets: list[int] = []
            async with client.subscribe("orders", "auditor", "earliest") as audit:
                async for batch in audit:
                    everything.extend(e.id for e in batch)
                    offsets.extend(e.offset for e in batch)
                    if batch[-1].offset >= audit.head_offset:
                        break
            resumed: list[int] = []
            async with client.subscribe("orders", "crash-survivor") as subscription:
                resumed_from = subscription.start_offset
                if resumed_from <= subscription.head_offset:
                    async for batch in subscription:
                        resumed.extend(e.offset for e in batch)
                        await subscription.ack(batch[-1].offset)
                        if batch[-1].offset >= subscription.head_offset:
                            break
            assert offsets == list(range(1, len(offsets) + 1))
            return everything, [resumed_from, *resumed]

    with running_router(db_url, str(tmp_path)) as router:
        asyncio.run(before_the_crash(router))
        router.start()
        stored, resumed = asyncio.run(after_the_restart(router))

    assert acked_ids <= set(stored), "an acknowledged event was lost"
    assert len(stored) == len(set(stored)), "an event was stored twice"
    start = first_session[0]  # a new subscriber starts at the head when it attaches
    assert first_session == list(range(start, start + len(first_session)))
    resume_point, *after = resumed
    last_acked_saved = resume_point - 1
    # The saved cursor is at most the last ack sent (coalesced saves), never beyond it...
    assert last_acked_saved <= (acked_offsets[-1] if acked_offsets else 0)
    # ...and delivery resumes right after it, through the head, with no gap.
    assert after == list(range(resume_point, len(stored) + 1))
