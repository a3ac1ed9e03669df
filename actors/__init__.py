"""The router's actors: each owns its state, reads one mailbox, and lives in a supervised nursery.

The path of a published event, hop by hop (message names from :mod:`actors.messages`):

1. An edge (gRPC ``Publisher``, REST ``POST /v1/events``, the RabbitMQ ingest, a route node's
   follower) validates the request and calls ``Router.publish`` (``router/app.py``).
2. ``Dispatcher.publish`` puts a ``Publish`` in the Dispatcher's mailbox (``dispatcher.py``).
3. The Dispatcher merges the publishes waiting there, matches each type against the exchanges'
   patterns (cached per type) and calls ``StateActor.start_append``: an ``AppendEvents`` in the
   StateActor's mailbox (``state.py``).
4. The StateActor group-commits the appends and cursor saves waiting for it (``Storage.commit``:
   the event once, a log row per matching exchange) and sets the append's reply with the
   outcomes and the new ``Delivery`` objects per exchange.
5. The Dispatcher's second task takes the replies in the order it sent them, sends each
   exchange's deliveries as ``Committed`` to that ExchangeActor (``exchange.py``), then sets the
   ``Publish`` replies: the publishers get their acks only now, after the commit.
6. The ExchangeActor moves its head and sends the ``Committed`` on to every bound QueueActor
   (``queue.py``).
7. The QueueActor keeps the deliveries in its ring buffer (``limit_size``) and offers the batch
   to each active SubscriberActor's mailbox without waiting (``subscriber.py``); a full mailbox
   misses it.
8. The SubscriberActor trims the batch at its next offset (a missed batch shows as a gap, read
   again with ``RingSlice`` from the queue or ``ReadRange`` from the StateActor's readers) and
   puts it in its ``Subscription``'s batches channel (``subscription.py``, the protocol the edges
   hold); ``replay.py`` reads what it catches up on, ``dealing.py`` picks the consumer of a
   shared one, ``redelivery.py`` sends again what ack_wait, a nack or a departure left open.
9. The consumer's edge takes the batches: the gRPC ``Subscribe`` stream through a
   ``router.bridge.Feed`` onto grpclib's asyncio thread, a REST pull directly.
10. The consumer's ``Ack`` (or ``Heartbeat``) comes back through ``Subscription.post_ack``; the
    SubscriberActor coalesces acks into ``SaveCursor`` messages to the StateActor, which folds
    them into its next commit.

A subscribe takes the other direction: ``Router.subscribe`` -> ``Subscribe`` to the
ConsumerManager (``manager.py``), which finds or creates the queue (``SaveQueue``, then
``BindQueue`` to the exchange) -> ``Attach`` to the QueueActor -> a SubscriberActor, which
resolves its start point and answers with the ``Subscription``.

Supervision (``runtime.supervise``): the StateActor, the Dispatcher, the ConsumerManager, every
ExchangeActor and QueueActor escalate (a failure stops the router; what they hold is in
storage); a SubscriberActor is isolated (its consumer's stream ends with the reason, the
subscriber sleeps with its cursor).
"""
