"""A durable subscriber's settings, as a program names them.

    settings = SubscriberSettings(max_deliveries=3, backoff_initial_s=0.5)
    async with client.consume("orders", "billing", settings=settings) as events: ...

Only the fields given are sent; the router's defaults fill the rest when it creates the
subscriber. On a subscriber that exists already, each field given must equal its stored value,
or the attach is refused (FAILED_PRECONDITION naming the field): settings are never ignored.
Change an existing subscriber's settings with :meth:`RouterClient.set_subscriber_settings`
(or ``router subscriber settings``), which takes the same type.
"""

from __future__ import annotations

from typing import Literal

import attrs

from router._proto.router.v1 import router_pb2 as pb


@attrs.frozen(kw_only=True)
class SubscriberSettings:
    """Each field left None is not sent (the router's default, or the stored value, applies).

    - ``mode``: "exclusive" (one consumer, offset order; the default) or "shared".
    - ``max_consumers``: shared: consumers attached at once (16).
    - ``prefetch``: a consumer's window: deliveries sent to it and not settled, at most (4,000
      on an exclusive subscriber, 100 on a shared one).
    - ``dispatch``: shared: "round_robin" (the default) or "pinned" (one key, one consumer).
    - ``key_header``: pinned: the header whose value keys an event.
    - ``ack_wait_s``: a delivery unsettled this long after it was sent (let out by the
      consumer's window) is delivered again (30 s).
    - ``max_deliveries``: an event delivered this often is parked (10; 0: never).
    - ``backoff_initial_s``, ``backoff_max_s``, ``backoff_multiplier``: the delay before a
      nacked event comes again, growing with each delivery (1 s, 300 s, 2).
    - ``stall_after_s``: lag with an unmoved ack floor this long counts as stalled (60 s).
    """

    mode: Literal["exclusive", "shared"] | None = None
    max_consumers: int | None = None
    prefetch: int | None = None
    dispatch: Literal["round_robin", "pinned"] | None = None
    key_header: str | None = None
    ack_wait_s: float | None = None
    max_deliveries: int | None = None
    backoff_initial_s: float | None = None
    backoff_max_s: float | None = None
    backoff_multiplier: float | None = None
    stall_after_s: float | None = None

    def to_pb(self) -> pb.SubscriberSettings:
        given = {
            field.name: getattr(self, field.name)
            for field in attrs.fields(SubscriberSettings)
            if getattr(self, field.name) is not None
        }
        return pb.SubscriberSettings(**given)


def settings_message(
    settings: SubscriberSettings | pb.SubscriberSettings | None,
) -> pb.SubscriberSettings | None:
    """The wire form of ``settings`` (the generated message is taken as it is)."""
    if settings is None or isinstance(settings, pb.SubscriberSettings):
        return settings
    if isinstance(settings, SubscriberSettings):
        return settings.to_pb()
    raise TypeError(
        f"settings: expected router.client.SubscriberSettings, got {type(settings).__name__}"
    )
