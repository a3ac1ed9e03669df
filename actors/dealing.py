"""Dealing: which consumer of a subscriber gets the next events, and how many it may take.

A consumer takes what its credit allows: its ``prefetch`` less what it holds unsettled, nothing
while its edge has not taken its outbox, and for a pull no more than its budgets (events and
bytes) still take. A shared subscriber deals round-robin among the consumers with credit, or,
``pinned``, by a key header: a key's events go to the consumer that holds its earlier ones, else
to the key's slot among the consumers, so per-key order holds. Fresh events wait while
redeliveries are due (they go first).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence

import attrs
import trio

from actors.subscription import Consumer
from router.core.model import Delivery
from router.core.wire import fitting, part, sizes_of


class Finished(Exception):
    """Every consumer left while events were being handed out."""


@attrs.define(eq=False)
class Dealer:
    """The turn, the key pins and the credit of a subscriber's ``consumers`` (the subscriber's
    own list). ``behind`` says whether fresh events wait behind due redeliveries."""

    consumers: list[Consumer]
    behind: Callable[[bool], bool] = lambda fresh: False
    turn: int = 0
    pins: dict[str, tuple[Consumer, int]] = attrs.Factory(dict)  # key -> (holder, events held)
    key_of: dict[int, str] = attrs.Factory(dict)  # offset out -> its pinned key
    _credit: trio.Event = attrs.Factory(trio.Event)
    _waiting: bool = False  # something waits on _credit

    def credit_freed(self) -> None:
        """Some consumer may take more: wake what waits for credit (a settle calls this for
        each offset, so it costs nothing while nothing waits)."""
        if self._waiting:
            self._waiting = False
            self._credit.set()
            self._credit = trio.Event()

    async def freed(self) -> None:
        """Until :meth:`credit_freed` is next called."""
        self._waiting = True
        await self._credit.wait()

    async def next_piece(
        self, keys: Sequence[str | None] | None, at: int, count: int, fresh: bool
    ) -> tuple[Consumer, int]:
        """Who takes the events from index ``at`` of a batch of ``count`` (``keys``: their
        pinned keys, None when not pinned), and where its piece stops (waits for credit)."""
        if keys is not None and keys[at] is not None:
            consumer = await self._holder_of(keys[at] or "", fresh)
            credit = consumer.credit
            stop = at + 1
            while (
                stop < count
                and stop - at < credit
                and keys[stop] is not None
                and self.pins.get(keys[stop] or "", (consumer, 0))[0] is consumer
                and slot(keys[stop] or "", self.consumers) is consumer
            ):
                stop += 1
            return consumer, stop
        consumer = await self._next_with_credit(fresh)
        share = max(1, -(-(count - at) // len(self.consumers)))
        stop = at + min(consumer.credit, share)
        if keys is not None:  # pinned: an event without its key goes round-robin alone
            stop = at + 1
        return consumer, stop

    def pin(self, consumer: Consumer, offsets: Sequence[int], keys: Sequence[str | None]) -> None:
        """``consumer`` holds ``offsets`` now; those with a key pin it there."""
        for offset, key in zip(offsets, keys, strict=True):
            if key is not None:
                _holder, count = self.pins.get(key, (consumer, 0))
                self.pins[key] = (consumer, count + 1)
                self.key_of[offset] = key

    def unpin(self, offset: int) -> None:
        """``offset`` is no longer out: its key's pin loses one event (and goes with the last)."""
        key = self.key_of.pop(offset, None)
        if key is not None:
            holder, count = self.pins[key]
            if count <= 1:
                del self.pins[key]
            else:
                self.pins[key] = (holder, count - 1)

    async def _next_with_credit(self, fresh: bool) -> Consumer:
        while True:
            if not self.consumers:
                raise Finished
            if self.behind(fresh):
                await self.freed()
                continue
            count = len(self.consumers)
            for step in range(count):
                consumer = self.consumers[(self.turn + step) % count]
                if consumer.credit > 0:
                    self.turn = (self.turn + step + 1) % count
                    return consumer
            await self.freed()

    async def _holder_of(self, key: str, fresh: bool) -> Consumer:
        """The consumer a key's event goes to: the one holding the key's earlier events, else
        the key's slot among the consumers; waits for its credit (per-key order)."""
        while True:
            if not self.consumers:
                raise Finished
            held = self.pins.get(key)
            consumer = held[0] if held is not None else slot(key, self.consumers)
            if consumer.credit > 0 and not consumer.gone and not self.behind(fresh):
                return consumer
            await self.freed()


async def within_budget(consumer: Consumer, batch: Sequence[Delivery]) -> Sequence[Delivery]:
    """The part of ``batch`` a pull still takes, by count and by bytes (its first delivery
    whatever its size). The rest is not handed out (nor counted as delivered); once it has
    all it asked for, the pull leaves, which ends this wait."""
    if consumer.budget == 0 or consumer.bytes_budget == 0:
        await trio.sleep_forever()
    if 0 <= consumer.budget < len(batch):
        batch = part(batch, 0, consumer.budget)
    if consumer.bytes_budget >= 0:
        batch = within_bytes(consumer, batch)
        if not batch:
            await trio.sleep_forever()
    if consumer.budget >= 0:
        consumer.budget -= len(batch)
    return batch


def within_bytes(consumer: Consumer, batch: Sequence[Delivery]) -> Sequence[Delivery]:
    """The part of ``batch`` that fits in a pull's bytes still to take (its first delivery
    whatever its size), taken from them; none fitting ends its bytes."""
    count = fitting(batch, consumer.bytes_budget, at_least_one=consumer.events_out == 0)
    if count == 0:
        consumer.bytes_budget = 0
        return ()
    if count < len(batch):
        batch = part(batch, 0, count)
    consumer.bytes_budget = max(0, consumer.bytes_budget - sum(sizes_of(batch)))
    return batch


def keys_of(batch: Sequence[Delivery], header: str) -> list[str | None]:
    """Each event's pinning key: its ``header`` value, None without one."""
    return [dict(d.event.headers).get(header) for d in batch]


def slot(key: str, consumers: Sequence[Consumer]) -> Consumer:
    """The consumer a key goes to when none holds its events."""
    return consumers[zlib.crc32(key.encode()) % len(consumers)]
