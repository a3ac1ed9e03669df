"""Event types with schemas over real gRPC, REST and the CLI, on both stores: enforce refuses a
batch naming the event and the JSON path, warn stores and counts, versions narrower than the one
before are refused unless forced, and the registry survives a restart."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from router.client import OutgoingEvent, RouterClient
from tests.helpers.server import ADMIN_TOKEN, RouterProcess

ORDER = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["id", "amount"],
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "amount": {"type": "number", "minimum": 0},
        "items": {
            "type": "array",
            "items": {"type": "object", "required": ["sku"], "properties": {"sku": {}}},
        },
    },
}


def order(**fields: Any) -> OutgoingEvent:
    return OutgoingEvent("order.created", json.dumps(fields).encode())


async def refused(call: Any, status: Status = Status.INVALID_ARGUMENT) -> str:
    with pytest.raises(GRPCError) as error:
        await call
    assert error.value.status is status, error.value
    return str(error.value.message)


def cli(
    router: RouterProcess, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "router", "--server", router.address, *args],
        capture_output=True,
        text=True,
        timeout=60,
        input=stdin,
    )


def test_schemas_enforce_warn_and_version_on_both_stores(db_url: str, tmp_path: object) -> None:
    router = RouterProcess(db_url, f"{tmp_path}/router.log").start()

    async def registered() -> None:
        async with RouterClient(router.address) as client:
            await client.create_exchange("orders", ["order.*"])
            made = await client.register_type(
                "order.created", ORDER, description="An order was placed", owner="shop"
            )
            assert (made.version, made.mode, made.owner) == (1, "enforce", "shop")
            # Registering the same again is not a new version.
            assert (
                await client.register_type(
                    "order.created", ORDER, owner="shop", description="An order was placed"
                )
            ).version == 1
            good = order(id="o-1", amount=3.5, items=[{"sku": "a"}])
            bad = order(id="o-2", amount=1, items=[{"sku": "a"}, {"qty": 2}])
            message = await refused(client.publish([good, bad]))
            assert "events[1].payload" in message and "$.items[1]" in message
            assert "sku" in message and "version 1" in message
            message = await refused(client.publish([OutgoingEvent("order.created", b"not json")]))
            assert "events[0].payload: $: the payload is not JSON" in message
            # Nothing of a refused batch is stored; other types are not checked.
            acks = await client.publish([good, OutgoingEvent("order.shipped", b"anything")])
            assert [a.seq for a in acks] == [1, 2]
            # Narrower versions are refused unless forced; wider ones are new versions.
            narrower = {**ORDER, "required": ["id", "amount", "currency"]}
            message = await refused(
                client.register_type("order.created", narrower), Status.FAILED_PRECONDITION
            )
            assert "['currency'] newly required" in message and "force" in message
            wider = {**ORDER, "required": ["id"]}
            wider_made = await client.register_type("order.created", wider, mode="warn")
            assert (wider_made.version, wider_made.mode) == (2, "warn")
            # Warn: stored and counted.
            acks = await client.publish([order(id="", amount=-1)])
            assert acks[0].seq == 3
            shown = await client.get_type("order.created")
            assert (shown.version, shown.warned, list(shown.versions)) == (2, 1, [1, 2])
            assert (await client.get_type("order.created", 1)).mode == "enforce"
            # From warn to enforce while payloads were stored despite the schema: refused.
            message = await refused(
                client.register_type("order.created", wider, mode="enforce"),
                Status.FAILED_PRECONDITION,
            )
            assert "1 payloads were stored despite it in warn mode" in message
            # A keyword the comparison cannot weigh must stay as it was.
            odd = {
                **wider,
                "properties": {**wider["properties"], "id": {"type": "string", "pattern": "^o-"}},
            }
            message = await refused(
                client.register_type("order.created", odd), Status.FAILED_PRECONDITION
            )
            assert "'pattern' is new or changed" in message
            forced = await client.register_type("order.created", narrower, force=True)
            assert forced.version == 3
            # Bad input names the field and changes nothing.
            for schema, field in (
                ("{", "schema: not JSON"),
                ('{"type": 12}', "schema: not a valid JSON Schema"),
                (
                    '{"$ref": "https://example.com/x.json"}',
                    "schema: $ref 'https://example.com/x.json'",
                ),
                ('{"$schema": "http://json-schema.org/draft-07/schema#"}', "draft 2020-12"),
                ("[1]", "schema: a JSON Schema is an object or a boolean"),
                ('{"type": "string", "pattern": "(?=a)"}', "schema: not a valid JSON Schema"),
            ):
                assert field in await refused(client.register_type("order.paid", schema))
            assert "mode" in await refused(client.register_type("order.paid", {}, mode="strict"))
            assert "pattern" in await refused(client.register_type("order..", {}))
            huge = json.dumps({"enum": ["x" * 1000] * 300})
            assert "longer than" in await refused(client.register_type("order.paid", huge))
            deep = '{"not": ' * 100 + "{}" + "}" * 100
            assert "nested deeper" in await refused(client.register_type("order.paid", deep))
            assert [t.pattern for t in await client.list_types()] == ["order.created"]

    async def after_restart() -> None:
        async with RouterClient(router.address) as client:
            shown = await client.get_type("order.created")
            assert (shown.version, shown.mode, list(shown.versions)) == (3, "enforce", [1, 2, 3])
            message = await refused(client.publish([order(id="o-9", amount=1)]))
            assert "currency" in message and "version 3" in message
            # A pattern no exponential-time regex can be given: the engine is linear.
            await client.register_type(
                "text.*", {"type": "string", "pattern": "^(a+)+$"}, mode="enforce"
            )
            start = time.monotonic()
            await refused(
                client.publish([OutgoingEvent("text.x", json.dumps("a" * 50_000 + "b").encode())])
            )
            assert time.monotonic() - start < 5
            await client.delete_type("order.created")
            await client.publish([order(id="o-9", amount=1)])
            assert "pattern" in await refused(client.delete_type("order.created"), Status.NOT_FOUND)

    try:
        asyncio.run(registered())
        router.stop()
        router.start()
        asyncio.run(after_restart())
    finally:
        router.stop()


def test_types_over_rest_and_the_cli(sqlite_url: str, tmp_path: object) -> None:
    router = RouterProcess(sqlite_url, f"{tmp_path}/router.log").start()
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    try:
        with httpx.Client(base_url=router.http, timeout=30) as http:
            made = http.put(
                "/v1/types/order.%23",
                json={"schema": ORDER, "mode": "warn", "owner": "shop"},
                headers=admin,
            )
            assert made.status_code == 200, made.text
            assert (made.json()["pattern"], made.json()["version"]) == ("order.#", 1)
            # Bad input: 400 naming the field, nothing registered.
            for body, field in (
                ({"schema": 3}, "schema"),
                ({"schema": {}, "mode": 1}, "mode"),
                ({"schema": {}, "colour": "red"}, "colour"),
                ({"schema": {"type": "nope"}}, "schema"),
            ):
                refused = http.put("/v1/types/refund.created", json=body, headers=admin)
                assert refused.status_code == 400 and field in refused.text, refused.text
            narrower = {**ORDER, "required": ["id", "amount", "currency"]}
            conflict = http.put("/v1/types/order.%23", json={"schema": narrower}, headers=admin)
            assert conflict.status_code == 409 and "force" in conflict.text
            # Any user reads them; only an admin changes them.
            assert http.get("/v1/types").status_code == 401
            added = cli(router, "user", "add", "reader", "--role", "consumer", "--json")
            reader = {"Authorization": f"Bearer {json.loads(added.stdout)['token']}"}
            listed = http.get("/v1/types", headers=reader)
            assert listed.status_code == 200, listed.text
            assert [t["pattern"] for t in listed.json()["types"]] == ["order.#"]
            shown = http.get("/v1/types/order.%23?version=1", headers=reader).json()
            assert shown["schema"] == json.loads(json.dumps(ORDER, sort_keys=True))
            assert http.delete("/v1/types/order.%23", headers=reader).status_code == 403
            assert http.get("/v1/types/refund.%23", headers=reader).status_code == 404
            # A warned event is stored and counted; REST publishes meet the same check.
            published = http.post(
                "/v1/events",
                json={"events": [{"type": "order.created", "data": {"id": 5}}]},
                headers=admin,
            )
            assert published.status_code == 200, published.text
            counted = http.get("/v1/types/order.%23", headers=reader).json()
            assert (counted["checked"], counted["warned"]) == (1, 1)
            assert (
                'router_type_warned_total{pattern="order.#"} 1.0'
                in http.get("/metrics", headers=admin).text
            )
        # The CLI: register from a file, list, show, delete.
        schema = f"{tmp_path}/refund.json"
        with open(schema, "w") as out:
            json.dump({"type": "object", "required": ["refund_id"]}, out)
        made_cli = cli(router, "type", "register", "refund.created", "--schema", schema)
        assert made_cli.returncode == 0, made_cli.stderr
        assert "type refund.created version 1 (enforce)" in made_cli.stdout
        listed_cli = cli(router, "type", "list", "--json")
        assert [json.loads(line)["pattern"] for line in listed_cli.stdout.splitlines()] == [
            "order.#",
            "refund.created",
        ]
        shown_cli = json.loads(cli(router, "type", "show", "refund.created").stdout)
        assert shown_cli["schema"] == {"required": ["refund_id"], "type": "object"}
        refused_cli = cli(router, "publish", "refund.created", "--data", '{"id": 1}')
        assert refused_cli.returncode != 0 and "refund_id" in refused_cli.stderr
        missing = cli(router, "type", "register", "refund.created", "--schema", "/nonexistent")
        assert missing.returncode == 2 and "--schema" in missing.stderr
        assert cli(router, "type", "delete", "refund.created").returncode == 0
        audit = cli(router, "audit", "--json").stdout
        assert '"type.register"' in audit and '"type.delete"' in audit
    finally:
        router.stop()
