"""Queues and subscribers as operators see them (read-only snapshots), and the changes made to
a subscriber through its queue actor: deleted, moved to another start, its settings changed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from actors.messages import ChangeSettings, ForgetSubscriber, MoveCursor
from actors.queue import QueueView, SubscriberView
from actors.runtime import ask
from router.core.model import StartPoint
from router.facade.base import Parts


class Subscribers(Parts):
    __slots__ = ()

    def list_queues(self, exchange: str = "") -> list[QueueView]:
        queues = self.manager.queues.values()
        return sorted(
            (q.view() for q in queues if not exchange or q.record.config.exchange == exchange),
            key=lambda v: (v.exchange, v.limit_size),
        )

    def list_subscribers(self, exchange: str = "", name: str = "") -> list[SubscriberView]:
        views: list[SubscriberView] = []
        for queue in self.manager.queues.values():
            if not exchange or queue.record.config.exchange == exchange:
                views.extend(queue.subscriber_views(name))
        return sorted(views, key=lambda v: (v.exchange, v.name, v.queue_id))

    def describe_subscriber(self, exchange: str, name: str, limit_size: int = 0) -> SubscriberView:
        (view,) = self._queue_of(exchange, name, limit_size).subscriber_views(name)
        return view

    async def delete_subscriber(self, exchange: str, name: str, limit_size: int = 0) -> None:
        queue = self._queue_of(exchange, name, limit_size)
        await ask(queue.mailbox, lambda r: ForgetSubscriber(name, r))

    async def reset_subscriber(
        self, exchange: str, name: str, start: StartPoint, limit_size: int = 0
    ) -> SubscriberView:
        return await self._changed(exchange, name, limit_size, lambda r: MoveCursor(name, start, r))

    async def set_subscriber_settings(
        self, exchange: str, name: str, changes: dict[str, Any], limit_size: int = 0
    ) -> SubscriberView:
        return await self._changed(
            exchange, name, limit_size, lambda r: ChangeSettings(name, changes, r)
        )

    async def _changed(
        self, exchange: str, name: str, limit_size: int, change: Callable[[Any], Any]
    ) -> SubscriberView:
        """Ask the subscriber's queue for ``change`` (a message built around its reply), then
        the subscriber as it is after it."""
        queue = self._queue_of(exchange, name, limit_size)
        await ask(queue.mailbox, change)
        (view,) = queue.subscriber_views(name)
        return view
