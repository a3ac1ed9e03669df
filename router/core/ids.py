"""Event ids: UUIDv7 (RFC 9562), time-ordered, for events published without one.

A v7 id begins with the Unix time in milliseconds, so ids made one after another sort together
and land on the same pages of an id index, where random v4 ids land anywhere. Layout (128 bits)::

    unix_ts_ms (48) | ver = 7 (4) | counter (12) | var = 0b10 (2) | random (62)

The 12 bits after the version are a counter within the millisecond (RFC 9562, 6.2 method 1),
started at a random value below 2,048 each new millisecond, so the ids one process makes sort in
the order it made them; past 4,095 ids in one millisecond, or when the clock steps back, the
millisecond of the last id is carried on, not the clock's. The 62 random bits keep ids from
different processes (or threads racing on the counter) apart.
"""

from __future__ import annotations

import os
import time

_VERSION = 0x7 << 76
_VARIANT = 0b10 << 62
_RANDOM = (1 << 62) - 1
_last_ms = 0
_counter = 0


def uuid7() -> str:
    """A new UUIDv7 in its canonical text (lower-case, hyphenated)."""
    global _last_ms, _counter
    ms = time.time_ns() // 1_000_000
    if ms > _last_ms:
        _last_ms = ms
        _counter = int.from_bytes(os.urandom(2)) & 0x7FF
    else:  # the same millisecond, or the clock stepped back: keep the order
        _counter += 1
        if _counter > 0xFFF:
            _last_ms += 1
            _counter = 0
    random = int.from_bytes(os.urandom(8)) & _RANDOM
    text = f"{_last_ms << 80 | _VERSION | _counter << 64 | _VARIANT | random:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
