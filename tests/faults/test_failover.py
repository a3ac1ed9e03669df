"""Two routers on one PostgreSQL: one leads, one stands by (storage.leadership).

- The leader SIGKILLed 5 times at random moments while 4 publishers and 4 durable consumers run
  through the address list; the killed one is started again, as a standby. Lost 0 acked, every
  consumer gap-free in offset order, duplicates only of what it had not acked; the time from the
  kill to the first publish acked by the new leader is reported.
- A leader frozen (SIGSTOP) or cut off from PostgreSQL past its lease: the standby takes over and
  accepts publishes; woken or reconnected, the old one commits nothing (its pending publishes
  fail, never acked), steps down and refuses calls naming the new leader; the store shows one
  router per epoch.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import signal
import statistics
import time
import uuid

import attrs
import psycopg
import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError, StreamTerminatedError

from router._proto.router.v1 import router_pb2 as pb
from router.client import OutgoingEvent, RouterClient
from tests.helpers.cutproxy import CutProxy
from tests.helpers.databases import postgres_schema
from tests.helpers.polling import until
from tests.helpers.reading import exchange_ids
from tests.helpers.report import record
from tests.helpers.server import RouterProcess, leads

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
FAILURES = (GRPCError, StreamTerminatedError, ConnectionError, OSError, asyncio.TimeoutError)
KILLS = 5
PUBLISHERS = 4
CONSUMERS = 4
LEASE = "2s"
# Retention on: a size limit far from reached, so every removal step (once a second) reads and
# writes the store without removing what the test checks.
RETENTION = {"off": (), "on": ("--retain-bytes", "1GB")}


async def leader_of(routers: list[RouterProcess]) -> RouterProcess:
    found: list[RouterProcess] = []

    async def one_leads() -> bool:
        found[:] = [r for r in routers if r.process and r.process.poll() is None and leads(r)]
        return len(found) == 1

    await until(one_leads, timeout=30)
    return found[0]


@attrs.define
class Load:
    attempted: set[str] = attrs.Factory(set)
    acked: set[str] = attrs.Factory(set)
    # (when the call began, when its ack came) of each acked publish
    acks_at: list[tuple[float, float]] = attrs.Factory(list)
    # per consumer: the offsets and ids delivered, in order, and the offsets it acked
    offsets: dict[str, list[int]] = attrs.Factory(dict)
    ids: dict[str, list[str]] = attrs.Factory(dict)
    stop: asyncio.Event = attrs.Factory(asyncio.Event)


async def publisher(addresses: str, load: Load, seed: int) -> None:
    rng = random.Random(seed)
    async with RouterClient(addresses) as client:
        while not load.stop.is_set():
            event = OutgoingEvent(
                "order.created", b"x" * 100, id=str(uuid.UUID(int=rng.getrandbits(128)))
            )
            load.attempted.add(event.id)
            began = time.monotonic()
            try:
                (ack,) = await client.publish([event], timeout=5)
            except FAILURES:
                await asyncio.sleep(0.05)  # between leaders: the client goes round the list
                continue
            load.acked.add(ack.id)
            load.acks_at.append((began, time.monotonic()))
            await asyncio.sleep(0.01)  # pacing: a steady flow of single-event publishes


async def consumer(addresses: str, load: Load, name: str) -> None:
    offsets = load.offsets.setdefault(name, [])
    ids = load.ids.setdefault(name, [])
    async with (
        RouterClient(addresses) as client,
        client.consume("orders", name, "earliest") as events,
    ):
        async for event in events:
            offsets.append(event.offset)
            ids.append(event.id)
            await event.ack()


def _first_ack_after(load: Load, moment: float) -> float | None:
    """When the first publish begun after ``moment`` was acked (None: none yet)."""
    return min((acked for began, acked in load.acks_at if began > moment), default=None)


async def _acked_since(load: Load, moment: float) -> bool:
    return _first_ack_after(load, moment) is not None


@pytest.mark.parametrize("retention", ["off", "on"])
def test_the_leader_killed_five_times_loses_nothing_acked(tmp_path: object, retention: str) -> None:
    flags = ("--lease", LEASE, *RETENTION[retention])
    with postgres_schema() as url:
        routers = [
            RouterProcess(url, f"{tmp_path}/{name}.log", None, *flags, "--name", name)
            for name in ("a", "b")
        ]
        for router in routers:
            router.start()
        addresses = ",".join(r.address for r in routers)
        load = Load()
        takeovers: list[float] = []
        rng = random.Random(20261204)

        async def scenario() -> list[str]:
            async with RouterClient(addresses) as client:
                await client.create_exchange("orders", ["order.*"])
            publishers = [
                asyncio.ensure_future(publisher(addresses, load, s)) for s in range(PUBLISHERS)
            ]
            consumers = [
                asyncio.ensure_future(consumer(addresses, load, f"c{i}")) for i in range(CONSUMERS)
            ]
            try:
                for _ in range(KILLS):
                    await asyncio.sleep(rng.uniform(1.0, 3.0))  # a random moment in the load
                    leader = await leader_of(routers)
                    leader.kill()
                    killed = time.monotonic()

                    await until(functools.partial(_acked_since, load, killed), timeout=30)
                    takeovers.append((_first_ack_after(load, killed) or killed) - killed)
                    await asyncio.to_thread(leader.start)  # back, as a standby
                await asyncio.sleep(1.0)  # a last second of load, both routers up again
            finally:
                load.stop.set()  # each publisher ends after its call in flight is answered
                await asyncio.wait_for(asyncio.gather(*publishers, return_exceptions=True), 30)

            async def delivered() -> bool:
                return all(load.acked <= set(load.ids.get(f"c{i}", ())) for i in range(CONSUMERS))

            try:
                await until(delivered, timeout=60)
            finally:
                for task in consumers:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, *FAILURES):
                        await task
            leader = await leader_of(routers)
            return await exchange_ids(leader.address, "orders")

        try:
            stored_ids = asyncio.run(asyncio.wait_for(scenario(), 300))
        finally:
            for router in routers:
                router.stop()
        with psycopg.connect(url) as connection:
            epochs = connection.execute("SELECT epoch, name FROM router_epochs").fetchall()

    stored = set(stored_ids)
    assert len(stored) == len(stored_ids), "an event was stored twice"
    assert load.acked <= stored, f"{len(load.acked - stored)} acked events were lost"
    duplicates = 0
    for name, offsets in load.offsets.items():
        # In offset order with no gap: an offset is either the next one or a repeat of one
        # already delivered (the tail a consumer had not acked when its router died).
        reached = 0
        for offset in offsets:
            assert offset <= reached + 1, f"{name}: a gap before offset {offset}"
            duplicates += offset <= reached
            reached = max(reached, offset)
        assert reached == len(stored_ids), f"{name}: did not reach the head"
        first_seen = dict.fromkeys(load.ids[name])
        assert list(first_seen) == stored_ids[: len(first_seen)], f"{name}: not the log's order"
    assert len(epochs) == KILLS + 1, epochs  # one takeover per kill, one router each
    record(
        "router failover" + (", retention on" if retention == "on" else ""),
        kills=KILLS,
        publishers=PUBLISHERS,
        consumers=CONSUMERS,
        lease_s=float(LEASE[:-1]),
        acked=len(load.acked),
        stored=len(stored),
        lost=len(load.acked - stored),
        redelivered=duplicates,
        kill_to_ack_s_median=round(statistics.median(takeovers), 2),
        kill_to_ack_s_max=round(max(takeovers), 2),
    )


@pytest.mark.parametrize("retention", ["off", "on"])
@pytest.mark.parametrize("silence", ["frozen", "cut off"])
def test_a_silent_leader_commits_nothing_once_back(
    tmp_path: object, silence: str, retention: str
) -> None:
    """Frozen: SIGSTOP, then SIGCONT. Cut off: its connections to PostgreSQL (all through a
    relay) pass nothing, with no FIN or RST, then pass again. With retention on, the woken
    leader's removal steps meet its deposal too, and it still steps down and stays up."""
    flags = ("--lease", LEASE, *RETENTION[retention])
    with postgres_schema() as url:
        port = int(url.split("@127.0.0.1:", 1)[1].split("/", 1)[0])
        relay = CutProxy(port)
        through_relay = url.replace(f"127.0.0.1:{port}", f"127.0.0.1:{relay.port}")
        # a starts first and leads; its database connections all go through the relay
        a = RouterProcess(through_relay, f"{tmp_path}/a.log", None, *flags, "--name", "a").start()
        b = RouterProcess(url, f"{tmp_path}/b.log", None, *flags, "--name", "b").start()
        try:

            async def scenario() -> tuple[set[str], list[object], set[str]]:
                leader = await leader_of([a, b])
                assert leader is a
                standby = b
                async with RouterClient(leader.address) as client:
                    await client.create_exchange("orders", ["order.*"])
                    await client.publish([OutgoingEvent("order.created", b"before")])
                assert leader.process is not None
                if silence == "frozen":
                    leader.process.send_signal(signal.SIGSTOP)
                else:
                    relay.cut()
                frozen = time.monotonic()
                # Publishes sent to the frozen leader: they wait in its socket.
                pending = [OutgoingEvent("order.created", b"to the frozen one") for _ in range(5)]
                stuck = RouterClient(leader.address)
                calls = [
                    asyncio.ensure_future(stuck.publish([event], timeout=60)) for event in pending
                ]
                async with RouterClient(standby.address) as client:

                    async def taken_over() -> bool:
                        with contextlib.suppress(*FAILURES):
                            # Refused by the standby, sent on to the frozen leader, silent
                            # there past the timeout: back to the list, until it leads.
                            await client.publish(
                                [OutgoingEvent("order.created", b"after")], timeout=1
                            )
                            return True
                        return False

                    await until(taken_over, timeout=30)
                    assert time.monotonic() - frozen >= 2.0, "taken over inside the lease"
                    acked_after = {
                        ack.id
                        for ack in await client.publish(
                            [OutgoingEvent("order.created", b"new leader") for _ in range(10)]
                        )
                    }
                if silence == "frozen":
                    leader.process.send_signal(signal.SIGCONT)
                else:
                    relay.heal()
                results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 30)
                stuck.close()
                # Woken, it stands by: a call is refused with the new leader's address.
                async with RouterClient(leader.address, failover_s=0) as client:

                    async def refuses() -> bool:
                        try:
                            await client._connection.stubs["admin"].ListExchanges(
                                pb.ListExchangesRequest(), timeout=2
                            )
                        except GRPCError as error:
                            return error.status is Status.UNAVAILABLE and standby.address in (
                                error.message or ""
                            )
                        except FAILURES:
                            return False
                        return False

                    await until(refuses, timeout=30)
                return {e.id for e in pending}, results, acked_after

            sent_frozen, results, acked_after = asyncio.run(asyncio.wait_for(scenario(), 120))
            stored = set(asyncio.run(exchange_ids(b.address if leads(b) else a.address, "orders")))
            # Both still run, and stop cleanly: stepping down is not an exit.
            assert a.process is not None and a.process.poll() is None, a.log()[-3000:]
            assert [a.stop(), b.stop()] == [0, 0]
            assert "Traceback" not in a.log(), a.log()[-3000:]
        finally:
            relay.heal()
            for router in (a, b):
                if router.process is not None and router.process.poll() is None:
                    router.process.send_signal(signal.SIGCONT)
                router.stop()
            relay.close()
        with psycopg.connect(url) as connection:
            epochs = connection.execute(
                "SELECT epoch, name FROM router_epochs ORDER BY epoch"
            ).fetchall()

    assert all(isinstance(r, BaseException) for r in results), (
        f"acked by a deposed leader: {results}"
    )
    assert not (sent_frozen & stored), "a deposed leader committed after waking"
    assert acked_after <= stored
    assert [epoch for epoch, _ in epochs] == [1, 2], epochs
    assert epochs[0][1] != epochs[1][1]
    record(
        f"{silence} leader",
        lease_s=float(LEASE[:-1]),
        refused=len(results),
        committed_after=len(sent_frozen & stored),
    )
