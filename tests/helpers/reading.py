"""Reading back what a router stored, for tests that check "stored exactly once, in order"."""

from __future__ import annotations

from router.client import RouterClient


async def exchange_ids(address: str, exchange: str) -> list[str]:
    """Every event id of ``exchange``, in offset order (pages of Subscriber.Read: no cursor)."""
    ids: list[str] = []
    async with RouterClient(address) as client:
        offset = 1
        while True:
            events, _, offset = await client.read(exchange, f"offset:{offset}", 5_000)
            if not events:
                return ids
            ids.extend(e.id for e in events)
