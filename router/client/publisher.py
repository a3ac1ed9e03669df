"""Single events in, batches out: many callers publish one event each and await its own receipt.

    async with client.batching_publisher(max_batch=500, linger_s=0.002) as publisher:
        receipt = await publisher.publish(OutgoingEvent("order.created", b"{}"))

When nothing is on its way, an event goes out at once, with those waiting beside it (up to
``max_batch``): at a low rate a publish costs one round trip, as a plain ``publish([e])`` does.
While a batch is on its way, events gather for the next one, until it is full, ``linger_s`` has
passed, or nothing is on its way any more. Up to ``in_flight`` batches are on their way at once,
answered in any order; each caller's receipt (or the batch's error) reaches that caller only.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Sequence
from typing import Any

from grpclib.exceptions import GRPCError

from router._proto.router.v1 import router_pb2 as pb
from router.client.connection import CALL_ERRORS
from router.client.values import OutgoingEvent, PublishReceipt, receipts


class Publisher:
    """Many callers publish single events and await their own receipt; batches go out together.

    async with client.batching_publisher() as publisher:
        receipt = await publisher.publish(OutgoingEvent("order.created", b"{}"))
    """

    def __init__(self, client: Any, max_batch: int, linger_s: float, in_flight: int = 8) -> None:
        self._client = client
        self._max_batch = max_batch
        self._linger_s = linger_s
        # None: a wake-up, put when the last batch on its way was answered
        self._waiting: asyncio.Queue[
            tuple[OutgoingEvent, asyncio.Future[PublishReceipt]] | None
        ] = asyncio.Queue()
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

    async def publish(self, event: OutgoingEvent) -> PublishReceipt:
        future: asyncio.Future[PublishReceipt] = asyncio.get_running_loop().create_future()
        await self._waiting.put((self._client.tracing.stamped(event), future))
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self._waiting.get()
            if first is None:
                self._waiting.task_done()
                continue
            batch = [first]
            deadline = loop.time() + self._linger_s
            while len(batch) < self._max_batch:
                try:
                    found = self._waiting.get_nowait()
                except asyncio.QueueEmpty:
                    left = deadline - loop.time()
                    if not self._sending or left <= 0:
                        break  # nothing on its way: no reason to wait
                    try:
                        found = await asyncio.wait_for(self._waiting.get(), left)
                    except TimeoutError:
                        break
                if found is None:  # the last batch on its way was answered
                    self._waiting.task_done()
                    break
                batch.append(found)
            await self._slots.acquire()
            task = asyncio.ensure_future(self._send(batch))
            self._sending.add(task)
            task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        if not self._sending:
            self._waiting.put_nowait(None)  # wake a batch gathering for company

    async def _send(
        self, batch: list[tuple[OutgoingEvent, asyncio.Future[PublishReceipt]]]
    ) -> None:
        try:
            receipts = await self._client.publish([event for event, _ in batch])
        except Exception as error:
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
        else:
            for (_, future), receipt in zip(batch, receipts, strict=True):
                if not future.done():
                    future.set_result(receipt)
        finally:
            self._slots.release()
            for _ in batch:
                self._waiting.task_done()


class StreamPublisher:
    """Batches published on one PublishStream, each caller awaiting the receipts of its own batch.

    async with client.stream_publisher() as stream:
        receipts = await stream.publish([OutgoingEvent("order.created", b"{}")])

    Batches go out in the order ``publish`` is called and are answered in that order, several
    on their way at once (the router groups their commits). A batch the router refuses (a field,
    a payload over the limit, a contract, a quota) raises its GRPCError to its own caller only:
    the stream goes on and the batches behind it are stored. When the router ends the stream
    (the caller may no longer publish, a message over the size bound, the router stopping),
    every batch still waiting raises that status, and so does leaving the ``async with``."""

    def __init__(self, stream: Any, tracing: Any) -> None:
        self._stream = stream
        self._tracing = tracing
        self._waiting: collections.deque[asyncio.Future[list[PublishReceipt]]] = collections.deque()
        self._sending = asyncio.Lock()  # a batch's place in the queue is its place on the wire
        self._ended: BaseException | None = None
        self._reader = asyncio.ensure_future(self._read())

    async def publish(self, events: Sequence[OutgoingEvent]) -> list[PublishReceipt]:
        if self._ended is not None:
            raise self._ended
        stamped = [self._tracing.stamped(event).to_pb() for event in events]
        future: asyncio.Future[list[PublishReceipt]] = asyncio.get_running_loop().create_future()
        async with self._sending:
            self._waiting.append(future)
            try:
                await self._stream.send_message(pb.PublishRequest(events=stamped))
            except BaseException:
                if future in self._waiting:
                    self._waiting.remove(future)
                elif future.done() and not future.cancelled():
                    future.exception()  # told by the reader as well: this raise says it
                raise
        return await future

    async def _read(self) -> None:
        """Answer the waiting batches in order until the stream ends."""
        try:
            while (response := await self._stream.recv_message()) is not None:
                future = self._waiting.popleft()
                if future.done():  # its caller stopped waiting
                    continue
                try:
                    future.set_result(receipts(response))
                except GRPCError as refused:  # this batch only
                    future.set_exception(refused)
            await self._stream.recv_trailing_metadata()  # an error status raises here
        except Exception as error:
            self._ended = error
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_exception(self._ended or EOFError("the publish stream ended"))

    async def close(self) -> None:
        """End the stream once the batches on their way are answered; the status the router
        ended it with, if not OK, is raised."""
        if self._ended is None:
            with contextlib.suppress(*CALL_ERRORS):
                await self._stream.end()
        await self._reader
        if self._ended is not None:
            raise self._ended
