"""What the storage tests build their commits from."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

from router.core.model import ExchangeRecord, NewEvent
from storage import Storage
from storage.base import Append, CommitResult


def event(type_: str = "order.created", payload: bytes = b"{}") -> NewEvent:
    """A new event with a random id and one header."""
    return NewEvent(str(uuid.uuid4()), type_, payload, (("k", "v"),))


def commit(
    store: Storage, events: list[NewEvent], routes: Sequence[tuple[int, ...]], now: int = 1_000
) -> CommitResult:
    """Store ``events`` (routed to ``routes``) in one commit from the store's positions."""
    positions = store.positions()
    return store.commit([Append(events, routes)], {}, positions, now)


def every_and_some(
    store: Storage, events: list[NewEvent], taken: Callable[[int], bool]
) -> tuple[ExchangeRecord, ExchangeRecord]:
    """Exchanges ``every`` (taking all of ``events``) and ``some`` (the events whose index
    ``taken`` accepts), and the events committed to them."""
    every = store.create_exchange("every", ("#",), 1, lambda t: True)
    some = store.create_exchange("some", ("#",), 1, lambda t: True)
    commit(
        store,
        events,
        [(every.id, some.id) if taken(n) else (every.id,) for n in range(len(events))],
    )
    return every, some
