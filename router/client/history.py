"""The client's reads of the stored log: pages of an exchange's events (no cursor), the
router's committed log as it grows, its trimming, and re-emits of stored events into RabbitMQ.

    events, head, after = await client.read("orders", start="earliest", most=100)

Events removed by retention before a read reached them are told to ``on_gap``, never skipped
silently.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from router._proto.router.v1 import router_pb2 as pb
from router.client.connection import Calls
from router.client.subscription import log_gap
from router.client.values import ReceivedBatch, received, start_point


class HistoryCalls(Calls):
    """RouterClient's calls on the stored log, made on its connection."""

    async def read(
        self,
        exchange: str,
        start: str = "earliest",
        most: int = 1000,
        on_gap: Callable[[pb.Gap], None] = log_gap,
    ) -> tuple[ReceivedBatch, int, int]:
        """One page of stored events (no cursor): (events, head offset, next page's offset).
        A start before the horizon reads from it, and ``on_gap`` is told what was removed."""
        response = await self._connection.subscriber.Read(
            pb.ReadRequest(exchange=exchange, start=start_point(start), max=most),
            metadata=self._metadata,
        )
        if response.HasField("gap"):
            on_gap(response.gap)
        return received(response.batch), response.head_offset, response.next_offset

    async def follow(
        self, after_seq: int = 0, max_batch: int = 0
    ) -> AsyncIterator[pb.FollowResponse]:
        """The router's committed log after ``after_seq``, then each commit as it happens (admin).

        What route nodes follow; also a change feed for programs that want every event.
        """
        async with self._connection.log.Follow.open(metadata=self._metadata) as stream:
            await stream.send_message(
                pb.FollowRequest(after_seq=after_seq, max_batch=max_batch), end=True
            )
            async for response in stream:
                yield response

    async def trim_log(
        self, before: str, dry_run: bool = False, most: int = 0
    ) -> pb.TrimLogResponse:
        """One removal step (admin): ``before`` is ``seq:N`` or ``time:ISO-8601``."""
        return await self._admin.TrimLog(
            trim_request(before, dry_run, most), metadata=self._metadata
        )

    async def reemit(
        self,
        exchange: str,
        amqp_exchange: str,
        start: str | None = None,
        *,
        subscriber: str = "",
        amqp_url: str = "",
        most: int = 0,
    ) -> AsyncIterator[pb.ReemitProgress]:
        """Have the router publish stored events into a RabbitMQ exchange (admin); progress.

        ``start`` None resumes where the last re-emit through ``subscriber`` stopped.
        """
        request = pb.ReemitRequest(
            exchange=exchange,
            subscriber=subscriber,
            amqp_url=amqp_url,
            amqp_exchange=amqp_exchange,
            max=most,
        )
        if start is not None:
            request.start.CopyFrom(start_point(start))
        async with self._admin.Reemit.open(metadata=self._metadata) as stream:
            await stream.send_message(request, end=True)
            async for progress in stream:
                yield progress


def trim_request(before: str, dry_run: bool, most: int) -> pb.TrimLogRequest:
    """The request of one trim step; ValueError for a ``before`` that is neither ``seq:N`` nor
    ``time:ISO-8601``."""
    request = pb.TrimLogRequest(dry_run=dry_run, max=most)
    kind, _, value = before.partition(":")
    if kind == "seq" and value.isdigit():
        request.before_seq = int(value)
    elif kind == "time":
        request.before_time_us = start_point(before).time_us
    else:
        raise ValueError(f"before: expected seq:N or time:ISO-8601, got {before!r}")
    return request
