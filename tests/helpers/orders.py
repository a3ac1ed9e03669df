"""A router holding exchange ``orders``, and an admin's REST client for it: what the REST and
hostile-input tests start from."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from router.client import OutgoingEvent, RouterClient
from tests.helpers.server import ADMIN_TOKEN, RouterProcess, running_router

ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}


async def create_orders(address: str, pattern: str = "order.*", published: int = 0) -> None:
    """Exchange ``orders`` of ``pattern``, holding ``published`` events of type order.created."""
    async with RouterClient(address) as client:
        await client.create_exchange("orders", [pattern])
        if published:
            await client.publish([OutgoingEvent("order.created", b"{}") for _ in range(published)])


@contextmanager
def orders_router(
    db_url: str, folder: str, pattern: str = "order.*", published: int = 0
) -> Iterator[RouterProcess]:
    """A running router on ``db_url`` with exchange ``orders`` made (see create_orders)."""
    with running_router(db_url, folder) as process:
        asyncio.run(create_orders(process.address, pattern, published))
        yield process


@contextmanager
def sqlite_orders_router(
    factory: pytest.TempPathFactory, name: str, pattern: str = "order.*", published: int = 0
) -> Iterator[RouterProcess]:
    """orders_router on a SQLite file in a fresh folder called ``name``: a module's router."""
    folder = factory.mktemp(name)
    with orders_router(f"sqlite:///{folder}/{name}.db", str(folder), pattern, published) as router:
        yield router


@contextmanager
def admin_http(router: RouterProcess) -> Iterator[httpx.Client]:
    """A REST client of the router, sending the first admin's token."""
    with httpx.Client(base_url=router.http, headers=ADMIN, timeout=30) as client:
        yield client
