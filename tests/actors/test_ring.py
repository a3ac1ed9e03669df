"""The queue's ring buffer on its own: bounded, contiguous, and sliced by offset."""

from __future__ import annotations

from actors.ring import Ring
from router.core.model import Delivery
from tests.helpers.fakes import deliveries


def offsets(found: tuple[Delivery, ...]) -> list[int]:
    return [d.offset for d in found]


def test_the_ring_keeps_the_newest_deliveries_up_to_its_limit() -> None:
    ring = Ring(4)
    ring.take(deliveries(1, 3))
    ring.take(deliveries(4, 6))
    assert len(ring) == 4 and ring.fill() == 1.0
    assert offsets(ring.slice(3, 10)) == [3, 4, 5, 6]
    assert ring.slice(2, 10) == ()  # no longer held: read from storage
    assert ring.slice(7, 10) == ()  # not yet


def test_a_batch_that_does_not_follow_on_empties_the_ring_first() -> None:
    ring = Ring(10)
    ring.take(deliveries(1, 3))
    ring.take(deliveries(6, 7))  # 4..5 were missed
    assert len(ring) == 2 and ring.fill() == 0.2
    assert offsets(ring.slice(6, 6)) == [6] and ring.slice(3, 7) == ()
