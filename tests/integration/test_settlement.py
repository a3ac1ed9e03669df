"""Settlement over real gRPC, on both stores: shared consumers, nack, park, the parked list and
its re-drive, and a router killed in between (the ledger and the parked list survive SIGKILL)."""

from __future__ import annotations

import asyncio

import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from router._proto.router.v1 import router_pb2 as pb
from router.client import OutgoingEvent, RouterClient
from tests.helpers.polling import until
from tests.helpers.server import RouterProcess


def events(count: int, start: int = 0) -> list[OutgoingEvent]:
    return [OutgoingEvent("order.created", f"{start + n}".encode()) for n in range(count)]


async def subscriber(client: RouterClient, name: str = "billing") -> pb.SubscriberInfo:
    (found,) = await client.list_subscribers("orders", name)
    return found


def test_shared_consumers_split_the_work_and_failing_events_are_parked_then_re_driven(
    db_url: str, tmp_path: object
) -> None:
    settings = pb.SubscriberSettings(
        mode="shared", prefetch=10, max_deliveries=2, backoff_initial_s=0.05, ack_wait_s=30
    )

    async def story(address: str, failing: set[int]) -> None:
        async with RouterClient(address) as client:
            await client.create_exchange("orders", ["order.*"])
            seen: dict[int, set[str]] = {}
            acked: set[int] = set()

            async def work(tag: str) -> None:
                async with client.consume(
                    "orders", "billing", "earliest", shared=True, settings=settings
                ) as consumer:
                    async for event in consumer:
                        seen.setdefault(event.offset, set()).add(tag)
                        if int(event.payload) in failing:
                            await event.nack()
                        elif int(event.payload) == 7:
                            await event.park("no such account")
                        else:
                            await event.ack()
                            acked.add(event.offset)

            workers = [asyncio.ensure_future(work(tag)) for tag in "abc"]

            async def attached() -> bool:
                found = await client.list_subscribers("orders")
                return bool(found) and found[0].consumers == 3

            await until(attached, timeout=30)
            await client.publish(events(60))

            async def settled() -> bool:
                found = await subscriber(client)
                return found.acked_offset == 60 and found.parked == len(failing) + 1

            await until(settled, timeout=30)
            found = await subscriber(client)
            assert (found.consumers, found.settings.mode, found.unsettled) == (3, "shared", 0)
            assert len({tag for tags in seen.values() for tag in tags}) == 3  # work was shared
            parked = await client.list_parked("orders", "billing")
            assert parked.total == len(failing) + 1
            reasons = {p.offset: (p.reason, p.deliveries, p.event.payload) for p in parked.parked}
            assert reasons[8] == ("no such account", 1, b"7")
            for offset in (n + 1 for n in failing):
                assert reasons[offset][:2] == ("delivered 2 times (max_deliveries 2)", 2)
            # Re-driven while the failure is gone: delivered again through the subscriber.
            failing.clear()
            with pytest.raises(GRPCError) as refused:
                await client.redrive_parked("orders", "billing", [1])
            assert refused.value.status is Status.NOT_FOUND
            assert "offset: 1 is not in the parked list" in str(refused.value.message)
            redriven = sorted(reasons)
            assert await client.redrive_parked("orders", "billing") == redriven

            async def drained() -> bool:
                return (await subscriber(client)).parked == 1  # the one parked again

            await until(drained, timeout=30)
            assert set(redriven) - {8} <= acked
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    router = RouterProcess(db_url, f"{tmp_path}/router.log").start()
    try:
        asyncio.run(story(router.address, {3, 30, 45}))
    finally:
        router.stop()


