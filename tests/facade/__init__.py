"""The Router's parts (router/facade/), each driven through a router on SQLite."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from router.app import Router, open_router
from router.core.model import StartKind, StartPoint
from router.core.settings import Settings
from tests.helpers.stories import events

EARLIEST = StartPoint(StartKind.EARLIEST)


def opened(url: str, **changes: object) -> AbstractAsyncContextManager[Router]:
    """A router on ``url`` with these settings changed (cursors flushed at once)."""
    return open_router(Settings(db_url=url, cursor_flush_interval_s=0.01, **changes))  # type: ignore[arg-type]


async def orders(router: Router, count: int) -> None:
    """The exchange ``orders`` (types ``order.*``), with ``count`` orders published to it."""
    await router.create_exchange("orders", ["order.*"])
    if count:
        await router.publish(events(count))
