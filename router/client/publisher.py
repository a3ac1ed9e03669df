"""Single events in, batches out: many callers publish one event each and await its own ack.

    async with client.batching_publisher(max_batch=500, linger_s=0.002) as publisher:
        ack = await publisher.publish(OutgoingEvent("order.created", b"{}"))

Events waiting when a batch goes out join it (up to ``max_batch``); a lone event waits at most
``linger_s`` for company. Up to ``in_flight`` batches are on their way at once, answered in any
order; each caller's ack (or the batch's error) reaches that caller only.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from router.client.values import Ack, OutgoingEvent


class Publisher:
    """Many callers publish single events and await their own ack; batches go out together.

    async with client.batching_publisher() as publisher:
        ack = await publisher.publish(OutgoingEvent("order.created", b"{}"))
    """

    def __init__(self, client: Any, max_batch: int, linger_s: float, in_flight: int = 8) -> None:
        self._client = client
        self._max_batch = max_batch
        self._linger_s = linger_s
        self._waiting: asyncio.Queue[tuple[OutgoingEvent, asyncio.Future[Ack]]] = asyncio.Queue()
        self._slots = asyncio.Semaphore(in_flight)
        self._runner: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Publisher:
        self._runner = asyncio.ensure_future(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._waiting.join()  # everything handed in has gone out and been answered
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner

    async def publish(self, event: OutgoingEvent) -> Ack:
        future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        await self._waiting.put((self._client.tracing.stamped(event), future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self._waiting.get()]
            deadline = asyncio.get_running_loop().time() + self._linger_s
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._waiting.get_nowait())
                except asyncio.QueueEmpty:
                    left = deadline - asyncio.get_running_loop().time()
                    if left <= 0:
                        break
                    try:
                        batch.append(await asyncio.wait_for(self._waiting.get(), left))
                    except TimeoutError:
                        break
            await self._slots.acquire()
            task = asyncio.ensure_future(self._send(batch))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[tuple[OutgoingEvent, asyncio.Future[Ack]]]) -> None:
        try:
            acks = await self._client.publish([event for event, _ in batch])
        except Exception as error:
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
        else:
            for (_, future), ack in zip(batch, acks, strict=True):
                if not future.done():
                    future.set_result(ack)
        finally:
            self._slots.release()
            for _ in batch:
                self._waiting.task_done()