def test_a_poison_event_is_parked_after_max_deliveries_across_router_kills(
    db_url: str, tmp_path: object
) -> None:
    """The consumer never settles offset 2 (it 'crashes' on it); the router is SIGKILLed after
    each delivery. The delivery count lives in the ledger, so the event is parked anyway."""
    settings = pb.SubscriberSettings(max_deliveries=3)

    async def deliver_once(address: str, first: bool) -> list[tuple[int, int]]:
        async with RouterClient(address) as client:
            if first:
                await client.create_exchange("orders", ["order.*"])
                await client.publish(events(3))
            got: list[tuple[int, int]] = []
            async with client.subscribe(
                "orders", "billing", "earliest" if first else "stored", settings=settings
            ) as subscription:
                async for batch in subscription:
                    for event in batch:
                        got.append((event.offset, event.delivery_count))
                        if event.offset != 2:
                            await subscription.settle(event.offset)
                    if got[-1][0] >= 3 or (got and got[-1][0] == 2 and len(batch) == 1):
                        break
            # Leaving returns once the router ended the stream, after it saved the ledger.
            return got

    router = RouterProcess(db_url, f"{tmp_path}/router.log").start()
    try:
        rounds = [asyncio.run(deliver_once(router.address, True))]
        for _ in range(2):
            router.kill()
            router.start()
            rounds.append(asyncio.run(deliver_once(router.address, False)))
        assert rounds[0] == [(1, 1), (2, 1), (3, 1)]
        assert rounds[1] == [(2, 2)]
        assert rounds[2] == [(2, 3)]
        router.kill()
        router.start()

        async def after(address: str) -> None:
            async with RouterClient(address) as client:
                async with client.subscribe("orders", "billing") as subscription:

                    async def parked() -> bool:
                        return (await subscriber(client)).parked == 1

                    await until(parked, timeout=10)
                    found = await subscriber(client)
                    assert (found.acked_offset, found.unsettled) == (3, 0)
                    assert subscription.start_offset == 2  # where the floor stood
                (one,) = (await client.list_parked("orders", "billing")).parked
                assert (one.offset, one.deliveries) == (2, 3)
                assert one.reason == "delivered 3 times (max_deliveries 3)"

        asyncio.run(after(router.address))
    finally:
        router.stop()


def test_bad_settings_and_settles_get_clear_errors(sqlite_url: str, tmp_path: object) -> None:
    async def story(address: str) -> None:
        async with RouterClient(address) as client:
            await client.create_exchange("orders", ["order.*"])
            await client.publish(events(2))
            bad = pb.SubscriberSettings(mode="shared", prefetch=0)
            with pytest.raises(GRPCError) as refused:
                async with client.subscribe("orders", "billing", "earliest", settings=bad):
                    pass
            assert refused.value.status is Status.INVALID_ARGUMENT
            assert refused.value.message == "settings.prefetch: 0 is outside 1..100000"
            assert await client.list_subscribers("orders") == []
            rejected: list[pb.SettleRejected] = []
            async with client.subscribe("orders", "billing", "earliest") as subscription:
                subscription.on_rejected = rejected.append
                batch = await subscription.__anext__()
                assert [e.offset for e in batch] == [1, 2]
                await subscription.settle(5)
                await subscription.settle(1)
                await subscription.settle(1)
                await client.publish(events(1))
                assert [e.offset for e in await subscription.__anext__()] == [3]
                with pytest.raises(GRPCError) as exclusive:
                    async with client.subscribe("orders", "billing"):
                        pass
                assert exclusive.value.status is Status.FAILED_PRECONDITION
                with pytest.raises(GRPCError) as mode:
                    await client.set_subscriber_settings(
                        "orders", "billing", pb.SubscriberSettings(mode="shared")
                    )
                assert mode.value.status is Status.FAILED_PRECONDITION
                await subscription.nack(2, delay=-1)
                await subscription.park(2, "x" * 2000)
                await subscription.settle((3, 2))
                await client.publish(events(1))
                assert [e.offset for e in await subscription.__anext__()] == [4]
            assert [(r.offset, r.code) for r in rejected] == [
                (5, "never_delivered"),
                (1, "already_settled"),
                (2, "invalid"),
                (2, "invalid"),
                (3, "invalid"),
            ]
            assert rejected[2].message.startswith("nack.delay_s: -1.0 is outside 0..")
            assert rejected[3].message == "park.reason: 2000 characters; at most 1024"
            assert rejected[4].message.startswith("settle.acks[0]: 3..2 is not a range")
            found = await subscriber(client)
            assert (found.acked_offset, found.settings.mode) == (1, "exclusive")

    router = RouterProcess(sqlite_url, f"{tmp_path}/router.log").start()
    try:
        asyncio.run(story(router.address))
    finally:
        router.stop()


