"""The client's subscribing calls: one stream of a durable subscriber, and the consumer that
reconnects and resumes (router.client.consumer).

    async with client.subscribe("orders", "billing", start="earliest") as subscription:
        async for batch in subscription:
            await subscription.ack(batch[-1].offset)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from grpclib.const import Status
from grpclib.exceptions import GRPCError

from router._proto.router.v1 import router_pb2 as pb
from router.client.connection import Calls, closed
from router.client.consumer import DurableConsumer
from router.client.settings import SubscriberSettings, settings_message
from router.client.subscription import ClientSubscription
from router.client.values import start_point


class SubscribeCalls(Calls):
    """RouterClient's subscriptions, opened on its connection."""

    def consume(
        self,
        exchange: str,
        name: str,
        start: str = "stored",
        limit_size: int = 0,
        *,
        shared: bool = False,
        prefetch: int = 0,
        settings: SubscriberSettings | pb.SubscriberSettings | None = None,
    ) -> DurableConsumer:
        """Events one by one, each with ``ack()``, ``nack(delay)``, ``park(reason)`` and its
        ``delivery_count``; reconnects and resumes (see DurableConsumer), holding at most
        ``prefetch`` unsettled events (0: the subscriber's). ``shared=True``: one of several
        consumers of a shared subscriber.

        ``start`` and ``settings`` apply when this creates the subscriber; a subscriber that
        exists resumes from its saved cursor (move it with ``reset_subscriber``), and a setting
        given that differs from its stored one is refused (FAILED_PRECONDITION naming it).

        ``async with client.consume("orders", "billing") as events: async for e in events: ...``
        """
        return DurableConsumer(
            self,
            exchange,
            name,
            start,
            limit_size,
            shared=shared,
            prefetch=prefetch,
            settings=settings,
        )

    @asynccontextmanager
    async def subscribe(
        self,
        exchange: str,
        name: str,
        start: str = "stored",
        limit_size: int = 0,
        *,
        settings: SubscriberSettings | pb.SubscriberSettings | None = None,
        prefetch: int = 0,
        start_if_new: bool = True,
    ) -> AsyncIterator[ClientSubscription]:
        """One stream of a durable subscriber; ``prefetch``: this consumer's own window.

        ``start`` applies when this call creates the subscriber; one that exists resumes from
        its saved cursor. ``start_if_new=False`` makes ``start`` move an existing (sleeping)
        subscriber's cursor as well (what ``router tail --from`` does). ``settings`` apply when
        the subscriber is created; on one that exists, each setting given must equal the stored
        one, or the call is refused (FAILED_PRECONDITION naming the field).

        Attaching follows the address list and the leader named like any call; a stream that
        fails later raises (DurableConsumer reconnects)."""
        begin = pb.SubscribeStart(
            exchange=exchange,
            subscriber=name,
            queue=pb.QueueOptions(limit_size=limit_size),
            start=start_point(start),
            prefetch=prefetch,
            start_if_new=start_if_new,
        )
        wire_settings = settings_message(settings)
        if wire_settings is not None:
            begin.settings.CopyFrom(wire_settings)
        opened, stream, first = await self._connection.open_stream(
            "subscriber", "Subscribe", lambda stream: _attached(stream, begin)
        )
        subscription = ClientSubscription(stream, first.subscribed)
        try:
            yield subscription
            if not subscription.finished:
                await subscription.leave()
        except BaseException as error:
            told = await closed(opened, error)
            if told is not error:
                raise told from None  # the status the router ended the stream with
            raise
        else:
            await opened.__aexit__(None, None, None)


async def _attached(stream: Any, begin: pb.SubscribeStart) -> pb.SubscribeResponse:
    """Ask to attach and wait for the router's first word: attached, or the status it ended
    the stream with (a refusal, a standby's hint), raised."""
    await stream.send_message(pb.SubscribeRequest(start=begin))
    first: pb.SubscribeResponse | None = await stream.recv_message()
    if first is None:  # ended without a word: its status says why
        await stream.recv_trailing_metadata()
        raise GRPCError(Status.UNAVAILABLE, "subscribe: the stream ended at once")
    return first
