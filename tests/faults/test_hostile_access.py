"""Hostile callers of the access checks, against one real router: a flood of guessed tokens,
tokens revoked or expired and grants taken while a stream publishes, and quota floods. Every
refusal is the right status, nothing refused is stored, and a legitimate user goes on.
(Grants taken from an open Subscribe stream: tests/integration/test_grants.py.)"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError, StreamTerminatedError

from router._proto.router.v1 import router_pb2 as pb
from router.client import OutgoingEvent, RouterClient
from tests.helpers.polling import until
from tests.helpers.report import record
from tests.helpers.server import ADMIN_TOKEN, RouterProcess, running_router

GUESSES_PER_S = 500
SECONDS = 4.0


@pytest.fixture
def router(sqlite_url: str, tmp_path: object) -> Iterator[RouterProcess]:
    with running_router(sqlite_url, str(tmp_path)) as process:
        yield process


async def paced_publishes(client: RouterClient, rate: int, seconds: float) -> list[float]:
    """One-event publishes at ``rate``/s for ``seconds``: each one's time to its ack, in ms."""
    took: list[float] = []
    began = time.perf_counter()
    for number in range(int(rate * seconds)):
        delay = began + number / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing to the fixed rate under test
        sent = time.perf_counter()
        await client.publish([OutgoingEvent("order.created", b"{}")], timeout=10)
        took.append((time.perf_counter() - sent) * 1000)
    return took


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def test_a_token_guessing_flood_is_refused_counted_and_publishers_go_on(
    router: RouterProcess,
) -> None:
    async def legitimate(seconds: float) -> list[float]:
        async with RouterClient(router.address) as client:
            return await paced_publishes(client, 100, seconds)

    async def setup() -> None:
        async with RouterClient(router.address) as admin:
            await admin.create_exchange("orders", ["order.#"])

    asyncio.run(setup())
    quiet = asyncio.run(legitimate(SECONDS))
    guesser = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.helpers.guesser",
            router.address,
            str(SECONDS + 1),
            str(GUESSES_PER_S),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        flooded = asyncio.run(legitimate(SECONDS))
        out, _ = guesser.communicate(timeout=60)
    finally:
        if guesser.poll() is None:
            guesser.kill()
    outcomes = json.loads(out)
    guesses = int((SECONDS + 1) * GUESSES_PER_S)
    assert outcomes.get("UNAUTHENTICATED") == guesses, outcomes  # every guess refused, none in
    admin = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    metrics = httpx.get(f"{router.http}/metrics", headers=admin).text
    counted = [
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith('router_auth_failures_total{source="127.0.0.1"}')
    ]
    assert counted and counted[0] >= guesses
    with open(router.log_path) as file:
        log = file.read()
    assert log.count("authentication failed source=127.0.0.1") <= 2  # rate-limited
    # No guessed token reaches the log (the admin's is printed once, at the first start).
    assert "rtr_" not in log.replace(ADMIN_TOKEN, "")

    async def stored() -> int:
        async with RouterClient(router.address) as client:
            return (await client.server_info()).last_seq

    assert asyncio.run(stored()) == len(quiet) + len(flooded)  # only the legitimate ones
    record(
        "token guessing",
        guesses=guesses,
        guesses_per_s=GUESSES_PER_S,
        legit_p99_quiet_ms=round(p99(quiet), 1),
        legit_p99_flooded_ms=round(p99(flooded), 1),
        ratio=round(p99(flooded) / p99(quiet), 2),
    )
    # Bounded, not timed closely (benchmarks/ measure speed): no legitimate publish waited long.
    assert max(flooded) < 2_000


async def open_publish_stream(client: RouterClient) -> tuple[object, object]:
    """A publish stream with one batch acked: (its context manager, the stream)."""
    manager = client.publish_stream()
    stream = await manager.__aenter__()
    await stream.send_message(pb.PublishRequest(events=[pb.Event(type="order.created")]))
    assert (await stream.recv_message()).acks
    return manager, stream


async def next_refused(manager: Any, stream: Any) -> GRPCError:
    """Send one more batch on ``stream``, ending it: the status the call ends with. (A refused
    stream ends without a message; grpclib reports its status from the trailers, or, when the
    router's reset arrives first, at the stream's exit.)"""
    try:
        request = pb.PublishRequest(events=[pb.Event(type="order.created")])
        await stream.send_message(request, end=True)
        assert await stream.recv_message() is None, "the batch was let through"
        await stream.recv_trailing_metadata()
    except (GRPCError, StreamTerminatedError) as error:
        try:
            await manager.__aexit__(type(error), error, error.__traceback__)
        except GRPCError as status:  # the reset, turned into the trailers' status
            return status
        if isinstance(error, GRPCError):
            return error
        raise
    raise AssertionError("the stream ended without an error")


