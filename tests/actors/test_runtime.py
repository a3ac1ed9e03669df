"""The actor runtime's small pieces, on their own."""

from __future__ import annotations

import threading

import pytest
import trio
import trio.lowlevel
import trio.testing

from actors.runtime import OwnThread


async def test_the_own_thread_runs_calls_in_order_and_a_cancelled_caller_waits_for_its_call() -> (
    None
):
    worker = OwnThread("test writer")
    began, release = threading.Event(), threading.Event()
    seen: list[str] = []

    def slow() -> str:
        began.set()
        release.wait(30)
        seen.append("slow ended")
        return "slow"

    def failing() -> None:
        raise ValueError("store: disk full")

    try:
        assert [await worker.run(lambda n=n: n * n) for n in range(5)] == [0, 1, 4, 9, 16]
        with pytest.raises(ValueError, match="disk full"):
            await worker.run(failing)
        scope = trio.CancelScope()

        async def cancel_once_running() -> None:
            await trio.to_thread.run_sync(began.wait)
            scope.cancel()  # the caller is cancelled while its call runs...
            await trio.testing.wait_all_tasks_blocked()
            seen.append("cancelled")
            release.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(cancel_once_running)
            with scope:
                seen.append(await worker.run(slow))
        # ...and waits for it to end, then has its value (the cancellation comes at its next
        # checkpoint, past the scope here)
        assert seen == ["cancelled", "slow ended", "slow"]
    finally:
        worker.close()
