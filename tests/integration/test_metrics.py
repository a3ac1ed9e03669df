"""Prometheus /metrics (parsed with the Prometheus client's own parser) and the rate windows."""

from __future__ import annotations

import asyncio
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from router.client import OutgoingEvent, RouterClient
from tests.helpers.server import ADMIN_TOKEN, running_router

ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_are_exposed_and_rates_follow_the_traffic(db_url: str, tmp_path: object) -> None:
    async def story(router_address: str, http: str) -> None:
        async with RouterClient(router_address) as client:
            await client.create_exchange("orders", ["order.*"])
            async with client.subscribe("orders", "billing", "earliest") as subscription:
                for second in range(3):
                    await client.publish(
                        [
                            OutgoingEvent("order.created", b"%d" % (second * 10 + n))
                            for n in range(10)
                        ]
                    )
                    await asyncio.sleep(1)  # traffic spread over seconds, for the rate windows
                got = 0
                async for batch in subscription:
                    got += len(batch)
                    await subscription.ack(batch[-1].offset)
                    if got == 30:
                        break
                async with httpx.AsyncClient(base_url=http, headers=ADMIN) as web:
                    metrics = samples((await web.get("/metrics")).text)
                    stats = (await web.get("/v1/stats")).json()
        orders = (("exchange", "orders"),)
        assert metrics[("router_exchange_events_in_total", orders)] == 30
        assert metrics[("router_exchange_head_offset", orders)] == 30
        assert metrics[("router_events_committed_total", ())] == 30
        (active,) = [v for (n, _), v in metrics.items() if n == "router_subscriber_active"]
        assert active == 1
        settlement = {
            n: v
            for (n, _), v in metrics.items()
            if n
            in (
                "router_subscriber_consumers",
                "router_subscriber_parked",
                "router_subscriber_stalled",
            )
        }
        assert settlement == {
            "router_subscriber_consumers": 1,
            "router_subscriber_parked": 0,
            "router_subscriber_stalled": 0,
        }
        assert stats["rates"]["published_1m"] > 0
        assert len(stats["rates"]["exchanges"]["orders"]["history"]) >= 2

    with running_router(db_url, str(tmp_path)) as router:
        asyncio.run(story(router.address, router.http))
        assert httpx.get(f"{router.http}/metrics").status_code == 401
        started = time.monotonic()
        assert httpx.get(f"{router.http}/metrics", headers=ADMIN).status_code == 200
        assert time.monotonic() - started < 5
