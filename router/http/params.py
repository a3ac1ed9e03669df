"""Query parameters and body items of the REST API read strictly: a value out of its range, of
the wrong kind or with fields it does not take is InvalidArgument naming the field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request

from router.core.errors import InvalidArgument
from router.http.bodies import only

MAX_PULL = 10_000
MAX_WAIT_S = 60.0


def integer(text: str, field: str, low: int, high: int) -> int:
    return int(bounded(text, field, low, high, int, "an integer"))


def number(text: str, field: str, low: float, high: float) -> float:
    return bounded(text, field, low, high, float, "a number")


def bounded(
    text: str, field: str, low: float, high: float, kind: Callable[[str], float], name: str
) -> float:
    """``text`` read as ``kind``, within ``low..high`` (nan is outside), or InvalidArgument."""
    try:
        value = kind(text)
    except ValueError:
        raise InvalidArgument(f"{field}: {text!r} is not {name}") from None
    if not low <= value <= high:
        raise InvalidArgument(f"{field}: {value} is outside {low:g}..{high:g}")
    return value


def limit_size(request: Request) -> int:
    """The ``limit_size`` query parameter: which queue of the subscriber's exchange."""
    return integer(request.query_params.get("limit_size", "0"), "limit_size", 0, 1 << 31)


def subscriber_of(request: Request) -> tuple[str, str]:
    """The exchange and subscriber a subscriber path names."""
    return request.path_params["exchange"], request.path_params["name"]


def whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def listed(body: dict[str, Any], field: str) -> list[Any]:
    found = body.get(field, [])
    if not isinstance(found, list):
        raise InvalidArgument(f"{field}: expected a list")
    return found


def ack_range(item: Any, field: str) -> tuple[int, int]:
    """An offset, or ``[first, last]``."""
    if whole(item):
        return item, item
    if isinstance(item, list) and len(item) == 2 and whole(item[0]) and whole(item[1]):
        return item[0], item[1]
    raise InvalidArgument(f"{field}: expected an offset or [first, last]")


def nack_item(item: Any, field: str) -> tuple[int, float | None]:
    """An offset (the subscriber's back-off), or ``{"offset": N, "delay_s": S}``."""
    if whole(item):
        return item, None
    if not isinstance(item, dict) or not whole(item.get("offset")):
        raise InvalidArgument(f'{field}: expected an offset or {{"offset": N, "delay_s": S}}')
    only(item, ("offset", "delay_s"), field)
    delay = item.get("delay_s")
    if delay is not None and (not isinstance(delay, int | float) or isinstance(delay, bool)):
        raise InvalidArgument(f"{field}.delay_s: expected a number of seconds")
    return item["offset"], None if delay is None else float(delay)


def park_item(item: Any, field: str) -> tuple[int, str]:
    """An offset, or ``{"offset": N, "reason": "..."}``."""
    if whole(item):
        return item, ""
    if not isinstance(item, dict) or not whole(item.get("offset")):
        raise InvalidArgument(f'{field}: expected an offset or {{"offset": N, "reason": ...}}')
    only(item, ("offset", "reason"), field)
    reason = item.get("reason", "")
    if not isinstance(reason, str):
        raise InvalidArgument(f"{field}.reason: expected a string")
    return item["offset"], reason
