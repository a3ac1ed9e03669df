"""The ExchangeActor: pushes an exchange's committed events to the queues bound to it."""

from __future__ import annotations

import attrs
import trio

from actors.messages import (
    BindQueue,
    Committed,
    ExchangeDeleted,
    ExchangeMessage,
    QueueMessage,
    UnbindQueue,
)
from actors.runtime import Mailbox
from router.core.model import ExchangeRecord


@attrs.define(eq=False)
class ExchangeActor:
    """Mailbox: ExchangeMessage; supervised by the Dispatcher with Policy.ESCALATE.

    It holds the exchange's head and its bound queues' mailboxes. Batches arrive in offset order
    from the Dispatcher and leave in that order to every queue, so a queue that bound at head H
    sees exactly the offsets after H. When cancelled (the exchange was deleted) it tells its
    queues, which end their subscribers.
    """

    record: ExchangeRecord
    head: int = 0
    queues: dict[str, Mailbox[QueueMessage]] = attrs.Factory(dict)
    mailbox: Mailbox[ExchangeMessage] = attrs.Factory(lambda: Mailbox(256))
    events_in: int = 0
    deleted: bool = False

    def __attrs_post_init__(self) -> None:
        self.head = self.record.head

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            async for message in self.mailbox:
                if isinstance(message, Committed):
                    self.head = message.deliveries[-1].offset
                    self.events_in += len(message.deliveries)
                    for queue_id, queue in list(self.queues.items()):
                        try:
                            await queue.send(message)
                        except (trio.BrokenResourceError, trio.ClosedResourceError):
                            self.queues.pop(queue_id, None)  # retired, its unbinding on the way
                elif isinstance(message, BindQueue):
                    self.queues[message.queue_id] = message.mailbox
                    message.reply.set(self.head)
                elif isinstance(message, UnbindQueue):
                    self.queues.pop(message.queue_id, None)
        finally:
            if self.deleted:
                for queue in self.queues.values():
                    try:
                        queue.send_nowait(ExchangeDeleted(self.record.name))
                    except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                        pass  # a queue that cannot hear it is already ending
