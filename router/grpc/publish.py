"""The ``Publisher`` service: unary and streaming publish, acked after the commit."""

from __future__ import annotations

import asyncio
from typing import Any

import trio
from grpclib import GRPCError
from grpclib.const import Status
from grpclib.server import Stream

from router._proto.router.v1 import router_grpc
from router._proto.router.v1 import router_pb2 as pb
from router.app import Router
from router.bridge import AsyncioThread
from router.control.quotas import QuotaExceeded
from router.core.errors import PermissionDenied, RouterError, Unauthenticated
from router.core.model import NewEvent
from router.core.settings import DEFAULT_ASK_TIMEOUT
from router.core.wire import Encoded
from router.grpc import convert
from router.grpc.metadata import authorization, caller_user
from router.grpc.status import grpc_error, statuses
from router.grpc.stopping import Handlers, Stopping, end_stopping
from router.observe.tracing import carrier_of

PIPELINE_DEPTH = 256  # publish requests of one stream in flight at once; answered in order
Pending = asyncio.Queue[asyncio.Future[Any] | Stopping | None]  # a stream's answers, in order


class PublisherService(router_grpc.PublisherBase):
    """Publishes; on shutdown it drains: calls in flight finish and get their acks, new ones are
    refused with UNAVAILABLE, and each open stream, once what it sent before is answered, ends
    with UNAVAILABLE (see :meth:`stop` and :meth:`drain`)."""

    def __init__(self, router: Router, bridge: AsyncioThread) -> None:
        self._router = router
        self._trio = bridge.to_trio
        self._publish_soon = bridge.to_trio_soon(router.publish_soon, DEFAULT_ASK_TIMEOUT)
        self._bridge = bridge
        self._in_flight = 0
        self._draining = False
        self._idle = trio.Event()
        self._streams: set[Pending] = set()
        self.handlers = Handlers()
        self._stops: set[asyncio.Task[None]] = set()

    def _begin(self) -> None:
        if self._draining:
            raise GRPCError(Status.UNAVAILABLE, "router: shutting down; publish again elsewhere")
        self._in_flight += 1

    def _end(self) -> None:
        """On the loop's thread: the Trio event is set from Trio, through the bridge."""
        self._in_flight -= 1
        if self._draining and self._in_flight == 0:
            self._bridge.in_trio(self._idle.set)

    def _carrier(self, stream: Stream[Any, Any]) -> dict[str, str] | None:
        """The call's trace context from its metadata, when the router traces."""
        if self._router.tracing is None or stream.metadata is None:
            return None
        return carrier_of(stream.metadata.items())

    async def stop(self, stopping: Stopping) -> None:
        """On the loop's thread: refuse new publishes, and queue the end of each open stream
        behind the requests it has sent (they are answered first; nothing more is read)."""
        self._draining = True
        for pending in self._streams:
            if not pending.full():
                pending.put_nowait(stopping)
                continue
            put = asyncio.ensure_future(pending.put(stopping))  # held until it is in the queue
            self._stops.add(put)
            put.add_done_callback(self._stops.discard)

    async def drain(self) -> None:
        """Wait (in Trio), once :meth:`stop` has run, until the publishes in flight have been
        answered and the streams have ended."""
        if self._in_flight:
            await self._idle.wait()

    async def Publish(self, stream: Stream[pb.PublishRequest, pb.PublishResponse]) -> None:
        request = await stream.recv_message()
        assert request is not None
        self._begin()
        try:
            with statuses():
                events = convert.new_events(request, self._router.settings)
                auth = self._router.auth
                user = caller_user(auth)
                auth.permit_types(user, _types(events))
                over = auth.charge(user, events)
                if over is None:
                    acks = await self._publish_soon(events, self._carrier(stream), user)
            if over is not None:
                await _refuse(stream, over)
                return
            await stream.send_message(encoded(convert.publish_response(acks)))
        finally:
            self._end()

    async def PublishStream(self, stream: Stream[pb.PublishRequest, pb.PublishResponse]) -> None:
        """Reads ahead up to PIPELINE_DEPTH requests so their commits can be grouped; each is
        posted to the dispatcher as it is read, so they reach it in the order they came.

        A request refused for what it holds (a field, a payload, a contract, a quota, the
        store) is answered with ``PublishResponse.refused`` and nothing of it is stored; the
        stream goes on. The token and grants are checked again for each request: a stream whose
        token is revoked or expires, or whose user loses the grant, ends at its next request
        with nothing stored, as it does for a message refused unread (over the size bound,
        compressed, not a PublishRequest). On shutdown the requests read are answered, and then
        the stream ends with UNAVAILABLE (router.grpc.stopping)."""
        pending: Pending = asyncio.Queue(PIPELINE_DEPTH)
        auth = self._router.auth
        header = authorization(stream.metadata)
        carrier = self._carrier(stream)

        async def failed(error: Exception) -> None:
            answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            answer.set_exception(error)
            await pending.put(answer)

        async def read() -> None:
            try:
                async for request in stream:
                    if self._draining:  # the stream's end is queued already (stop)
                        break
                    user = auth.caller(header)
                    try:
                        events = convert.new_events(request, self._router.settings)
                        auth.permit_types(user, _types(events))
                        over = auth.charge(user, events)
                        if over is not None:
                            raise over
                    except RouterError as error:
                        if _ends_stream(error):
                            raise
                        await failed(error)  # this request only: the stream goes on
                        continue
                    await pending.put(self._publish_soon(events, carrier, user))
            except (RouterError, GRPCError) as error:  # GRPCError: a request refused unread
                await failed(error)
                return
            await pending.put(None)

        self._begin()
        self.handlers.add_current()
        self._streams.add(pending)
        reader = asyncio.ensure_future(read())
        try:
            while (future := await pending.get()) is not None:
                if isinstance(future, Stopping):
                    await end_stopping(stream, future)
                    return
                try:
                    acks = await future
                except RouterError as error:
                    if _ends_stream(error):
                        raise grpc_error(error) from None
                    await stream.send_message(pb.PublishResponse(refused=_refusal(error)))
                else:
                    await stream.send_message(encoded(convert.publish_response(acks)))
        finally:
            self._streams.discard(pending)
            self._end()
            reader.cancel()
            while not pending.empty():
                leftover = pending.get_nowait()
                if isinstance(leftover, asyncio.Future):
                    leftover.cancel()


