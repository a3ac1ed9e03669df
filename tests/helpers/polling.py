"""Waiting, from asyncio tests, for a condition the router exposes only as state (no event)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 10) -> None:
    """Poll ``check`` every 20 ms until it holds; fail after ``timeout`` seconds of wall time
    (however long each check takes)."""
    deadline = time.monotonic() + timeout
    while True:
        if await check():
            return
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.02)  # a poll under a deadline: the condition has no event
    raise AssertionError(f"condition not met within {timeout}s: {check}")
