"""UUIDv7 ids: layout, order within a process, and where they are made."""

from __future__ import annotations

import time
import uuid

import pytest

from router.client import OutgoingEvent
from router.core import ids, validation
from router.core.settings import Settings


def millis(event_id: str) -> int:
    return uuid.UUID(event_id).int >> 80


def test_an_id_is_a_canonical_version_7_uuid_carrying_the_time() -> None:
    before = time.time_ns() // 1_000_000
    made = ids.uuid7()
    after = time.time_ns() // 1_000_000
    value = uuid.UUID(made)
    assert (value.version, value.variant) == (7, uuid.RFC_4122)
    assert str(value) == made
    assert validation.event_id(made, "id") == made
    assert before <= millis(made) <= after + 1  # +1: a counter overflow carries the ms on


def test_ids_made_one_after_another_sort_in_that_order() -> None:
    made = [ids.uuid7() for _ in range(20_000)]  # several per millisecond
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_the_order_holds_when_the_clock_steps_back_or_one_millisecond_overflows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ids, "_last_ms", ids._last_ms)  # put back after: the test moves it on
    monkeypatch.setattr(ids, "_counter", ids._counter)
    now = [2_000_000_000_000 * 1_000_000]
    monkeypatch.setattr(ids.time, "time_ns", lambda: now[0])
    first = ids.uuid7()
    now[0] -= 60_000 * 1_000_000  # a minute back (an NTP step)
    made = [first] + [ids.uuid7() for _ in range(5_000)]  # past 4,096 in "one" millisecond
    assert made == sorted(made)
    assert millis(made[-1]) == millis(first) + 1  # the counter overflowed into the next ms
    now[0] = (millis(first) + 10) * 1_000_000  # the clock passes the carried millisecond
    later = ids.uuid7()
    assert later > made[-1] and millis(later) == millis(first) + 10


def test_events_without_an_id_get_one_from_the_router_and_from_the_client() -> None:
    stored = validation.event(0, "", "order.created", b"{}", {}, Settings(db_url="sqlite://"))
    assert uuid.UUID(stored.id).version == 7
    assert uuid.UUID(OutgoingEvent("order.created").id).version == 7
    given = str(uuid.uuid4())  # a publisher's own v4 is kept as it is
    assert validation.event(0, given, "a.b", b"", {}, Settings(db_url="sqlite://")).id == given
