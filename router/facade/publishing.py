"""Publishing: events checked (batch size, contracts), stored and routed, acked after the
commit; traced when router.observe.tracing is on."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from actors.runtime import Callback
from router.core import validation
from router.core.errors import RouterError
from router.core.model import NewEvent, PublishAck, Role, UserRecord
from router.facade.base import Parts
from router.observe.tracing import Tracing


class Publishing(Parts):
    __slots__ = ()

    tracing: Tracing | None

    async def publish(
        self,
        events: Sequence[NewEvent],
        carrier: Mapping[str, str] | None = None,
        by: UserRecord | None = None,
    ) -> Sequence[PublishAck]:
        """Store and route ``events``; the acks come after the commit. ``carrier``: the call's
        trace context (traceparent, tracestate), for router.observe.tracing. ``by``: the user publishing
        (None: auth off, or a bridge): an id another user published is refused with
        ALREADY_EXISTS, not acked as a duplicate (:func:`publisher`)."""
        if self.tracing is not None:
            events, span = self.tracing.publishing(events, carrier)
            try:
                acks = await self._publish(events, by)
            except RouterError as error:
                self.tracing.finished(span, error, True)
                raise
            self.tracing.finished(span, acks, False)
            return acks
        return await self._publish(events, by)

    async def _publish(
        self, events: Sequence[NewEvent], by: UserRecord | None
    ) -> Sequence[PublishAck]:
        self._admit(events)
        return await self.dispatcher.publish(tuple(events), *publisher(by))

    def publish_soon(
        self,
        told: Callable[[Any, bool], None],
        events: Sequence[NewEvent],
        carrier: Mapping[str, str] | None = None,
        by: UserRecord | None = None,
    ) -> None:
        """:meth:`publish` from a plain Trio callback: ``told(acks, False)`` after the commit, or
        ``told(error, True)``; no Trio task waits for it (gRPC publishes, unary and streamed)."""
        if self.tracing is not None:
            events, span = self.tracing.publishing(events, carrier)
            told = self.tracing.told(span, told)
        try:
            self._admit(events)
        except RouterError as error:
            told(error, True)
            return
        self.dispatcher.publish_soon(tuple(events), Callback(told=told), *publisher(by))

    def _admit(self, events: Sequence[NewEvent]) -> None:
        """Refuse the batch on a node that does not publish, past the batch size, or when an
        enforced contract refuses one of its payloads."""
        self._serves("publish", "all", "ingest")
        validation.batch_size(len(events), self.settings)
        self.contracts.check(events)


def publisher(user: UserRecord | None) -> tuple[str, bool]:
    """Who publishes, as the store remembers it, and whether another user's ids are refused to
    it: an admin may read every event, so its re-publish of any id is acked as a duplicate."""
    if user is None:
        return "", False
    return user.name, user.role is not Role.ADMIN
