"""Waiting, from asyncio tests, for a condition the router exposes only as state (no event)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 10) -> None:
    """Poll ``check`` every 20 ms until it holds; fail after ``timeout`` seconds."""
    for _ in range(int(timeout / 0.02) + 1):
        if await check():
            return
        await asyncio.sleep(0.02)  # a poll under a deadline: the condition has no event
    raise AssertionError(f"condition not met within {timeout}s: {check}")
