"""A replay read within a byte budget: the events that fit (at least one, however large), the
rest left unread, on SQLite and PostgreSQL alike, whether the exchange's events are one run of
seqs or scattered among others'."""

from __future__ import annotations

import uuid

from router.core.model import NewEvent
from router.core.wire import sizes_of
from storage import Storage, open_storage
from storage.base import Append

KIB = 1024


def stored(
    store: Storage, exchange: int, other: int, sizes: list[int], every_other: bool
) -> list[str]:
    """Events of these payload sizes into ``exchange`` (interleaved with events of ``other``
    when ``every_other``): the ids of its events."""
    events = [NewEvent(str(uuid.uuid4()), "order.created", b"x" * size, ()) for size in sizes]
    routes: list[tuple[int, ...]] = [(exchange,)] * len(events)
    if every_other:  # the exchange's events are not one run of seqs
        spare = [NewEvent(str(uuid.uuid4()), "user.created", b"{}", ()) for _ in events]
        events = [e for pair in zip(events, spare, strict=True) for e in pair]
        routes = [r for pair in zip(routes, [(other,)] * len(spare), strict=True) for r in pair]
    store.commit([Append(events, routes)], {}, store.positions(), 1_000)
    return [e.id for e in events if e.type == "order.created"]


def test_a_read_stops_at_its_byte_budget_and_always_takes_one_event(db_url: str) -> None:
    store = open_storage(db_url)
    store.migrate()
    exchanges = [store.create_exchange(name, ("#",), 1, lambda t: True).id for name in "abc"]
    reader = store.reader()
    try:
        for exchange_id, every_other in ((exchanges[0], False), (exchanges[1], True)):
            sizes = [100 * KIB] * 30 + [3 * KIB * KIB]
            ids = stored(store, exchange_id, exchanges[2], sizes, every_other)
            whole = reader.read(exchange_id, 1, 31, 31)
            assert [d.event.id for d in whole] == ids
            cut = reader.read(exchange_id, 1, 31, 31, 512 * KIB)
            assert [d.offset for d in cut] == [1, 2, 3, 4, 5]  # 5 of about 100 KiB fit
            assert [d.event.id for d in cut] == ids[:5]
            assert sum(sizes_of(cut)) <= 512 * KIB
            large = reader.read(exchange_id, 31, 31, 1, 512 * KIB)  # larger than the budget
            assert [(d.offset, len(d.event.payload)) for d in large] == [(31, 3 * KIB * KIB)]
            small = reader.read(exchange_id, 7, 31, 25, 4 * 1024 * KIB)
            assert [d.offset for d in small] == list(range(7, 31))  # all fit but the last
    finally:
        reader.close()
        store.close()
