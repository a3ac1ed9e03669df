"""What an attach asks of an existing subscriber: its start point and its settings."""

from __future__ import annotations

import pytest

from actors.attaching import expect_settings, start_for
from router.core.delivery import DeliverySettings
from router.core.errors import FailedPrecondition, InvalidArgument
from router.core.model import StartKind, StartPoint


def test_a_start_for_new_subscribers_only_resumes_an_existing_one() -> None:
    earliest = StartPoint(StartKind.EARLIEST, if_new=True)
    assert start_for(earliest, exists=False) == earliest
    assert start_for(earliest, exists=True) == StartPoint()  # the saved cursor
    explicit = StartPoint(StartKind.OFFSET, 7)
    assert start_for(explicit, exists=True) == explicit  # moves it, as asked


def test_settings_asked_for_must_match_the_stored_ones() -> None:
    stored = DeliverySettings.make(max_deliveries=3, mode="shared")
    expect_settings("billing", stored, None)
    expect_settings("billing", stored, {"max_deliveries": 3, "mode": "shared"})
    with pytest.raises(FailedPrecondition, match=r"settings\.max_deliveries: .*'billing'.* 3.*10"):
        expect_settings("billing", stored, {"max_deliveries": 10})
    with pytest.raises(FailedPrecondition, match=r"settings\.mode"):
        expect_settings("billing", stored, {"mode": "exclusive"})
    with pytest.raises(InvalidArgument, match=r"settings\.colour: no such setting"):
        expect_settings("billing", stored, {"colour": "blue"})