def test_a_publish_stream_ends_when_its_token_or_grant_goes_and_stores_nothing_after(
    router: RouterProcess,
) -> None:
    async def story() -> None:
        async with RouterClient(router.address) as admin:
            await admin.create_exchange("orders", ["order.#"])
            for name in ("revoked", "expiring", "regranted"):
                await admin.add_user(name, "publisher")
            tokens = {
                "revoked": await admin.issue_token("revoked"),
                "expiring": await admin.issue_token("expiring", expires_in_s=2),
                "regranted": await admin.issue_token("regranted"),
            }
            streams = {}
            for name, issued in tokens.items():
                client = RouterClient(router.address, token=issued.token)
                await client.__aenter__()
                streams[name] = (client, *await open_publish_stream(client))
            before = (await admin.server_info()).last_seq

            await admin.revoke_token(tokens["revoked"].token_id)
            await admin.revoke_grants("regranted", [pb.Grant(action="publish", pattern="#")])

            async def expired() -> bool:
                return time.time() * 1e6 >= tokens["expiring"].expires_at_us

            await until(expired, timeout=10)
            expected = {
                "revoked": Status.UNAUTHENTICATED,
                "expiring": Status.UNAUTHENTICATED,
                "regranted": Status.PERMISSION_DENIED,
            }
            for name, (client, manager, stream) in streams.items():
                refusal = await next_refused(manager, stream)
                assert refusal.status is expected[name], (name, refusal)
                await client.__aexit__(None, None, None)
            assert (await admin.server_info()).last_seq == before  # nothing got in after

    asyncio.run(story())


def test_quota_floods_are_refused_and_leave_others_alone(router: RouterProcess) -> None:
    async def story() -> dict[str, int]:
        async with RouterClient(router.address) as admin:
            await admin.create_exchange("orders", ["order.#"])
            flooder = (await admin.add_user("flooder", "publisher")).token.token
            await admin.add_grants("flooder", [pb.Grant(action="consume", pattern="*")])
            await admin.set_quotas("flooder", events_per_s=200, streams=2, subscribers=3)
            calm = (await admin.add_user("calm", "publisher")).token.token
        outcomes = {"acked": 0, "refused": 0, "calm": 0}

        async def flood() -> None:
            async with RouterClient(router.address, token=flooder) as client:
                deadline = time.perf_counter() + 3
                while time.perf_counter() < deadline:
                    try:
                        await client.publish([OutgoingEvent("order.created") for _ in range(10)])
                        outcomes["acked"] += 10
                    except GRPCError as error:
                        assert error.status is Status.RESOURCE_EXHAUSTED, error
                        outcomes["refused"] += 1

        async def steady() -> None:
            async with RouterClient(router.address, token=calm) as client:
                for _ in range(60):
                    await client.publish([OutgoingEvent("order.created") for _ in range(10)])
                    outcomes["calm"] += 10
                    await asyncio.sleep(0.05)  # a steady publisher beside the flood

        began = time.perf_counter()
        await asyncio.gather(*(flood() for _ in range(4)), steady())
        seconds = time.perf_counter() - began
        # The bucket holds one second's worth and refills at the rate.
        assert outcomes["acked"] <= 200 * (seconds + 1), (outcomes, seconds)
        assert outcomes["refused"] > 0 and outcomes["calm"] == 600

        async with RouterClient(router.address, token=flooder) as client:
            subscriptions = []
            refused = 0
            for number in range(20):
                try:
                    subscription = client.subscribe("orders", f"s{number % 5}", "latest")
                    await subscription.__aenter__()
                    subscriptions.append(subscription)
                except GRPCError as error:
                    assert error.status is Status.RESOURCE_EXHAUSTED, error
                    refused += 1
            assert len(subscriptions) <= 2 and refused >= 18
            for subscription in subscriptions:
                await subscription.__aexit__(None, None, None)
        async with RouterClient(router.address) as admin:
            stored = (await admin.server_info()).last_seq
            assert stored == outcomes["acked"] + outcomes["calm"]
            assert len(await admin.list_subscribers("orders")) <= 3
        return outcomes

    outcomes = asyncio.run(story())
    record("quota flood", **outcomes)
