"""The ConsumerManager: the registry of queues, keyed by the hash of their configuration.

A subscribe request finds its queue by ``QueueConfig.key()`` or creates it (saved first, then
bound to its exchange), then is handed to the queue, which attaches the subscriber. At start-up it
re-creates every saved queue with its subscribers, all sleeping.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs
import trio

from actors.dispatcher import Dispatcher
from actors.messages import (
    Attach,
    BindQueue,
    ExchangeMessage,
    ManagerMessage,
    QueueEmpty,
    Retire,
    Subscribe,
    UnbindQueue,
)
from actors.queue import QueueActor
from actors.runtime import Mailbox, Policy, ask, supervise
from actors.state import StateActor
from actors.subscriber import Subscription
from router.core.errors import ResourceExhausted, RouterError
from router.core.model import QueueConfig, QueueRecord, StartPoint, SubscriberRecord
from router.core.settings import Settings

log = logging.getLogger("router.manager")


@attrs.define(eq=False)
class ConsumerManager:
    """Mailbox: ManagerMessage; supervised by router.app with Policy.ESCALATE."""

    state: StateActor
    dispatcher: Dispatcher
    settings: Settings
    queues: dict[str, QueueActor] = attrs.Factory(dict)
    mailbox: Mailbox[ManagerMessage] = attrs.Factory(lambda: Mailbox(1024))
    _nursery: trio.Nursery | None = None

    async def subscribe(
        self,
        exchange: str,
        name: str,
        limit_size: int,
        start: StartPoint,
        consumer: str = "",
        settings: dict[str, Any] | None = None,
        prefetch: int = 0,
        most: int = 0,
        most_bytes: int = 0,
    ) -> Subscription:
        return await ask(
            self.mailbox,
            lambda r: Subscribe(
                exchange,
                limit_size,
                Attach(name, start, r, consumer, settings, prefetch, most, most_bytes),
            ),
        )

    def exchange_of(self, queue_id: str, name: str) -> str | None:
        """The exchange of the subscriber ``name`` of queue ``queue_id``; None if there is none."""
        queue = self.queues.get(queue_id)
        if queue is None or (name not in queue.sleeping and name not in queue.active):
            return None
        return queue.record.config.exchange

    async def run(
        self,
        queues: tuple[QueueRecord, ...],
        subscribers: tuple[SubscriberRecord, ...],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await self._restore(queues, subscribers)
            task_status.started()
            async for message in self.mailbox:
                if isinstance(message, Subscribe):
                    await self._subscribe(message)
                elif isinstance(message, QueueEmpty):
                    await self._retire(message.queue_id)
                else:
                    raise TypeError(f"ConsumerManager: unexpected message {message!r}")

    async def _restore(
        self, queues: tuple[QueueRecord, ...], subscribers: tuple[SubscriberRecord, ...]
    ) -> None:
        """Start the stored queues with their (sleeping) subscribers; a queue left with none
        is removed instead."""
        for record in queues:
            sleeping = {s.name: s for s in subscribers if s.queue_id == record.id}
            try:
                if not sleeping:  # left by an older version, or by a stop mid-way
                    await self._remove_stored(record.id)
                    continue
                await self._start_queue(record, sleeping)
            except RouterError as error:
                log.warning("queue not restored queue=%s error=%s", record.id, error)
        log.info("restored queues=%d subscribers=%d", len(self.queues), len(subscribers))

    async def _subscribe(self, message: Subscribe) -> None:
        config = QueueConfig(message.exchange, message.limit_size)
        queue = self.queues.get(config.key())
        if queue is None:
            try:
                self._within_bound(message.exchange)
                record, _ = await self.dispatcher.find_exchange(message.exchange)
                queue_record = QueueRecord(config.key(), record.id, config)
                await self.state.save_queue(queue_record)
                queue = await self._start_queue(queue_record, {})
            except RouterError as error:
                message.attach.reply.fail(error)
                return
        await queue.mailbox.send(message.attach)

    def _within_bound(self, exchange: str) -> None:
        """ResourceExhausted when ``exchange`` has as many queues as the settings allow."""
        most = self.settings.max_queues_per_exchange
        count = sum(1 for q in self.queues.values() if q.record.config.exchange == exchange)
        if count >= most:
            raise ResourceExhausted(
                f"queue.limit_size: exchange {exchange!r} has {count} queues (one per limit_size),"
                f" as many as --max-queues-per-exchange allows; use the limit_size of one of them"
            )

    async def _retire(self, queue_id: str) -> None:
        """Remove a queue left with no subscriber: the queue ends (with its stored row) unless
        one attached since, then it is unbound from its exchange before anything else here."""
        queue = self.queues.get(queue_id)
        if queue is None or queue.active or queue.sleeping:
            return
        try:
            retired: bool = await ask(queue.mailbox, lambda r: Retire(r))
        except RouterError as error:
            log.warning("queue not retired queue=%s error=%s", queue_id, error)
            return
        if not retired or self.queues.get(queue_id) is not queue:
            return
        del self.queues[queue_id]
        try:
            _, exchange_mailbox = await self.dispatcher.find_exchange(queue.record.exchange_id)
        except RouterError:
            return  # the exchange is gone, and its bindings with it
        await exchange_mailbox.send(UnbindQueue(queue_id))

    async def _remove_stored(self, queue_id: str) -> None:
        removed = await self.state.write(lambda storage: storage.delete_queue(queue_id))
        if removed:
            log.info("queue removed queue=%s (no subscriber left)", queue_id)

    async def _start_queue(
        self, record: QueueRecord, sleeping: dict[str, SubscriberRecord]
    ) -> QueueActor:
        assert self._nursery is not None
        _, exchange_mailbox = await self.dispatcher.find_exchange(record.exchange_id)
        queue = QueueActor(record, self.state, self.settings, sleeping=sleeping)
        queue.on_empty = lambda: self._tell_empty(record.id)
        queue.head = await ask(exchange_mailbox, lambda r: BindQueue(record.id, queue.mailbox, r))
        self.queues[record.id] = queue
        await self._nursery.start(self._run_queue, queue, exchange_mailbox)
        return queue

    def _tell_empty(self, queue_id: str) -> None:
        try:
            self.mailbox.send_nowait(QueueEmpty(queue_id))
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # kept for now; an empty queue costs little until the next chance

    async def _run_queue(
        self,
        queue: QueueActor,
        exchange_mailbox: Mailbox[ExchangeMessage],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        try:
            # Policy: a queue that fails stops the router; everything it held is in storage.
            await supervise(
                f"queue:{queue.record.id}",
                lambda: queue.run(task_status=task_status),
                Policy.ESCALATE,
            )
        finally:
            # A retired queue is unbound already, and its id may name a new queue by now.
            if self.queues.get(queue.record.id) is queue:
                del self.queues[queue.record.id]
                try:
                    exchange_mailbox.send_nowait(UnbindQueue(queue.record.id))
                except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                    pass  # the exchange is gone or going
