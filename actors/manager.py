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
    Subscribe,
    UnbindQueue,
)
from actors.queue import QueueActor
from actors.runtime import Mailbox, Policy, ask, supervise
from actors.state import StateActor
from actors.subscriber import Subscription
from router.errors import RouterError
from router.model import QueueConfig, QueueRecord, StartPoint, SubscriberRecord
from router.settings import Settings

log = logging.getLogger("router.manager")


@attrs.define(eq=False)
class ConsumerManager:
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
                exchange, name, limit_size, start, r, consumer, settings, prefetch, most, most_bytes
            ),
        )

    async def run(
        self,
        queues: tuple[QueueRecord, ...],
        subscribers: tuple[SubscriberRecord, ...],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for record in queues:
                sleeping = {s.name: s for s in subscribers if s.queue_id == record.id}
                try:
                    await self._start_queue(record, sleeping)
                except RouterError as error:
                    log.warning("queue not restored queue=%s error=%s", record.id, error)
            log.info("restored queues=%d subscribers=%d", len(self.queues), len(subscribers))
            task_status.started()
            async for message in self.mailbox:
                if isinstance(message, Subscribe):
                    await self._subscribe(message)
                else:
                    raise TypeError(f"ConsumerManager: unexpected message {message!r}")

    async def _subscribe(self, message: Subscribe) -> None:
        config = QueueConfig(message.exchange, message.limit_size)
        queue = self.queues.get(config.key())
        if queue is None:
            try:
                record, _ = await self.dispatcher.find_exchange(message.exchange)
                queue_record = QueueRecord(config.key(), record.id, config)
                await self.state.save_queue(queue_record)
                queue = await self._start_queue(queue_record, {})
            except RouterError as error:
                message.reply.fail(error)
                return
        await queue.mailbox.send(
            Attach(
                message.name,
                message.start,
                message.reply,
                message.consumer,
                message.settings,
                message.prefetch,
                message.most,
                message.most_bytes,
            )
        )

    async def _start_queue(
        self, record: QueueRecord, sleeping: dict[str, SubscriberRecord]
    ) -> QueueActor:
        assert self._nursery is not None
        _, exchange_mailbox = await self.dispatcher.find_exchange(record.exchange_id)
        queue = QueueActor(record, self.state, self.settings, sleeping=sleeping)
        queue.head = await ask(exchange_mailbox, lambda r: BindQueue(record.id, queue.mailbox, r))
        self.queues[record.id] = queue
        await self._nursery.start(self._run_queue, queue, exchange_mailbox)
        return queue

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
            self.queues.pop(queue.record.id, None)
            try:
                exchange_mailbox.send_nowait(UnbindQueue(queue.record.id))
            except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                pass  # the exchange is gone or going
