"""A plain asyncio loop in a thread of its own, for the asyncio libraries (aiormq, grpclib);
Trio and asyncio cross to each other once per batch (docs/adr/0007 says why not trio-asyncio).

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

from router.core.errors import DeadlineExceeded, Unavailable

T = TypeVar("T")


class _Calls:
    """Calls queued for the other side's thread, run there in order. The other side is woken
    only when nothing was queued yet, so the calls one side makes in one go (a publish's ack and
    a delivery, say) cross with one wake-up: on this machine a wake-up of the other thread costs
    tens of microseconds, most of a one-event publish's cost at low rates."""

    def __init__(self, wake: Callable[[Callable[[], None]], object]) -> None:
        self._calls: collections.deque[tuple[Callable[..., object], tuple[Any, ...]]] = (
            collections.deque()
        )
        self._woken = False
        self._wake = wake

    def post(self, function: Callable[..., object], *args: Any) -> None:
        self._calls.append((function, args))
        if not self._woken:
            self._schedule()

    def _schedule(self) -> None:
        self._woken = True
        try:
            self._wake(self._run)
        except BaseException:
            self._woken = False
            raise

    def _run(self) -> None:
        # Cleared before taking: a call posted from now on either is taken below or wakes us
        # again (then finds nothing, which is harmless).
        self._woken = False
        calls = self._calls
        while calls:
            function, args = calls.popleft()
            try:
                function(*args)
            except BaseException:
                if calls and not self._woken:
                    self._schedule()
                raise


def _settler(future: asyncio.Future[Any]) -> Callable[[Any, bool], None]:
    """``settle(value, failed)``, on the loop: the first answer ends ``future``, later ones are
    dropped (an answer after a timeout, or after the caller went away)."""

    def settle(value: Any, failed: bool) -> None:
        if not future.done():
            if failed:
                future.set_exception(value)
            else:
                future.set_result(value)

    return settle


