"""A Trio loop in a background thread, for synchronous callers such as hypothesis state machines."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import trio
import trio_asyncio

T = TypeVar("T")


class TrioThread:
    def __init__(self) -> None:
        self._token: trio.lowlevel.TrioToken | None = None
        self._ready = threading.Event()
        self._stop: trio.Event | None = None
        self._thread = threading.Thread(target=lambda: trio.run(self._main), daemon=True)
        self._thread.start()
        self._ready.wait(10)

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._stop = trio.Event()
        async with trio_asyncio.open_loop(), trio.open_nursery() as nursery:
            self.nursery = nursery
            self._ready.set()
            await self._stop.wait()
            nursery.cancel_scope.cancel()

    def run(self, function: Callable[..., Awaitable[T]], *args: Any, timeout: float = 30) -> T:
        async def bounded() -> T:
            with trio.fail_after(timeout):
                return await function(*args)

        return trio.from_thread.run(bounded, trio_token=self._token)

    def host(self, manager: Callable[[], Any]) -> tuple[Any, Callable[[], None]]:
        """Enter the async context manager ``manager()`` in a task of its own (a nursery must be
        left by the task that entered it); return its value and a function that leaves it."""
        leave, left = trio.Event(), trio.Event()

        async def keep(task_status: trio.TaskStatus[Any]) -> None:
            try:
                async with manager() as value:
                    task_status.started(value)
                    await leave.wait()
            finally:
                left.set()

        value = self.run(self.nursery.start, keep)

        def stop() -> None:
            async def leave_and_wait() -> None:
                leave.set()
                await left.wait()

            self.run(leave_and_wait)

        return value, stop

    def close(self) -> None:
        assert self._stop is not None
        trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join(10)