def _ends_stream(error: RouterError) -> bool:
    """Whether ``error`` says the caller may no longer publish (the stream ends), not that one
    request may not be stored (answered on the stream)."""
    return isinstance(error, Unauthenticated | PermissionDenied)


def _refusal(error: RouterError) -> pb.PublishRefused:
    """One stream request's refusal: the status a Publish of it would end with."""
    after = error.retry_after_s if isinstance(error, QuotaExceeded) else None
    return pb.PublishRefused(
        code=Status[error.grpc_status].value, message=str(error), retry_after_s=after or 0.0
    )


async def _refuse(stream: Stream[Any, Any], error: QuotaExceeded) -> None:
    """End the call with RESOURCE_EXHAUSTED and, when waiting helps, a ``retry-after``
    trailer (seconds): the connection stays, and a publish after that long goes through."""
    after = {} if error.retry_after_s is None else {"retry-after": f"{error.retry_after_s:.3f}"}
    await stream.send_trailing_metadata(
        status=Status.RESOURCE_EXHAUSTED, status_message=str(error), metadata=after
    )


def _types(events: list[NewEvent]) -> list[str]:
    return [e.type for e in events]


def encoded(message: Encoded) -> Any:
    """A response serialized already, typed for ``send_message``: the server's codec
    (router.grpc.server) sends its bytes as they are."""
    return message
