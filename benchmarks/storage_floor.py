"""The storage floor of confirmed publish: the SQLite store's commit alone, as the state actor
runs it (plan, id index, events, exchange log, fsynced commit), with no router, no gRPC and no
client in the process. What a durable publish through this store can reach at most, on this
machine, is 1,000,000 / these microseconds events a second.

    python -m benchmarks.storage_floor [--events 300000] [--commit 2000]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from router.core.ids import uuid7
from router.core.model import NewEvent
from router.core.patterns import matches
from storage import open_storage
from storage.base import Append

from .core import announce


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--commit", type=int, default=2_000, help="events a commit")
    args = parser.parse_args()
    announce("storage floor (SQLite commit alone)")
    with tempfile.TemporaryDirectory() as folder:
        store = open_storage(f"sqlite:///{folder}/floor.db")
        try:
            store.migrate()
            bench = store.create_exchange("bench", ("bench.#",), 1, lambda t: matches("bench.#", t))
            positions = store.positions()
            spent: list[float] = []
            cpu = time.process_time()
            for start in range(0, args.events, args.commit):
                count = min(args.commit, args.events - start)
                events = [NewEvent(uuid7(), "bench.event", b"x" * 200) for _ in range(count)]
                began = time.perf_counter()
                result = store.commit(
                    [Append(events, [(bench.id,)] * count)], {}, positions, time.time_ns() // 1000
                )
                spent.append(time.perf_counter() - began)
                positions = result.positions
            cpu = time.process_time() - cpu
        finally:
            store.close()
    per_event = sum(spent) / args.events * 1e6
    tenth = max(1, len(spent) // 10)
    first = sum(spent[:tenth]) / (tenth * args.commit) * 1e6
    last = sum(spent[-tenth:]) / (tenth * args.commit) * 1e6
    print(f"commit: {per_event:.2f} us an event (first tenth {first:.2f}, last tenth {last:.2f})")
    print(f"process CPU, events made included: {cpu / args.events * 1e6:.2f} us an event")
    print(f"at most {1e6 / per_event:,.0f} events/s through this store's one writer")


if __name__ == "__main__":
    main()
