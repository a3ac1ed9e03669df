"""What an attach asks of a subscriber that exists already: where it starts and which settings
it expects. The QueueActor (a sleeping subscriber) and the SubscriberActor (a running one) ask
these before they take a consumer.

- A start point marked ``if_new`` applies only to a subscriber the attach creates; an existing
  one resumes from its saved cursor (like Kafka's ``auto.offset.reset``). Moving an existing
  subscriber's cursor is an explicit act: a start point without ``if_new`` (``router tail
  --from``) on a sleeping subscriber, or ``ResetSubscriber``.
- Settings an attach names are never ignored: on an existing subscriber each one must equal the
  stored value, or the attach is refused (FAILED_PRECONDITION naming the field); the stored
  settings are changed by ``SetSubscriberSettings`` (``router subscriber settings``).
"""

from __future__ import annotations

from typing import Any

from router.core.delivery import DeliverySettings
from router.core.errors import FailedPrecondition, InvalidArgument
from router.core.model import StartPoint


def start_for(start: StartPoint, exists: bool) -> StartPoint:
    """The start point an attach uses: the saved cursor for an existing subscriber when the
    caller's start applies only to a new one."""
    return StartPoint() if exists and start.if_new else start


def expect_settings(name: str, stored: DeliverySettings, asked: dict[str, Any] | None) -> None:
    """Refuse (FAILED_PRECONDITION, naming the first field) when a setting ``asked`` for differs
    from the subscriber's ``stored`` one; an unknown or bad value is INVALID_ARGUMENT."""
    if not asked:
        return
    have = stored.as_dict()
    for field in sorted(asked):
        if field not in have:
            raise InvalidArgument(f"settings.{field}: no such setting")
        if asked[field] != have[field]:
            raise FailedPrecondition(
                f"settings.{field}: subscriber {name!r} is set to {have[field]!r}, this attach asks"
                f" for {asked[field]!r}; change it with SetSubscriberSettings (router"
                " subscriber settings) or attach without it"
            )
