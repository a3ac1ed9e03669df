"""A router process seen from /proc, for tests that bound what it holds: its descriptors, its
sockets connected to one address, the most descriptors it held over a while."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable


def descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def connections_from(pid: int, source: str) -> int:
    """How many of the router's sockets are connected to ``source`` (an IPv4 address), read
    from /proc: its own descriptors matched against the kernel's TCP table."""
    held = set()
    for name in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            held.add(os.readlink(f"/proc/{pid}/fd/{name}"))
    remote = "".join(f"{int(part):02X}" for part in reversed(source.split(".")))
    count = 0
    with open(f"/proc/{pid}/net/tcp") as table:
        for line in list(table)[1:]:
            fields = line.split()
            if fields[2].split(":")[0] == remote and f"socket:[{fields[9]}]" in held:
                count += 1
    return count


def wait_until(check: Callable[[], bool], timeout: float) -> None:
    """Poll ``check`` every 50 ms until it holds; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {check}")
        time.sleep(0.05)  # a poll under a deadline: the router's state has no event


class DescriptorPeak:
    """The most descriptors the router held while the ``with`` block ran (sampled every 5 ms)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = descriptors(pid)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample)

    def _sample(self) -> None:
        while not self._done.wait(0.005):
            self.peak = max(self.peak, descriptors(self.pid))

    def __enter__(self) -> DescriptorPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
