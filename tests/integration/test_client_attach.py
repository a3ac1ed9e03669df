"""What a program's attach asks of a subscriber, against a real router: a start point applies
to a new subscriber only, settings are a public type and never ignored, and a handler's
failure becomes the parked reason."""

from __future__ import annotations

import asyncio
import logging
import os

import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from router.client import OutgoingEvent, ReceivedEvent, RouterClient, SubscriberSettings
from router.client.app import RouterApp
from router.client.consumer import DurableConsumer
from tests.helpers.polling import until
from tests.helpers.server import RouterProcess, running_router


def events(count: int, start: int = 0) -> list[OutgoingEvent]:
    return [OutgoingEvent("order.created", str(start + n).encode()) for n in range(count)]


async def take(client: RouterClient, count: int, start: str = "earliest") -> list[int]:
    """Offsets of the next ``count`` events of billing, each acked, then leave."""
    seen: list[int] = []
    async with client.consume("orders", "billing", start) as consumer:
        async with asyncio.timeout(20):
            async for event in consumer:
                seen.append(event.offset)
                await event.ack()
                if len(seen) == count:
                    break
    return seen


def test_a_start_point_applies_when_the_subscriber_is_created(
    db_url: str, tmp_path: object
) -> None:
    async def story(address: str) -> None:
        async with RouterClient(address) as client:
            await client.create_exchange("orders", ["order.*"])
            await client.publish(events(3))
            assert await take(client, 3) == [1, 2, 3]
            await client.publish(events(2, start=3))
            # Started again with the same start point: it resumes from its cursor.
            assert await take(client, 2) == [4, 5]
            # An explicit move stays possible: a start that applies to an existing one too.
            async with client.subscribe(
                "orders", "billing", "offset:2", start_if_new=False
            ) as subscription:
                assert subscription.start_offset == 2

    with running_router(db_url, str(tmp_path)) as router:
        asyncio.run(story(router.address))


def test_settings_are_a_public_type_and_a_difference_is_refused_naming_the_field(
    sqlite_url: str, tmp_path: object
) -> None:
    async def story(address: str) -> None:
        async with RouterClient(address) as client:
            await client.create_exchange("orders", ["order.*"])
            await client.publish(events(1))
            asked = SubscriberSettings(max_deliveries=3, backoff_initial_s=0.5)
            async with client.consume("orders", "billing", "earliest", settings=asked):
                pass
            (found,) = await client.list_subscribers("orders", "billing")
            assert (found.settings.max_deliveries, found.settings.backoff_initial_s) == (3, 0.5)
            # The same settings again: taken.
            async with client.consume("orders", "billing", settings=asked):
                pass
            with pytest.raises(GRPCError) as refused:
                async with client.consume(
                    "orders", "billing", settings=SubscriberSettings(max_deliveries=10)
                ):
                    pass
            assert refused.value.status is Status.FAILED_PRECONDITION
            assert "settings.max_deliveries" in str(refused.value.message)
            assert "3" in str(refused.value.message) and "10" in str(refused.value.message)
            # Changed explicitly, the new value is what the attach finds.
            await client.set_subscriber_settings(
                "orders", "billing", SubscriberSettings(max_deliveries=10)
            )
            async with client.consume(
                "orders", "billing", settings=SubscriberSettings(max_deliveries=10)
            ):
                pass

    with running_router(sqlite_url, str(tmp_path)) as router:
        asyncio.run(story(router.address))


class CardDeclined(Exception):
    pass


def test_a_handlers_failure_becomes_the_parked_reason_and_one_log_line(
    sqlite_url: str, tmp_path: object, caplog: pytest.LogCaptureFixture
) -> None:
    app = RouterApp()
    settings = SubscriberSettings(max_deliveries=2, backoff_initial_s=0.05)

    @app.subscriber("orders", name="billing", start="earliest", settings=settings)
    async def bill(event: ReceivedEvent) -> None:
        raise CardDeclined(f"card ending 4242 declined\nfor order {event.payload.decode()}")

    async def story(address: str) -> None:
        app.address = address
        async with RouterClient(address) as client:
            await client.create_exchange("orders", ["order.*"])
            await client.publish(events(2))
            running = asyncio.ensure_future(app.run())
            try:

                async def parked() -> bool:
                    try:
                        page = await client.list_parked("orders", "billing")
                    except GRPCError as error:  # the app has not attached yet
                        assert error.status is Status.NOT_FOUND
                        return False
                    return len(page.parked) == 2

                await until(parked, 30)
            finally:
                running.cancel()
                await asyncio.gather(running, return_exceptions=True)
            page = await client.list_parked("orders", "billing")
            assert [p.reason for p in page.parked] == [
                "delivered 2 times (max_deliveries 2): CardDeclined: card ending 4242 declined"
                f" for order {n}"
                for n in (0, 1)
            ]

    with (
        caplog.at_level(logging.WARNING, logger="router.app"),
        running_router(sqlite_url, str(tmp_path)) as router,
    ):
        asyncio.run(story(router.address))
    failures = [r for r in caplog.records if r.name == "router.app"]
    assert len(failures) == 4  # two events, two deliveries each: one line per failure
    assert all(not r.exc_info and "\n" not in r.getMessage() for r in failures)
    assert "CardDeclined: card ending 4242 declined" in failures[0].getMessage()


def test_a_long_failure_is_cut_to_what_the_router_keeps() -> None:
    from router.client.app import failure
    from router.client.subscription import REASON_MAX

    reason = failure(CardDeclined("x" * 5000))
    assert len(reason) == REASON_MAX and reason.startswith("CardDeclined: xxx")


def test_a_reconnection_takes_settings_an_operator_changed_meanwhile(
    sqlite_url: str, tmp_path: object
) -> None:
    log = os.path.join(str(tmp_path), "router.log")
    router = RouterProcess(sqlite_url, log).start()

    async def story() -> None:
        nonlocal router
        async with RouterClient(router.address) as client:
            await client.create_exchange("orders", ["order.*"])
            await client.publish(events(1))
            asked = SubscriberSettings(max_deliveries=3)
            consumer = DurableConsumer(
                client, "orders", "billing", "earliest", settings=asked, retry_max_s=0.5
            )
            async with consumer:
                first = await asyncio.wait_for(consumer.__anext__(), 20)
                await first.ack()
                await client.set_subscriber_settings(
                    "orders", "billing", SubscriberSettings(max_deliveries=5)
                )
                router.stop()  # the consumer reconnects to the router started again
                router = RouterProcess(sqlite_url, log, router.port).start()
                async with RouterClient(router.address) as fresh:
                    await fresh.publish(events(1, start=1))
                second = await asyncio.wait_for(consumer.__anext__(), 30)
                await second.ack()
                assert (second.offset, consumer.reconnects >= 1) == (2, True)
            (found,) = await client.list_subscribers("orders", "billing")
            assert found.settings.max_deliveries == 5

    try:
        asyncio.run(story())
    finally:
        router.stop()
