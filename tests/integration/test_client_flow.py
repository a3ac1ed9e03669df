"""How the client's conveniences pace their work, over a real router: a batching publisher
sends at once when nothing is on its way, and RouterApp with several handlers at once keeps
each key's order on a pinned subscriber."""

from __future__ import annotations

import asyncio
import random

from router.client import OutgoingEvent, ReceivedEvent, RouterClient, SubscriberSettings
from router.client.app import RouterApp
from tests.helpers.server import running_router


def test_a_lone_publish_leaves_at_once_not_after_the_linger(
    sqlite_url: str, tmp_path: object
) -> None:
    async def story(address: str) -> None:
        async with RouterClient(address) as client:
            await client.create_exchange("orders", ["order.*"])
            # A linger far longer than the bound below: nothing is on its way, so the event
            # goes without waiting for company.
            async with client.batching_publisher(linger_s=60) as publisher:
                ack = await asyncio.wait_for(
                    publisher.publish(OutgoingEvent("order.created", b"1")), 20
                )
                assert ack.offsets == {"orders": 1}
                # Many at once still share batches: they gather while one is on its way.
                acks = await asyncio.wait_for(
                    asyncio.gather(
                        *(publisher.publish(OutgoingEvent("order.created")) for _ in range(200))
                    ),
                    20,
                )
            assert sorted(a.seq for a in acks) == list(range(2, 202))

    with running_router(sqlite_url, str(tmp_path)) as router:
        asyncio.run(story(router.address))


def test_handlers_side_by_side_keep_each_keys_order(sqlite_url: str, tmp_path: object) -> None:
    app = RouterApp()
    pinned = SubscriberSettings(mode="shared", dispatch="pinned", key_header="account")
    seen: dict[str, list[int]] = {}
    running_now = 0
    most_at_once = 0
    done = asyncio.Event()
    rng = random.Random(7)

    @app.subscriber("orders", name="billing", start="earliest", settings=pinned, concurrency=4)
    async def bill(event: ReceivedEvent) -> None:
        nonlocal running_now, most_at_once
        running_now += 1
        most_at_once = max(most_at_once, running_now)
        await asyncio.sleep(rng.random() / 500)  # work of uneven length, so that keys overtake
        running_now -= 1
        seen.setdefault(event.headers["account"], []).append(event.offset)
        if sum(map(len, seen.values())) == 200:
            done.set()

    async def story(address: str) -> None:
        app.address = address
        async with RouterClient(address) as client:
            await client.create_exchange("orders", ["order.*"])
            await client.publish(
                [
                    OutgoingEvent("order.created", headers={"account": f"a{n % 8}"})
                    for n in range(200)
                ]
            )
            running = asyncio.ensure_future(app.run())
            try:
                await asyncio.wait_for(done.wait(), 30)
            finally:
                running.cancel()
                await asyncio.gather(running, return_exceptions=True)

    with running_router(sqlite_url, str(tmp_path)) as router:
        asyncio.run(story(router.address))
    assert sorted(seen) == [f"a{n}" for n in range(8)]
    assert all(offsets == sorted(offsets) and len(offsets) == 25 for offsets in seen.values())
    assert most_at_once > 1  # they did run side by side
