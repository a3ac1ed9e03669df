"""Observing (router.facade.observing): the stats snapshot, the server's info, its links, and
the retention limits in a line."""

from __future__ import annotations

import attrs
import pytest

from router.core.settings import Settings
from router.facade.observing import retention_text
from tests.facade import EARLIEST, opened, orders


@pytest.mark.parametrize(
    ("changes", "text"),
    [
        ({}, ""),
        ({"retain_until_acked": True}, ""),
        ({"retain_for_s": 3600.0}, "for 3600s"),
        ({"retain_bytes": 1000, "retain_for_s": 60.0}, "for 60s, bytes 1000"),
        ({"retain_for_s": 60.0, "retain_until_acked": True}, "for 60s, until acked"),
        (
            {"retain_bytes": 5, "retain_until_acked": True, "retain_max_for_s": 90.0},
            "bytes 5, until acked (at most 90s)",
        ),
    ],
)
def test_the_retention_limits_read_as_one_line(changes: dict[str, object], text: str) -> None:
    assert retention_text(Settings(db_url="sqlite:///x", **changes)) == text  # type: ignore[arg-type]


@attrs.define
class LinkStats:
    connected: bool = True
    received: int = 7


@attrs.define
class Link:
    stats: LinkStats = attrs.Factory(LinkStats)


async def test_stats_and_info_count_what_the_router_holds(sqlite_url: str) -> None:
    async with opened(sqlite_url) as router:
        await router.create_exchange("users", ["user.*"])
        await orders(router, 3)
        await router.pull("orders", "billing", EARLIEST, 1, 0.0)
        stats = router.stats()
        assert (stats.last_seq, stats.published) == (3, 3)
        assert [(e.name, e.head, n) for e, n in stats.exchanges] == [
            ("orders", 3, 3),
            ("users", 0, 0),
        ]
        assert [q.exchange for q in stats.queues] == ["orders"]
        assert [v.name for v in stats.subscribers] == ["billing"]
        assert router.stats(with_subscribers=False).subscribers == []
        assert stats.links == {}
        info = router.info()
        assert (info.storage, info.role, info.last_seq, info.exchanges, info.queues) == (
            "sqlite",
            "all",
            3,
            2,
            1,
        )
        assert info.started_at_us == router.started_at and info.retention == ""
        router.amqp_ingest, router.follower = Link(), Link()
        assert router.links() == {
            "amqp": {"connected": True, "received": 7},
            "upstream": {"connected": True, "received": 7},
        }
