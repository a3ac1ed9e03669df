"""What checking payloads against an event type's JSON Schema costs: publish throughput of a
realistic order event (about 200 bytes of JSON) under an ``enforce`` schema against the same
events of a type without one, in the same run.

    just bench-contracts                       # SQLite, 200,000 events a measurement, 3 rounds
    python -m benchmarks.contracts --events 50000 --rounds 2

One `router serve` process on a fresh SQLite file; the two types take turns (the order flips
each round) so that drift of the machine falls on both. Prints each round, the medians' ratio
(schema / none; 1.0 means checking costs nothing) and the check alone in microseconds a payload,
measured in this process. Figures are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time

from router.client import RouterClient
from router.control.schemas import compile_schema, payload_document, violation
from tests.helpers.server import RouterProcess

from .core import announce, publish_stream, rounds_parser

ORDER = json.dumps(
    {
        "order_id": "o-2026-000123",
        "customer": {"id": "c-981", "country": "NL"},
        "items": [
            {"sku": "SKU-1", "quantity": 2, "price": 19.95},
            {"sku": "SKU-77", "quantity": 1, "price": 5.5},
        ],
        "total": 45.4,
        "currency": "EUR",
        "placed_at": "2026-12-05T10:00:00Z",
    },
    separators=(",", ":"),
).encode()
SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["order_id", "customer", "items", "total", "currency", "placed_at"],
    "additionalProperties": False,
    "properties": {
        "order_id": {"type": "string", "pattern": "^o-[0-9]{4}-[0-9]+$"},
        "customer": {
            "type": "object",
            "required": ["id"],
            "properties": {
                "id": {"type": "string", "minLength": 1},
                "country": {"type": "string", "minLength": 2, "maxLength": 2},
            },
        },
        "items": {
            "type": "array",
            "minItems": 1,
            "maxItems": 100,
            "items": {
                "type": "object",
                "required": ["sku", "quantity", "price"],
                "properties": {
                    "sku": {"type": "string"},
                    "quantity": {"type": "integer", "minimum": 1},
                    "price": {"type": "number", "minimum": 0},
                },
            },
        },
        "total": {"type": "number", "minimum": 0},
        "currency": {"enum": ["EUR", "USD", "GBP"]},
        "placed_at": {"type": "string", "format": "date-time"},
    },
}
TYPES = {"no schema": "plain.order", "enforce": "checked.order"}


async def prepare(router: RouterProcess) -> None:
    async with RouterClient(router.address) as admin:
        await admin.create_exchange("bench", ["#"])
        await admin.register_type("checked.order", SCHEMA, mode="enforce", owner="bench")


async def measure(router: RouterProcess, type_: str, events: int) -> float:
    async with RouterClient(router.address) as client:
        return events / await publish_stream(client, events, type_=type_, payload=ORDER)


def check_alone(count: int = 20_000) -> float:
    """Microseconds to parse and check one payload, as the router does (one core, no I/O)."""
    _, validator = compile_schema(json.dumps(SCHEMA))
    began = time.perf_counter()
    for _ in range(count):
        document, _ = payload_document(ORDER)
        assert violation(validator, document) is None
    return (time.perf_counter() - began) / count * 1e6


def main() -> None:
    parser = rounds_parser(__doc__)
    args = parser.parse_args()
    announce(f"event type schema benchmark, payload {len(ORDER)} bytes")
    figures: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        router = RouterProcess(
            f"sqlite:///{folder}/contracts.db", os.path.join(folder, "router.log")
        ).start()
        try:
            asyncio.run(prepare(router))
            for round_ in range(args.rounds):
                order = list(TYPES) if round_ % 2 == 0 else list(reversed(TYPES))
                for name in order:
                    rate = asyncio.run(measure(router, TYPES[name], args.events))
                    figures.setdefault(name, []).append(rate)
                    print(f"round {round_ + 1}: publish, {name}: {rate:,.0f} events/s", flush=True)
        finally:
            router.stop(60)
    plain = statistics.median(figures["no schema"])
    checked = statistics.median(figures["enforce"])
    print(f"\npublish (events/s): no schema {plain:,.0f}, enforce {checked:,.0f}")
    print(f"ratio enforce / no schema: {checked / plain:.3f} (medians of {args.rounds} rounds)")
    print(f"the check alone: {check_alone():.1f} us a payload (parse + validate, this process)")


if __name__ == "__main__":
    main()
