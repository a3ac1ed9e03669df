"""The AMQP bridge, outbound: stored events of an exchange re-emitted into a RabbitMQ exchange.

The position is a durable subscriber of the router's own (``reemit.<amqp exchange>`` unless
named): each batch is published with publisher confirms, in offset order, and only once RabbitMQ
confirmed all of it is the subscriber acked past it. An interrupted re-emit (Ctrl-C, a lost
connection, a router restart) starts again from that cursor, so what RabbitMQ gets twice is at
most the batch that was unconfirmed when it stopped; message_id is the event id, so consumers can
drop those repeats.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

import aiormq
import attrs
import trio
from pamqp.commands import Basic

from router.app import Router, redact
from router.core import validation
from router.core.errors import InvalidArgument, PermissionDenied, Unavailable
from router.core.model import Delivery, Role, StartKind, StartPoint, UserRecord

log = logging.getLogger("router.amqp")
CONNECT_TIMEOUT_S = 10.0  # a broker that has not answered by then is unreachable


@attrs.frozen
class Progress:
    confirmed: int
    last_offset: int
    until_offset: int
    done: bool = False


def broker(router: Router, user: UserRecord | None, amqp_url: str) -> str:
    """The broker a re-emit by ``user`` (None: auth is off) goes to: the one the router was
    started with (``--amqp-url``) unless another is named, which only an admin may do (a
    router that connects where it is told is a port scanner and a password oracle)."""
    configured = router.settings.amqp.url if router.settings.amqp else ""
    if amqp_url and amqp_url != configured and user is not None and user.role is not Role.ADMIN:
        raise PermissionDenied(
            f"amqp_url: user {user.name!r} may re-emit only to the broker this router was"
            " started with (leave amqp_url empty); another broker is the admin role's"
        )
    url = amqp_url or configured
    if not url:
        raise InvalidArgument("amqp_url: required (this router has no --amqp-url)")
    return url


def permit_target(router: Router, user: UserRecord | None, url: str, amqp_exchange: str) -> None:
    """Refuse a re-emit into ``amqp_exchange`` of the broker at ``url`` by ``user`` (None: auth
    is off): never into the router's own ingest exchange on its broker (a loop: the router
    would ingest what it re-emits), and for a user other than an admin only into the exchanges
    the operator listed (``--reemit-exchanges``), since the router publishes with its own
    broker credentials."""
    if not amqp_exchange:
        raise InvalidArgument("amqp_exchange: required")
    ingest = router.settings.amqp
    if ingest is not None and url == ingest.url and amqp_exchange == ingest.exchange:
        raise InvalidArgument(
            f"amqp_exchange: {amqp_exchange!r} is this router's own ingest exchange"
            " (--amqp-exchange); re-emitting into it would feed the router its own events"
        )
    if user is None or user.role is Role.ADMIN:
        return
    allowed = router.settings.reemit_exchanges
    if amqp_exchange not in allowed:
        listed = ", ".join(allowed)
        raise PermissionDenied(
            f"amqp_exchange: user {user.name!r} may not re-emit into {amqp_exchange!r}: "
            + (
                f"the operator allows only {listed} (--reemit-exchanges)"
                if allowed
                else "the operator allows none for users other than admins (--reemit-exchanges)"
            )
        )


async def reemit(
    router: Router,
    exchange: str,
    start: StartPoint | None,
    subscriber: str,
    amqp_url: str,
    amqp_exchange: str,
    most: int,
    report: Callable[[Progress], Awaitable[None]],
    user: UserRecord | None = None,
) -> Progress:
    """Publish from ``start`` (None: the subscriber's cursor, or earliest for a new one) to the
    head as it stands now (or ``most`` events); ``report`` after each confirmed batch. The
    broker is :func:`broker`'s choice for ``user``."""
    amqp_url = broker(router, user, amqp_url)
    permit_target(router, user, amqp_url, amqp_exchange)
    if most < 0:
        raise InvalidArgument(f"max: {most} is negative")
    name = validation.name(subscriber or f"reemit.{amqp_exchange}", "subscriber")
    if start is None:
        known = router.list_subscribers(exchange, name)
        start = StartPoint(StartKind.STORED if known else StartKind.EARLIEST)
    subscription = await router.subscribe(exchange, name, start, 0, f"re-emit to {amqp_exchange}")
    try:
        first, until = subscription.start_offset, subscription.head
        if most:
            until = min(until, first + most - 1)
        progress = Progress(0, first - 1, until, done=first > until)
        if progress.done:
            return progress
        call = router.asyncio_thread().call
        connection = await call(_connect, amqp_url)
        try:
            channel = await call(_confirming_channel, connection, amqp_exchange)
            while not progress.done:
                batch = await subscription.next_batch()
                if batch is None:
                    raise Unavailable(
                        str(subscription.end_reason() or "subscriber: the re-emit was stopped")
                    )
                wanted = [d for d in batch if d.offset <= until]
                if not wanted:
                    break
                await call(_publish_confirmed, channel, amqp_exchange, exchange, wanted)
                await subscription.ack(wanted[-1].offset)
                last = wanted[-1].offset
                progress = Progress(progress.confirmed + len(wanted), last, until, last >= until)
                await report(progress)
        except (aiormq.exceptions.AMQPError, OSError) as error:
            log.warning("re-emit into %s stopped: %r", amqp_exchange, error)
            raise Unavailable(
                "amqp: the broker refused or lost the re-emit; the router's log has the cause"
            ) from None
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(2):
                await call(connection.close)
        return progress
    finally:
        await subscription.close()


async def _connect(url: str) -> aiormq.abc.AbstractConnection:
    """A connection to the broker at ``url`` (on the loop). Every failure, a refused or
    filtered port, a host that is not a broker, refused credentials, reads the same to the
    caller (the cause goes to the router's log), so that re-emit tells nothing of a host's
    ports or a broker's passwords."""
    try:
        return await asyncio.wait_for(aiormq.connect(url), CONNECT_TIMEOUT_S)
    except (aiormq.exceptions.AMQPError, OSError, TimeoutError, ValueError) as error:
        log.warning("re-emit: cannot connect url=%s: %r", redact(url), error)
        raise Unavailable("amqp_url: cannot connect to the broker") from None


async def _confirming_channel(
    connection: aiormq.abc.AbstractConnection, exchange: str
) -> aiormq.abc.AbstractChannel:
    channel = await connection.channel(publisher_confirms=True)
    await channel.exchange_declare(exchange, exchange_type="topic", durable=True)
    return channel


async def _publish_confirmed(
    channel: aiormq.abc.AbstractChannel, target: str, source: str, batch: Sequence[Delivery]
) -> None:
    """Publish the batch pipelined and wait for every confirm (runs on asyncio, once per batch)."""
    confirmations = [
        channel.basic_publish(
            d.event.payload,
            exchange=target,
            routing_key=d.event.type,
            properties=Basic.Properties(
                message_id=d.event.id,
                delivery_mode=2,
                headers={
                    **dict(d.event.headers),
                    "x-router-exchange": source,
                    "x-router-offset": d.offset,
                    "x-router-seq": d.event.seq,
                    "x-router-published-at-us": d.event.published_at,
                },
            ),
        )
        for d in batch
    ]
    for outcome in await asyncio.gather(*confirmations):
        if not isinstance(outcome, Basic.Ack):
            log.warning("re-emit into %s: a message was not confirmed: %r", target, outcome)
            raise Unavailable("amqp_exchange: RabbitMQ did not confirm a message")
