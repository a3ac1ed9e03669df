"""Four consumers share one subscriber while the router is SIGKILLed ten times under load; one
of the consumers gives up on (parks) every tenth event it gets and nacks another tenth once.

Afterwards every published event is settled (the subscriber's floor is the exchange's head),
the parked list holds only events that consumer parked, each once, and nothing acked is lost."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import attrs
from grpclib.exceptions import GRPCError, StreamTerminatedError

from router._proto.router.v1 import router_pb2 as pb
from router.client import OutgoingEvent, RouterClient
from tests.helpers.polling import until
from tests.helpers.report import record
from tests.helpers.server import RouterProcess

FAILURES = (GRPCError, StreamTerminatedError, ConnectionError, OSError, asyncio.TimeoutError)
KILLS = 10
CONSUMERS = 4
SETTINGS = pb.SubscriberSettings(
    mode="shared", prefetch=50, ack_wait_s=5.0, backoff_initial_s=0.1, max_deliveries=20
)


@attrs.define
class Work:
    acked: set[str] = attrs.Factory(set)  # event ids acked to the publisher
    parked_by_faulty: set[int] = attrs.Factory(set)  # offsets the faulty consumer parked
    handled: dict[int, int] = attrs.Factory(dict)  # offset -> acks sent
    stop: asyncio.Event = attrs.Factory(asyncio.Event)


async def publish(address: str, work: Work) -> None:
    while not work.stop.is_set():
        batch = [
            OutgoingEvent("order.created", b"x" * 200, id=str(uuid.uuid4())) for _ in range(50)
        ]
        while not work.stop.is_set():  # the same ids again until acked: stored once
            with contextlib.suppress(*FAILURES):
                async with RouterClient(address) as client:
                    for ack in await client.publish(batch, timeout=5):
                        work.acked.add(ack.id)
                    break
            await asyncio.sleep(0.05)  # the router is down: retry shortly
        await asyncio.sleep(0.02)  # pacing: a steady flow


async def consume(address: str, work: Work, faulty: bool) -> None:
    while True:  # a consumer lives through the kills: DurableConsumer reconnects
        with contextlib.suppress(*FAILURES):
            async with (
                RouterClient(address) as client,
                client.consume(
                    "orders", "workers", "earliest", shared=True, settings=SETTINGS
                ) as events,
            ):
                async for event in events:
                    if faulty and event.offset % 10 == 0:
                        work.parked_by_faulty.add(event.offset)
                        await event.park("the faulty consumer gave up")
                    elif faulty and event.offset % 10 == 1 and event.delivery_count == 1:
                        await event.nack(delay=0.1)
                    else:
                        work.handled[event.offset] = work.handled.get(event.offset, 0) + 1
                        await event.ack()
        await asyncio.sleep(0.1)  # between attempts while the router is down


def test_shared_consumers_lose_nothing_and_park_only_what_failed_across_ten_kills(
    db_url: str, tmp_path: object
) -> None:
    router = RouterProcess(db_url, f"{tmp_path}/router.log").start()
    work = Work()

    async def story() -> dict[str, object]:
        async with RouterClient(router.address) as client:
            await client.create_exchange("orders", ["order.*"])
        workers = [
            asyncio.ensure_future(consume(router.address, work, faulty=index == 0))
            for index in range(CONSUMERS)
        ]
        publisher = asyncio.ensure_future(publish(router.address, work))

        async def working() -> bool:
            return len(work.handled) > 0

        for _ in range(KILLS):
            await until(working, timeout=30)
            await asyncio.sleep(1.0)  # load runs a while between kills
            router.kill()
            router.start()
        work.stop.set()
        await publisher
        async with RouterClient(router.address) as client:
            head = (await client.describe_exchange("orders")).head_offset

            async def settled() -> bool:
                (found,) = await client.list_subscribers("orders", "workers")
                return found.acked_offset == head and found.unsettled == 0

            await until(settled, timeout=120)
            (found,) = await client.list_subscribers("orders", "workers")
            parked = []
            after = 0
            while True:
                page = await client.list_parked("orders", "workers", after=after, most=1000)
                parked += [p.offset for p in page.parked]
                if len(page.parked) < 1000:
                    break
                after = parked[-1]
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        assert len(parked) == len(set(parked)) == found.parked
        assert set(parked) <= work.parked_by_faulty  # only what the faulty consumer parked
        # A park lost with a kill came again; another consumer may have acked it then.
        unhandled = set(range(1, head + 1)) - set(work.handled) - set(parked)
        assert not unhandled, sorted(unhandled)[:20]
        return {"head": head, "parked": len(parked), "acked_publishes": len(work.acked)}

    try:
        figures = asyncio.run(story())
        assert int(str(figures["head"])) >= len(work.acked)  # every acked publish is stored
    finally:
        router.stop()
    record(f"shared consumers across {KILLS} kills", store=db_url.split(":")[0], **figures)
