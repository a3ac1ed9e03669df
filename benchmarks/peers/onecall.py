"""One event per call: what a service that publishes on each of its requests costs the router.

RATE unary ``Publish`` calls a second, one event each, each call a task of its own (as the
independent requests of a service would be), for SECONDS: the router process's CPU per call (from
/proc, all its threads), its threads' voluntary context switches per call (each hand-off from one
thread to another that was waiting is one: the crossings an event costs), and each call's round
trip, p50/p99. Beside it, the floor under any
grpclib service: a bare grpclib unary call (grpclib's own ``Health.Check``) to a server alone in
its process (``python -m benchmarks.peers.onecall PORT``), at the same rate, with its CPU per call.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

from benchmarks.core import Percentiles
from benchmarks.peers.common import PAYLOAD, Figures
from router.client import OutgoingEvent, RouterClient
from tests.helpers.server import free_port, wait_for_port

RATE = 1_000
SECONDS = 5.0
ROWS = [
    "one event per call at 1000/s: server CPU per call (us)",
    "one event per call at 1000/s: p50 (ms)",
    "one event per call at 1000/s: p99 (ms)",
    "one event per call at 1000/s: server context switches per call",
]
ECHO = "grpclib echo"


def switches(pid: int) -> int:
    """Voluntary context switches of all the threads of ``pid`` so far."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/status") as status:
                for line in status:
                    if line.startswith("voluntary_ctxt_switches"):
                        total += int(line.split()[1])
        except OSError:
            continue  # a thread that ended meanwhile
    return total


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process ``pid`` has used, all its threads."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def paced(call: Callable[[], Awaitable[object]], pid: int) -> Figures:
    """``call`` RATE times a second for SECONDS, each in a task of its own; the server's CPU per
    call and the round trips."""
    for _ in range(50):  # warm up: connections made, code paths taken once
        await call()
    total = int(RATE * SECONDS)
    round_trips: list[float] = []

    async def one() -> None:
        began = time.perf_counter()
        await call()
        round_trips.append((time.perf_counter() - began) * 1000)

    before, switched = cpu_s(pid), switches(pid)
    start = time.perf_counter()
    tasks = []
    for n in range(total):
        delay = start + n / RATE - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing to the fixed rate under test
        tasks.append(asyncio.ensure_future(one()))
    await asyncio.gather(*tasks)
    used, switched = cpu_s(pid) - before, switches(pid) - switched
    times = Percentiles.of(round_trips)
    return {
        ROWS[0]: used / total * 1e6,
        ROWS[1]: times.p50,
        ROWS[2]: times.p99,
        ROWS[3]: switched / total,
    }


async def router_figures(client: RouterClient, pid: int) -> Figures:
    async def publish() -> None:  # a new event (and id) each call
        await client.publish([OutgoingEvent("bench.one", PAYLOAD)])

    return await paced(publish, pid)


def echo_figures() -> Figures:
    """The bare grpclib round trip, against a server in a process of its own."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "benchmarks.peers.onecall", str(port)])
    try:
        wait_for_port(port, server)
        return asyncio.run(_echo(server.pid, port))
    finally:
        server.terminate()
        server.wait(10)


async def _echo(pid: int, port: int) -> Figures:
    from grpclib.client import Channel
    from grpclib.health.v1.health_grpc import HealthStub
    from grpclib.health.v1.health_pb2 import HealthCheckRequest

    channel = Channel("127.0.0.1", port)
    try:
        stub = HealthStub(channel)
        return await paced(lambda: stub.Check(HealthCheckRequest()), pid)
    finally:
        channel.close()


async def _serve(port: int) -> None:
    from grpclib.health.service import Health
    from grpclib.server import Server

    server = Server([Health()])
    await server.start("127.0.0.1", port)
    await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(_serve(int(sys.argv[1])))
