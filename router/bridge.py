"""A plain asyncio loop in a thread of its own, for the asyncio libraries (aiormq, grpclib);
Trio and asyncio cross to each other once per batch.

aiormq hosted on the trio-asyncio loop cost about 235 us of router CPU per consumed message (it
makes an asyncio task per delivery, and every asyncio callback is a Trio-scheduled handle there):
the bridge topped out near 4,500 messages/s. On a loop of its own the same library runs at plain
asyncio speed, and the Trio side only waits for whole batches (see docs/adr/0007).

    async with open_bridge() as bridge:
        connection = await bridge.call(aiormq.connect, url)    # any coroutine function
        handler_side = bridge.to_trio(router.publish)           # for code on the loop

``call`` runs a coroutine function on the thread's loop and waits for it from Trio; cancelling the
Trio side cancels the coroutine. ``to_trio(fn)`` is the other way: asyncio code (a gRPC handler)
awaits a Trio function, run as a task of the bridge's own nursery; cancelling the asyncio side
cancels the Trio task. :class:`Inbox` carries deliveries from loop callbacks to a Trio task in
batches, waking it at most once per batch.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Generic, TypeVar

import trio

from router.errors import Unavailable

T = TypeVar("T")


class AsyncioThread:
    """The loop and its thread; ``to_trio`` works once :func:`open_bridge` has bound a nursery."""

    _nursery: trio.Nursery | None = None
    _token: trio.lowlevel.TrioToken | None = None

    def __init__(self) -> None:
        # A plain selector loop, made directly: trio-asyncio replaces asyncio.new_event_loop in
        # processes that use it, and refuses inside Trio.
        self.loop: asyncio.AbstractEventLoop = asyncio.SelectorEventLoop()
        self._thread = threading.Thread(target=self._serve, name="asyncio-bridge", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.loop.run_forever()

    async def call(self, function: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """``await function(*args, **kwargs)`` on the thread's loop, waited for from Trio."""
        token = trio.lowlevel.current_trio_token()
        done = trio.Event()

        async def run() -> T:
            return await function(*args, **kwargs)

        future = asyncio.run_coroutine_threadsafe(run(), self.loop)

        def wake(_: object) -> None:
            try:
                token.run_sync_soon(done.set)
            except trio.RunFinishedError:
                pass  # the Trio side is gone; nobody waits for the result

        future.add_done_callback(wake)
        try:
            await done.wait()
        except BaseException:
            future.cancel()
            raise
        return future.result()

    def to_trio(self, function: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        """``function`` (a Trio async function), callable from code on this thread's loop."""
        nursery, token = self._nursery, self._token
        if nursery is None or token is None:
            raise RuntimeError("the bridge is not open: use open_bridge()")
        loop = self.loop

        async def crossing(*args: Any, **kwargs: Any) -> T:
            future: asyncio.Future[T] = loop.create_future()
            scope = trio.CancelScope()

            def settle(value: Any, failed: bool) -> None:
                if not future.done():
                    if failed:
                        future.set_exception(value)
                    else:
                        future.set_result(value)

            async def run() -> None:
                with scope:
                    try:
                        value = await function(*args, **kwargs)
                    except trio.Cancelled:
                        loop.call_soon_threadsafe(settle, Unavailable("router: stopping"), True)
                        raise
                    except Exception as error:
                        loop.call_soon_threadsafe(settle, error, True)
                        return
                    loop.call_soon_threadsafe(settle, value, False)

            token.run_sync_soon(nursery.start_soon, run)
            try:
                return await future
            except asyncio.CancelledError:
                with contextlib.suppress(trio.RunFinishedError):
                    token.run_sync_soon(scope.cancel)
                raise

        return crossing

    def in_trio(self, function: Callable[[], object]) -> None:
        """Run a synchronous ``function`` soon in Trio (from the loop's thread)."""
        if self._token is not None:
            with contextlib.suppress(trio.RunFinishedError):
                self._token.run_sync_soon(function)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self.loop.close()


@asynccontextmanager
async def open_bridge() -> AsyncIterator[AsyncioThread]:
    """The thread and its loop, with a nursery for the Trio tasks asyncio code starts. Open it
    outside the scopes a shutdown cancels first, so in-flight calls can still finish."""
    hosted = AsyncioThread()
    try:
        async with trio.open_nursery() as nursery:
            hosted._nursery = nursery
            hosted._token = trio.lowlevel.current_trio_token()
            yield hosted
            nursery.cancel_scope.cancel()
    finally:
        hosted._nursery = None
        hosted.close()


class Inbox(Generic[T]):
    """Items put from the asyncio thread, taken in batches by one Trio task."""

    def __init__(self) -> None:
        self._items: collections.deque[T] = collections.deque()
        self._token = trio.lowlevel.current_trio_token()
        self._waiting = False
        self._wake = trio.Event()

    def put(self, item: T) -> None:
        """Called on the asyncio thread (a consumer callback)."""
        self._items.append(item)
        if self._waiting:
            self._waiting = False
            try:
                self._token.run_sync_soon(self._wake.set)
            except trio.RunFinishedError:
                pass  # the router is stopping; RabbitMQ keeps what was not acknowledged

    async def take(self, most: int) -> list[T]:
        """At least one item, at most ``most``, waiting for the first."""
        while not self._items:
            self._wake = trio.Event()
            self._waiting = True
            if self._items:  # put between the check and the flag: no wake-up will come
                self._waiting = False
                break
            await self._wake.wait()
        items = self._items
        return [items.popleft() for _ in range(min(most, len(items)))]