def test_the_cli_shows_changes_and_re_drives_the_parked_list(
    sqlite_url: str, tmp_path: object
) -> None:
    import json
    import subprocess
    import sys

    router = RouterProcess(sqlite_url, f"{tmp_path}/router.log").start()

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "router", "--server", router.address, *args],
            capture_output=True,
            text=True,
            timeout=60,
        )

    async def park_two(address: str) -> None:
        async with RouterClient(address) as client:
            await client.create_exchange("orders", ["order.*"])
            await client.publish(events(3))
            async with client.subscribe("orders", "billing", "earliest") as subscription:
                batch = await subscription.__anext__()
                await subscription.park(batch[0].offset, "bad payload")
                await subscription.park(batch[2].offset, "no account")
                await subscription.settle(batch[1].offset)

                async def parked() -> bool:
                    return (await subscriber(client)).parked == 2

                await until(parked, timeout=10)

    try:
        asyncio.run(park_two(router.address))
        listed = cli("subscriber", "parked", "orders", "billing", "--json")
        assert listed.returncode == 0, listed.stderr
        rows = [json.loads(line) for line in listed.stdout.splitlines()]
        assert [(r["offset"], r["reason"], r["state"]) for r in rows] == [
            (1, "bad payload", "parked"),
            (3, "no account", "parked"),
        ]
        follow = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "router",
                "--server",
                router.address,
                "subscriber",
                "parked",
                "orders",
                "billing",
                "--follow",
                "--json",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert follow.stdout is not None
            followed = [json.loads(follow.stdout.readline()) for _ in range(2)]
            assert [r["offset"] for r in followed] == [1, 3]
        finally:
            follow.kill()
            follow.wait(10)
        stats = cli("stats", "--json")
        assert stats.returncode == 0, stats.stderr
        (row,) = json.loads(stats.stdout.splitlines()[0])["subscribers"]
        assert (row["state"], row["parked"], row["consumers"], row["unsettled"]) == (
            "sleeping",
            2,
            0,
            0,
        )
        described = cli("subscriber", "describe", "orders", "billing")
        assert described.returncode == 0, described.stderr
        assert "parked                       2" in described.stdout
        changed = cli("subscriber", "settings", "orders", "billing", "--max-deliveries", "4")
        assert changed.returncode == 0, changed.stderr
        assert "4" in changed.stdout
        bad = cli("subscriber", "settings", "orders", "billing", "--prefetch", "0")
        assert bad.returncode != 0
        assert "settings.prefetch: 0 is outside 1..100000" in bad.stderr
        missing = cli("subscriber", "redrive", "orders", "billing", "--offset", "2")
        assert missing.returncode != 0 and "NOT_FOUND" in missing.stderr
        neither = cli("subscriber", "redrive", "orders", "billing")
        assert neither.returncode != 0 and "--offset N" in neither.stderr
        dropped = cli("subscriber", "discard", "orders", "billing", "--offset", "3")
        assert dropped.returncode == 0 and "discarded 1" in dropped.stdout
        again = cli("subscriber", "redrive", "orders", "billing", "--all")
        assert again.returncode == 0 and "re-driving 1" in again.stdout

        async def redelivered(address: str) -> None:
            async with (
                RouterClient(address) as client,
                client.subscribe("orders", "billing") as subscription,
            ):
                batch = await subscription.__anext__()
                assert [(e.offset, e.delivery_count) for e in batch] == [(1, 1)]
                await subscription.settle(1)

                async def emptied() -> bool:
                    return (await subscriber(client)).parked == 0

                await until(emptied, timeout=10)

        asyncio.run(redelivered(router.address))
        assert cli("subscriber", "parked", "orders", "billing").stdout.strip() == "(none)"
    finally:
        router.stop()
