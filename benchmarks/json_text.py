"""What reading REST JSON with the router's bounds costs against ``json.loads`` alone.

    python -m benchmarks.json_text                  # a few seconds
    python -m benchmarks.json_text --before PATH    # also an older router/core/jsontext.py, side by side

Three bodies: a publish of an order with 22 items (many numbers, 1.0 KB), one with mostly text
(0.9 KB) and a small one (64 B); each read in turns, the best of several repeats kept, in
microseconds a read. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import timeit
from collections.abc import Callable
from typing import Any

from router.core import jsontext

ITEMS = [{"sku": i, "qty": i % 7, "price": round(i * 1.37, 2), "tax": 0.2} for i in range(22)]
BODIES = {
    "numbers": {"events": [{"type": "order.paid", "data": {"id": 987654, "items": ITEMS}}]},
    "text": {
        "events": [
            {
                "type": "order.paid",
                "headers": {"trace": "abcdef" * 4},
                "data": {"name": "Ernest Hemingway", "note": "the quick brown fox jumps " * 30},
            }
        ]
    },
    "small": {"events": [{"type": "order.paid", "data": {"id": 42, "total": 12.5}}]},
}


def _module(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("jsontext_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="an older router/core/jsontext.py to time beside this one")
    parser.add_argument("--number", type=int, default=10_000, help="reads a timing")
    args = parser.parse_args()
    readers: dict[str, Callable[[bytes], Any]] = {"json.loads": json.loads}
    if args.before:
        readers["before"] = _module(args.before).loads
    readers["jsontext.loads"] = jsontext.loads
    for name, body in BODIES.items():
        raw = json.dumps(body, separators=(",", ":")).encode()
        best: dict[str, float] = {}
        for _ in range(5):  # in turns, so that drift of the machine falls on each
            for label, read in readers.items():
                took = min(
                    timeit.repeat(functools.partial(read, raw), number=args.number, repeat=3)
                )
                best[label] = min(best.get(label, float("inf")), took / args.number * 1e6)
        shown = ", ".join(f"{label} {us:.1f} us" for label, us in best.items())
        print(f"{name} ({len(raw)} B): {shown}")


if __name__ == "__main__":
    main()
