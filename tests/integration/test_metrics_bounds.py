"""/metrics stays bounded however many subscribers there are: a series per subscriber up to
--metrics-subscribers, per-exchange aggregates always (router.observe.subscriber_metrics)."""

from __future__ import annotations

import httpx

from tests.helpers.server import ADMIN_TOKEN, running_router
from tests.integration.test_metrics import samples

ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}


def add_subscribers(web: httpx.Client, first: int, last: int) -> None:
    for number in range(first, last):
        url = f"/v1/exchanges/orders/subscribers/s{number}/events?from=latest&max=1"
        assert web.get(url).status_code == 200


def test_subscriber_series_stop_at_the_configured_number_and_exchanges_keep_aggregates(
    sqlite_url: str, tmp_path: object
) -> None:
    most = 3
    extra = ("--metrics-subscribers", str(most))
    with (
        running_router(sqlite_url, str(tmp_path), *extra) as router,
        httpx.Client(base_url=router.http, headers=ADMIN) as web,
    ):
        created = web.post("/v1/exchanges", json={"name": "orders", "patterns": ["order.#"]})
        assert created.status_code < 300, created.text
        web.post("/v1/events", json={"events": [{"type": "order.created", "data": 1}]})
        add_subscribers(web, 0, most)
        within = web.get("/metrics").text
        found = samples(within)
        per_subscriber = [k for k in found if k[0] == "router_subscriber_lag"]
        assert len(per_subscriber) == most
        assert found[("router_subscriber_series_limited", ())] == 0

        add_subscribers(web, most, most + 1)
        over = samples(web.get("/metrics").text)
        assert not [k for k in over if k[0].startswith("router_subscriber_lag")]
        assert over[("router_subscriber_series_limited", ())] == 1
        orders = (("exchange", "orders"),)
        assert over[("router_exchange_subscribers", orders)] == most + 1
        assert over[("router_exchange_subscribers_lag_max", orders)] == 0
        assert over[("router_subscribers", ())] == most + 1

        add_subscribers(web, most + 1, 40)  # ten times as many: not one series more
        many = samples(web.get("/metrics").text)
        assert len(many) == len(over), sorted(set(many) - set(over))
        assert many[("router_exchange_subscribers", orders)] == 40
