"""What every system's workloads share: the payload, the windows, the clocks, the servers' RSS."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable

from benchmarks.core import Percentiles
from tests.helpers.report import rss_mb

PAYLOAD = b"x" * 200
WINDOW = 1_000  # publishes in flight, and messages a consumer asks for at once
FAN_OUT = 10
SUBSCRIBERS = 1_000  # durable subscribers attached for the memory workload
DEADLINE_S = 300.0  # no single phase of a run waits longer than this
RATES = ((1_000, 5.0), (5_000, 3.0))  # latency: events/s, for how long
Figures = dict[str, float]
V4_PUBLISH = "publish, v4 ids"  # the router's publish with random ids, beside the UUIDv7 row


class Progress(Figures):
    """A system's figures, printed as each workload's arrive with how long it took."""

    def __init__(self, system: str) -> None:
        super().__init__()
        self.system = system
        self.mark = time.perf_counter()

    def __setitem__(self, key: str, value: float) -> None:
        super().__setitem__(key, value)
        self._say({key: value})

    def update(self, figures: Figures) -> None:  # type: ignore[override]
        super().update(figures)
        self._say(figures)

    def _say(self, figures: Figures) -> None:
        """The figures just in, so a run cut short still leaves them (and how long they took)."""
        now = time.perf_counter()
        values = ", ".join(f"{key} {value:,.1f}" for key, value in figures.items())
        print(f"  {self.system}: {values} ({now - self.mark:.0f} s)", flush=True)
        self.mark = now


async def timed(work: Awaitable[object]) -> float:
    """Seconds ``work`` took; it fails past DEADLINE_S, so a stuck peer cannot hang the run."""
    began = time.perf_counter()
    await asyncio.wait_for(work, DEADLINE_S)
    return time.perf_counter() - began


class Stamps:
    """Publish times by sequence number; the number rides in the payload's first 8 bytes, so a
    consumer of any system can tell which publish a delivery is."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.sent = [0.0] * total
        self.delays: list[float] = []
        self.all_in = asyncio.Event()

    def payload(self, n: int) -> bytes:
        self.sent[n] = time.perf_counter()
        return n.to_bytes(8, "big") + PAYLOAD[8:]

    def arrived(self, payload: bytes) -> None:
        n = int.from_bytes(payload[:8], "big")
        if n < self.total and self.sent[n]:
            self.delays.append((time.perf_counter() - self.sent[n]) * 1000)
            if len(self.delays) == self.total:
                self.all_in.set()


async def paced(
    rate: int, seconds: float, publish_one: Callable[[bytes], Awaitable[object]], stamps: Stamps
) -> Percentiles:
    """Publish ``stamps.total`` messages at ``rate``/s, each on its own (its confirm awaited
    beside the next publishes, not before them); the delays once the consumer has them all."""
    began = time.perf_counter()
    pending: list[asyncio.Future[object]] = []
    for n in range(stamps.total):
        delay = began + n / rate - time.perf_counter()
        if delay > 0:
            # Pacing: the workload is a fixed publish rate, so the next publish waits for its
            # moment on the clock; there is no event to wait for instead.
            await asyncio.sleep(delay)
        pending.append(asyncio.ensure_future(publish_one(stamps.payload(n))))
    await asyncio.wait_for(asyncio.gather(*pending), DEADLINE_S)
    await asyncio.wait_for(stamps.all_in.wait(), DEADLINE_S)
    return Percentiles.of(stamps.delays)


LATENCY_EVENTS = sum(int(rate * seconds) for rate, seconds in RATES)  # published by latencies()


async def latencies(measure: Callable[[int, float], Awaitable[Percentiles]]) -> Figures:
    """p50/p99/p999 at each of RATES, as ``measure(rate, seconds)`` finds them."""
    out: Figures = {}
    for rate, seconds in RATES:
        delays = await measure(rate, seconds)
        out[f"p50 at {rate}/s (ms)"] = delays.p50
        out[f"p99 at {rate}/s (ms)"] = delays.p99
        out[f"p999 at {rate}/s (ms)"] = delays.p999
    return out


def server_rss(command: str) -> Callable[[], float]:
    """Reads the RSS (MB) of the running server whose executable is named ``command``."""
    pid = server_pid(command)
    return lambda: rss_mb(pid)


def server_pid(command: str) -> int:
    """The PID of the running server whose executable is named ``command`` (its comm)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as comm:
                    if comm.read().strip() == command:
                        return int(entry)
            except OSError:
                continue  # the process ended while we looked
    raise LookupError(f"no running process named {command!r}")


def memory_figures(before: float, attached: float, asleep: float, count: int) -> Figures:
    return {
        "subscribers attached": count,
        "rss before (MB)": before,
        "rss attached (MB)": attached,
        "rss asleep (MB)": asleep,
        "per attached subscriber (KB)": (attached - before) * 1024 / count,
    }
