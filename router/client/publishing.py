"""The client's publishing calls: a batch of events with its receipts, the raw publish stream, the
stream publisher (batches of many callers on one stream), and the batching publisher for single
events.

    receipts = await client.publish([OutgoingEvent("order.created", b'{"id": 1}')])

Publishing again is safe: an event id already stored is acked as a duplicate, not stored twice;
so a publish follows the leader and the address list like any call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from grpclib.client import Stream

from router._proto.router.v1 import router_pb2 as pb
from router.client.connection import CALL_ERRORS, Calls, closed
from router.client.publisher import Publisher, StreamPublisher
from router.client.tracing import ClientTracing
from router.client.values import OutgoingEvent, PublishReceipt, receipts


class PublishCalls(Calls):
    """RouterClient's publishing calls, made on its connection, in spans of its tracing."""

    tracing: ClientTracing

    async def publish(
        self, events: Sequence[OutgoingEvent], timeout: float = 30
    ) -> list[PublishReceipt]:
        with self.tracing.publishing(events, self._metadata) as (headers, metadata):
            response = await self._connection.publisher.Publish(
                pb.PublishRequest(
                    events=[
                        pb.Event(id=e.id, type=e.type, payload=e.payload, headers=h)
                        for e, h in zip(events, headers, strict=True)
                    ]
                ),
                timeout=timeout,
                metadata=metadata,
            )
        return receipts(response)

    @asynccontextmanager
    async def publish_stream(self) -> AsyncIterator[Stream[pb.PublishRequest, pb.PublishResponse]]:
        """The raw streaming publish: send PublishRequests, receive one PublishResponse each.

        Opening follows the address list like any call. A stream that fails later (refused by
        a standby, its router gone or silent) raises as it is, and the client then points at
        the leader named, or the next address: opened again, it goes there."""
        opened, stream, _ = await self._connection.open_stream(
            "publisher", "PublishStream", lambda stream: stream.send_request()
        )
        try:
            yield stream
        except CALL_ERRORS as error:
            told = await closed(opened, error)
            self._connection.follow_leader(told)
            if told is not error:
                raise told from None  # the status the router ended the stream with
            raise
        else:
            await opened.__aexit__(None, None, None)

    @asynccontextmanager
    async def stream_publisher(self) -> AsyncIterator[StreamPublisher]:
        """Batches on one PublishStream, each caller getting its own batch's receipts or refusal
        (router.client.publisher.StreamPublisher); opened and followed to the leader as
        :meth:`publish_stream` is."""
        async with self.publish_stream() as stream:
            publisher = StreamPublisher(stream, self.tracing)
            try:
                yield publisher
            finally:
                await publisher.close()

    def batching_publisher(self, max_batch: int = 500, linger_s: float = 0.002) -> Publisher:
        """Publish single events; they go out in batches, each caller gets its own receipt."""
        return Publisher(self, max_batch, linger_s)
