"""How a subscriber shares and settles its deliveries: its settings, and its parked events.

A delivery is settled by an ack (handled) or by parking it (given up, kept for an operator); a
nack asks for it again, after a delay. A subscriber is ``exclusive`` (one consumer, offset order)
or ``shared`` (up to ``max_consumers`` at once, dealt round-robin or pinned by a key header).
Either way a consumer holds at most ``prefetch`` unsettled deliveries (its window; 4,000 by
default for an exclusive subscriber, 100 for a shared one). See docs/consumers.md.
"""

from __future__ import annotations

import enum
import json
import math
from typing import Any

import attrs

from router.core.errors import InvalidArgument
from router.core.storable import storable

MAX_DELAY_S = 7 * 24 * 3600.0  # the longest nack delay or back-off step accepted
MAX_REASON = 1024
PREFETCH = {"exclusive": 4000, "shared": 100}  # the default window of a consumer, by mode


class Mode(enum.Enum):
    EXCLUSIVE = "exclusive"
    SHARED = "shared"


class Dispatch(enum.Enum):
    ROUND_ROBIN = "round_robin"
    PINNED = "pinned"


@attrs.frozen(slots=True)
class DeliverySettings:
    """A subscriber's settlement and sharing settings (stored with it, shown by ``describe``)."""

    mode: Mode = Mode.EXCLUSIVE
    max_consumers: int = 1  # shared: consumers attached at once
    prefetch: int = PREFETCH["exclusive"]  # deliveries out unsettled with a consumer at most
    dispatch: Dispatch = Dispatch.ROUND_ROBIN
    key_header: str = ""  # pinned: the header whose value keys an event
    ack_wait_s: float = 30.0  # an unsettled delivery is delivered again after this
    max_deliveries: int = 10  # past this many deliveries an event is parked (0: never)
    backoff_initial_s: float = 1.0  # the delay before the first redelivery after a nack
    backoff_max_s: float = 300.0
    backoff_multiplier: float = 2.0
    stall_after_s: float = 60.0  # lag with an unmoved ack floor this long, consumer attached

    @property
    def shared(self) -> bool:
        return self.mode is Mode.SHARED

    def backoff(self, deliveries: int) -> float:
        """The delay before delivering again an event delivered ``deliveries`` times."""
        step = self.backoff_initial_s * self.backoff_multiplier ** max(0, deliveries - 1)
        return min(self.backoff_max_s, step)

    def to_json(self) -> str:
        """The stored form: only what differs from the defaults (so defaults can improve)."""
        default = DeliverySettings()
        changed = {
            f.name: _plain(getattr(self, f.name))
            for f in attrs.fields(DeliverySettings)
            if getattr(self, f.name) != getattr(default, f.name)
        }
        return json.dumps(changed, sort_keys=True) if changed else ""

    @classmethod
    def from_json(cls, text: str) -> DeliverySettings:
        return cls.make(**json.loads(text)) if text else cls()

    def as_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in attrs.fields(DeliverySettings)}

    @classmethod
    def make(cls, field: str = "settings", **given: Any) -> DeliverySettings:
        """Settings from plain values, checked: a bad one raises InvalidArgument naming it."""
        names = {f.name for f in attrs.fields(DeliverySettings)}
        for name in given:
            if name not in names:
                raise InvalidArgument(f"{field}.{name}: no such setting")
        values = dict(given)
        try:
            if "mode" in values:
                values["mode"] = Mode(values["mode"])
            if "dispatch" in values:
                values["dispatch"] = Dispatch(values["dispatch"])
        except ValueError as error:
            raise InvalidArgument(f"{field}: {error}") from None
        if values.get("mode") is Mode.SHARED and "max_consumers" not in values:
            values["max_consumers"] = 16
        if values.get("mode") is Mode.SHARED and "prefetch" not in values:
            values["prefetch"] = PREFETCH["shared"]
        settings = cls(**values)
        settings.check(field)
        return settings

    def replace(self, field: str = "settings", **changes: Any) -> DeliverySettings:
        """These settings with ``changes`` applied and checked."""
        given = {k: v for k, v in self.as_dict().items()}
        given.update(changes)
        if changes.get("mode") == Mode.SHARED.value and "max_consumers" not in changes:
            given["max_consumers"] = max(self.max_consumers, 16)
        if changes.get("mode") == Mode.EXCLUSIVE.value:
            given["max_consumers"] = 1
        mode = _plain(changes.get("mode", self.mode))
        default = PREFETCH[self.mode.value]
        if mode != self.mode.value and "prefetch" not in changes and self.prefetch == default:
            given["prefetch"] = PREFETCH.get(mode, default)  # the old mode's default: the new's
        return DeliverySettings.make(field, **given)

    def check(self, field: str = "settings") -> None:
        _whole(f"{field}.max_consumers", self.max_consumers, 1, 1000)
        if self.mode is Mode.EXCLUSIVE and self.max_consumers != 1:
            raise InvalidArgument(
                f"{field}.max_consumers: an exclusive subscriber has one consumer"
                f" (got {self.max_consumers}); use mode shared"
            )
        _whole(f"{field}.prefetch", self.prefetch, 1, 100_000)
        _whole(f"{field}.max_deliveries", self.max_deliveries, 0, 1_000_000)
        _seconds(f"{field}.ack_wait_s", self.ack_wait_s, 0.01)
        _seconds(f"{field}.backoff_initial_s", self.backoff_initial_s, 0.0)
        _seconds(f"{field}.backoff_max_s", self.backoff_max_s, self.backoff_initial_s)
        _seconds(f"{field}.stall_after_s", self.stall_after_s, 1.0)
        if not (
            isinstance(self.backoff_multiplier, int | float)
            and 1.0 <= self.backoff_multiplier <= 10.0
        ):
            raise InvalidArgument(
                f"{field}.backoff_multiplier: {self.backoff_multiplier!r} is outside 1..10"
            )
        if self.dispatch is Dispatch.PINNED and not self.key_header:
            raise InvalidArgument(f"{field}.key_header: pinned dispatch needs a key header")
        if self.dispatch is Dispatch.PINNED and self.mode is Mode.EXCLUSIVE:
            raise InvalidArgument(
                f"{field}.dispatch: pinned dispatch needs mode shared (an exclusive subscriber"
                " keeps offset order on its one consumer)"
            )
        if not isinstance(self.key_header, str) or len(self.key_header) > 256:
            raise InvalidArgument(f"{field}.key_header: a header name of at most 256 characters")


def delay(value: float, field: str = "nack.delay_s") -> float:
    """A nack's delay in seconds, checked."""
    _seconds(field, value, 0.0)
    return float(value)


def reason(text: str, field: str = "park.reason") -> str:
    """A park reason, checked: at most MAX_REASON characters, text a store can hold."""
    if len(text) > MAX_REASON:
        raise InvalidArgument(f"{field}: {len(text)} characters; at most {MAX_REASON}")
    return storable(text, field)


@attrs.frozen(slots=True)
class ParkedEvent:
    """An event a subscriber gave up on: a reference to the stored event, why, and when."""

    offset: int
    reason: str
    deliveries: int
    parked_at: int  # microseconds since the epoch
    redriving: bool = False  # re-driven: being delivered again, still listed until settled


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def _whole(field: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidArgument(f"{field}: {value!r} is outside {low}..{high}")


def _seconds(field: str, value: Any, low: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or math.isnan(value)
        or not low <= value <= MAX_DELAY_S
    ):
        raise InvalidArgument(f"{field}: {value!r} is outside {low:g}..{MAX_DELAY_S:g} seconds")
