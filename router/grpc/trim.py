"""Giving memory freed by a call back to the system once the call is over.

``few_arenas`` (at start-up, before threads begin) keeps glibc to ARENAS pools for all threads:
with one pool per thread, the reader threads' pools kept what large replayed events had used
(20 streams over 1 MB events held +205 MB, and +96 MB after they closed and were trimmed;
with two pools +115 MB and +19 MB). MALLOC_ARENA_MAX in the environment wins.

A stream that sent large events leaves its freed buffers in the C allocator's per-thread pools
(the gRPC thread's HTTP/2 frames are 16 KiB pieces, below the size the allocator maps alone), and
glibc returns such pools to the system only from their top: 20 streams that had sent 1 MB events
left about 100 MB held after they closed. ``malloc_trim`` returns the free pages of every pool.
It walks the pools (a few milliseconds on a large heap), so it runs at most once per
``EVERY_S``, on a worker thread, and only where glibc provides it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import threading
import time
from collections.abc import Callable

log = logging.getLogger("router.grpc.trim")
EVERY_S = 1.0
ARENAS = 2
_M_ARENA_MAX = -8  # glibc's mallopt parameter


def few_arenas(count: int = ARENAS) -> None:
    """Keep glibc to ``count`` allocation pools (a no-op elsewhere, or when
    MALLOC_ARENA_MAX is set). Call before threads start."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        ctypes.CDLL(name).mallopt(_M_ARENA_MAX, count)
    except (OSError, AttributeError):
        pass  # not glibc


def _glibc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None  # not glibc (musl, macOS): nothing to do
    return trim


class Trimmer:
    """``soon()`` asks for a trim; one runs on a thread, at most once per ``every_s``."""

    def __init__(self, every_s: float = EVERY_S) -> None:
        self._trim = _glibc_trim()
        self._every_s = every_s
        self._lock = threading.Lock()
        self._last = 0.0
        self._running = False
        self._asked = False
        self.trims = 0

    def soon(self) -> None:
        if self._trim is None:
            return
        with self._lock:
            self._asked = True
            if self._running:
                return  # the running thread trims again for this ask
            self._running = True
        threading.Thread(target=self._run, name="malloc-trim", daemon=True).start()

    def _run(self) -> None:
        assert self._trim is not None
        while True:
            with self._lock:
                if not self._asked:
                    self._running = False
                    return
                self._asked = False
            wait = self._last + self._every_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)  # at most one trim per period: asks meanwhile join this one
            self._trim(0)
            self.trims += 1
            self._last = time.monotonic()