class AsyncioThread:
    """The loop and its thread; ``to_trio`` works once :func:`open_bridge` has bound a nursery."""

    _nursery: trio.Nursery | None = None
    _into_trio: _Calls | None = None

    def __init__(self) -> None:
        # A plain selector loop, made directly: trio-asyncio replaces asyncio.new_event_loop in
        # processes that use it, and refuses inside Trio.
        self.loop: asyncio.AbstractEventLoop = asyncio.SelectorEventLoop()
        self._into_loop = _Calls(self.loop.call_soon_threadsafe)
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
        nursery, into_trio = self._nursery, self._into_trio
        if nursery is None or into_trio is None:
            raise RuntimeError("the bridge is not open: use open_bridge()")
        loop, into_loop = self.loop, self._into_loop

        async def crossing(*args: Any, **kwargs: Any) -> T:
            future: asyncio.Future[T] = loop.create_future()
            scope = trio.CancelScope()
            settle = _settler(future)

            async def run() -> None:
                with scope:
                    try:
                        value = await function(*args, **kwargs)
                    except trio.Cancelled:
                        into_loop.post(settle, Unavailable("router: stopping"), True)
                        raise
                    except Exception as error:
                        into_loop.post(settle, error, True)
                        return
                    into_loop.post(settle, value, False)

            into_trio.post(nursery.start_soon, run)
            try:
                return await future
            except asyncio.CancelledError:
                with contextlib.suppress(trio.RunFinishedError):
                    into_trio.post(scope.cancel)
                raise

        return crossing

    def to_trio_soon(
        self, start: Callable[..., None], timeout: float
    ) -> Callable[..., asyncio.Future[Any]]:
        """``start(told, *args)`` (synchronous, in Trio: it begins the work and has ``told(value,
        failed)`` called in Trio when it ends), callable from code on this thread's loop: each
        call posts its start at once (so starts run in the order of the calls) and returns a
        future of the answer. No Trio task runs per call (a task and its cancel scope cost the
        Trio thread about a sixth of a one-event publish); cancelling the future leaves the work
        to finish. An answer not told within ``timeout`` seconds is DeadlineExceeded."""
        into_trio = self._into_trio
        if into_trio is None:
            raise RuntimeError("the bridge is not open: use open_bridge()")
        loop, into_loop = self.loop, self._into_loop
        late = DeadlineExceeded(f"no answer within {timeout:g}s")

        def crossing(*args: Any) -> asyncio.Future[Any]:
            future: asyncio.Future[Any] = loop.create_future()
            settle = _settler(future)

            def told(value: Any, failed: bool) -> None:
                with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                    into_loop.post(settle, value, failed)

            def begin() -> None:
                try:
                    start(told, *args)
                except Exception as error:
                    told(error, True)

            into_trio.post(begin)
            expiry = loop.call_later(timeout, settle, late, True)
            future.add_done_callback(lambda _: expiry.cancel())
            return future

        return crossing

    def in_trio(self, function: Callable[..., object], *args: Any) -> None:
        """Run a synchronous ``function(*args)`` soon in Trio (from the loop's thread), in the
        order of the other calls into Trio, without waiting for it."""
        if self._into_trio is not None:
            with contextlib.suppress(trio.RunFinishedError):
                self._into_trio.post(function, *args)

    def in_loop(self, function: Callable[..., object], *args: Any) -> None:
        """Run a synchronous ``function(*args)`` soon on the loop (from Trio), without waiting."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: the router is stopping
            self._into_loop.post(function, *args)

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
            hosted._into_trio = _Calls(trio.lowlevel.current_trio_token().run_sync_soon)
            yield hosted
            nursery.cancel_scope.cancel()
    finally:
        hosted._nursery = None
        hosted._into_trio = None
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


class Feed(Generic[T]):
    """Items put by one Trio task, taken by one asyncio task, at most ``depth`` waiting.

    Each side wakes the other only when the other said it waits (for an item, for room), so a
    steady flow crosses once per item at most and nothing comes back: a pull across the bridge
    (``to_trio(receive)``) costs a wake-up of Trio and a task per item besides. Each flag is
    written by its waiting side only; a wake-up that finds nothing to do is harmless, the waits
    loop.
    """

    def __init__(self, bridge: AsyncioThread, depth: int = 2) -> None:
        self._bridge = bridge
        self._depth = depth
        self._items: collections.deque[T] = collections.deque()
        self._closed = False
        self._taker_waits = False  # written on the loop
        self._ready = asyncio.Event()  # the loop's; created on any thread, bound on first wait
        self._putter_waits = False  # written in Trio
        self._room = trio.Event()

    def __len__(self) -> int:
        return len(self._items)  # put and not taken yet

    async def put(self, item: T) -> None:
        """In Trio: add ``item``, waiting while ``depth`` items are not taken yet."""
        try:
            while len(self._items) >= self._depth:
                self._room = trio.Event()
                self._putter_waits = True
                if len(self._items) < self._depth:
                    break  # taken between the check and the flag: no wake-up will come
                await self._room.wait()
        finally:
            self._putter_waits = False
        self._items.append(item)
        self._wake_taker()

    def close(self) -> None:
        """In Trio: nothing more will come; the taker gets None once it has taken the rest."""
        self._closed = True
        self._wake_taker()

    def _wake_taker(self) -> None:
        if self._taker_waits:
            self._bridge.in_loop(self._ready.set)

    def _make_room(self) -> None:
        self._room.set()  # in Trio: the putter's current wait, whichever it is

    async def get(self) -> T | None:
        """On the loop: the next item, or None once the feed is closed and empty."""
        while not self._items:
            if self._closed:
                return None
            self._ready.clear()
            self._taker_waits = True
            try:
                if self._items or self._closed:
                    continue  # put between the check and the flag: no wake-up will come
                await self._ready.wait()
            finally:
                self._taker_waits = False
        item = self._items.popleft()
        if self._putter_waits:
            self._bridge.in_trio(self._make_room)
        return item
