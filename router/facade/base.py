"""What every part of the facade reads: the router's actors and controls, and the look-ups
more than one part makes (which node serves what, an exchange's tail, a subscriber's queue)."""

from __future__ import annotations

import attrs

from actors.dispatcher import Dispatcher
from actors.manager import ConsumerManager
from actors.queue import QueueActor
from actors.state import StateActor
from router.control.audit import Audit
from router.control.auth import Auth
from router.control.contracts import Contracts
from router.core import validation
from router.core.errors import FailedPrecondition, InvalidArgument, NotFound
from router.core.model import ExchangeRecord
from router.core.settings import Settings


@attrs.define(eq=False)
class Parts:
    """The state every part reads: the router's actors and controls (the Router, router.app,
    adds what one part alone reads)."""

    settings: Settings
    state: StateActor
    dispatcher: Dispatcher
    manager: ConsumerManager
    auth: Auth
    audit: Audit
    contracts: Contracts

    def _serves(self, what: str, *roles: str) -> None:
        """FailedPrecondition unless this node's role does ``what``."""
        if self.settings.role not in roles:
            where = "the ingest node" if "ingest" in roles else "a route node"
            raise FailedPrecondition(
                f"role: this node runs --role {self.settings.role}; {what} on {where}"
            )

    def _with_tail(self, record: ExchangeRecord) -> ExchangeRecord:
        return attrs.evolve(record, first_offset=self.state.horizon.tail(record.id))

    def _queue_of(self, exchange: str, name: str, limit_size: int) -> QueueActor:
        validation.name(exchange, "exchange")
        validation.name(name, "name")
        found = [
            q
            for q in self.manager.queues.values()
            if q.record.config.exchange == exchange
            and (name in q.active or name in q.sleeping)
            and (not limit_size or q.record.config.limit_size == limit_size)
        ]
        if not found:
            raise NotFound(f"subscriber: no subscriber {name!r} on exchange {exchange!r}")
        if len(found) > 1:
            sizes = ", ".join(str(q.record.config.limit_size) for q in found)
            raise InvalidArgument(
                f"limit_size: {name!r} is on {len(found)} queues of {exchange!r} (limit sizes"
                f" {sizes}); say which"
            )
        return found[0]
