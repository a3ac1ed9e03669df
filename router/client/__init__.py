"""A Python client for programs, on asyncio (grpclib); for Trio see :mod:`router.client.trio`.

    async with RouterClient("127.0.0.1:50051") as client:       # token: ROUTER_TOKEN or token=
        await client.create_exchange("orders", ["order.*"])
        receipts = await client.publish([OutgoingEvent("order.created", b'{"id": 1}')])
        async with client.subscribe("orders", "billing", start="earliest") as subscription:
            async for batch in subscription:       # a ReceivedBatch: a sequence of events,
                ...                                 # each built when first looked at
                await subscription.ack(batch[-1].offset)

- :class:`router.client.consumer.DurableConsumer`: one event at a time, reconnects and resumes
  from the saved cursor when the router goes away.
- :mod:`router.client.app`: ``@app.subscriber(...)`` handlers, acked when they return, with an
  in-memory test mode.
- Events removed by retention before a subscriber reached them are told, never skipped
  silently: a subscription's ``on_gap`` (default: logged; ``raise_gap`` raises
  :class:`EventsRemoved`), and ``read``'s ``on_gap``.
- Publishing: ``publish`` (one batch), ``batching_publisher`` (single events, batched),
  ``stream_publisher`` (many callers' batches on one stream, each answered to its caller).
- Admin calls (users, tokens, queues, subscribers) are methods here too.
- Runnable examples: ``docs/examples/`` (asyncio, Trio, the decorator app).

Errors arrive as ``grpclib.exceptions.GRPCError`` with the server's status and message.
"""

from router.client.client import RouterClient, client_ssl
from router.client.consumer import DurableConsumer
from router.client.publisher import Publisher, StreamPublisher
from router.client.settings import SubscriberSettings
from router.client.subscription import ClientSubscription, EventsRemoved, log_gap, raise_gap
from router.client.values import (
    OutgoingEvent,
    PublishReceipt,
    ReceivedBatch,
    ReceivedEvent,
    receipts,
    received,
    start_point,
)

__all__ = [
    "ClientSubscription",
    "DurableConsumer",
    "EventsRemoved",
    "OutgoingEvent",
    "PublishReceipt",
    "Publisher",
    "ReceivedBatch",
    "ReceivedEvent",
    "RouterClient",
    "StreamPublisher",
    "SubscriberSettings",
    "client_ssl",
    "log_gap",
    "raise_gap",
    "receipts",
    "received",
    "start_point",
]
