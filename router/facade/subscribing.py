"""Attaching a consumer to a subscriber (created on first use, counted in its owner's quota;
attaching to another's is checked and audited), and a pull: attach, take, leave."""

from __future__ import annotations

import json
from typing import Any

import trio

from actors.messages import Gap, Rejected
from actors.subscriber import Subscription
from router.control import reach
from router.core import validation
from router.core.errors import RouterError
from router.core.model import Delivery, QueueConfig, StartPoint, UserRecord
from router.core.wire import counts_of
from router.facade.base import Parts

STORED_READ_S = 10.0  # how long a pull may take to read events that are already stored


class Subscribing(Parts):
    __slots__ = ()

    async def subscribe(
        self,
        exchange: str,
        name: str,
        start: StartPoint,
        limit_size: int = 0,
        consumer: str = "",
        settings: dict[str, Any] | None = None,
        prefetch: int = 0,
        most: int = 0,
        owner: UserRecord | None = None,
        most_bytes: int = 0,
    ) -> Subscription:
        """Attach a consumer (``consumer``: its address, shown to operators). ``settings`` are
        those of a new subscriber (router.core.delivery); ``prefetch`` this consumer's own; ``most``
        the deliveries it takes before it leaves (a pull; 0: no end), ``most_bytes`` their
        stored bytes (at least one delivery; 0: no end). A subscriber this call creates is
        counted as ``owner``'s, within its quota."""
        self._serves("subscribe", "all", "route")
        exchange = validation.name(exchange, "exchange")
        name = validation.name(name, "subscriber")
        limit_size = validation.limit_size(limit_size, self.settings)
        queue_id = QueueConfig(exchange, limit_size).key()
        exists = self.manager.exchange_of(queue_id, name) is not None
        attach = reach.Attach()  # creating one: nothing is moved, it will be the owner's
        if exists:
            attach = reach.permit_attach(self.auth, owner, exchange, name, queue_id, start)
        creator = None if exists else owner
        # Creating one: its place in the owner's quota is taken before the first await and
        # held until it is owned, so that calls arriving together are counted together.
        key = (exchange, name)
        if creator is not None:
            self.auth.take_subscriber(creator, key, self.manager.exchange_of)
        try:
            subscription = await self.manager.subscribe(
                exchange, name, limit_size, start, consumer, settings, prefetch, most, most_bytes
            )
            try:
                if creator is not None:
                    await self.auth.own(creator, subscription.queue_id, name)
                if attach.moves or attach.foreign:  # a move is audited as ResetSubscriber is
                    action = "subscriber.move" if attach.moves else "subscriber.attach"
                    who, detail = (owner.name if owner else ""), json.dumps({"start": str(start)})
                    await self.audit.record(who, action, f"{exchange}/{name}", consumer, detail)
            except RouterError:
                await subscription.close()
                raise
        finally:
            if creator is not None:
                self.auth.creating.give_back(creator.name, key)
        return subscription

    async def pull(
        self,
        exchange: str,
        name: str,
        start: StartPoint,
        most: int,
        wait_s: float,
        limit_size: int = 0,
        owner: UserRecord | None = None,
        consumer: str = "",
        most_bytes: int = 0,
    ) -> tuple[Subscription, list[Delivery], list[int]]:
        """Attach, take up to ``most`` deliveries and no more than fit in ``most_bytes`` (at
        least one; 0: no limit), leave: (the subscription, the deliveries, each one's delivery
        count). Nothing is settled here: see :meth:`ack_sleeping` and :meth:`settle_sleeping`;
        the subscriber hands out no more than that, and reads no more from storage, so what
        the caller does not get is not counted as delivered.

        Waits up to ``wait_s`` for new events when none are stored past the start; events that
        are stored already are read whatever ``wait_s`` says.
        """
        subscription = await self.subscribe(
            exchange,
            name,
            start,
            limit_size,
            consumer,
            most=most,
            owner=owner,
            most_bytes=most_bytes,
        )
        got: list[Delivery] = []
        counts: list[int] = []
        try:
            ready = subscription.ready  # stored, re-driven or due: read whatever wait_s says
            with trio.move_on_after(max(wait_s, STORED_READ_S if ready else 0.0)):
                batch = await subscription.next_batch()
                while batch:
                    got.extend(batch)
                    counts.extend(counts_of(batch))
                    if len(got) >= most:
                        break
                    try:
                        item = subscription.batches.receive_nowait()
                    except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                        break
                    if isinstance(item, Gap):
                        subscription.gaps.append(item)
                        item = ()
                    batch = () if isinstance(item, Rejected) else item
        finally:
            await subscription.close()
        return subscription, got[:most], counts[:most]
