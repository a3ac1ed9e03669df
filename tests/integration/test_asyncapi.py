"""The router's AsyncAPI 3.0 document over REST, gRPC and the CLI, on both stores: it validates
against the specification's JSON Schema and says which exchanges carry which registered types."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import httpx
import jsonschema_rs

from router.client import RouterClient
from router.core.model import ExchangeRecord, TypeSchema
from router.core.settings import Settings
from router.observe.asyncapi import covered, document, key, overlap
from tests.helpers.asyncapi_spec import asyncapi_schema
from tests.helpers.server import ADMIN_TOKEN, RouterProcess

ORDER = {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}


def test_the_document_validates_and_names_exchanges_and_types(
    db_url: str, tmp_path: object
) -> None:
    router = RouterProcess(db_url, f"{tmp_path}/router.log").start()

    async def prepare() -> dict[str, Any]:
        async with RouterClient(router.address) as client:
            await client.create_exchange("orders", ["order.*"])
            await client.create_exchange("everything", ["#"])
            await client.create_exchange("refunds", ["refund.created"])
            await client.register_type("order.created", ORDER, description="An order", owner="shop")
            await client.register_type("refund.#", {"type": "object"}, mode="warn")
            return await client.asyncapi()

    try:
        over_grpc = asyncio.run(prepare())
        with httpx.Client(base_url=router.http, timeout=30) as http:
            assert http.get("/asyncapi.json").status_code == 401
            over_rest = http.get(
                "/asyncapi.json", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
            ).json()
            page = http.get("/asyncapi")
            assert page.status_code == 200 and "/asyncapi.js" in page.text
        printed = subprocess.run(
            [sys.executable, "-m", "router", "--server", router.address, "asyncapi"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert printed.returncode == 0, printed.stderr
        assert over_grpc == over_rest == json.loads(printed.stdout)
        document = over_rest
        validator = jsonschema_rs.Draft7Validator(asyncapi_schema())
        errors = [f"{list(e.instance_path)}: {e.message}" for e in validator.iter_errors(document)]
        assert not errors, errors[:5]
        assert document["asyncapi"] == "3.0.0"
        assert document["servers"]["grpc"]["host"] == router.address
        assert document["servers"]["rest"]["protocol"] == "http"
        assert document["components"]["securitySchemes"]["token"]["scheme"] == "bearer"

        def carried(channel: str) -> set[str]:
            return {
                document["components"]["messages"][ref["$ref"].rsplit("/", 1)[1]]["name"]
                for ref in document["channels"][channel]["messages"].values()
            }

        assert carried("orders") == {"order.created", "unregistered"}
        assert carried("refunds") == {"refund.#"}  # all it carries has a schema
        assert carried("everything") == {"order.created", "refund.#", "unregistered"}
        assert carried("publish") == {"order.created", "refund.#", "unregistered"}
        message = document["components"]["messages"]["type.order.created"]
        assert message["payload"]["schema"] == ORDER
        assert (message["x-version"], message["x-mode"], message["x-owner"]) == (
            1,
            "enforce",
            "shop",
        )
        assert document["operations"]["consume-orders"]["action"] == "send"
        assert document["operations"]["publish"]["action"] == "receive"
    finally:
        router.stop()


def test_pattern_overlap_and_cover() -> None:
    assert overlap("order.*", "#") and overlap("a.#.b", "a.*") and overlap("a.#", "#.b")
    assert not overlap("order.*", "refund.#") and not overlap("a.*", "a.b.c")
    assert overlap("a.#", "a") and not overlap("a.*", "a")
    assert covered(("refund.created",), ["refund.#"]) and covered(("x.*",), ["#"])
    assert not covered(("order.*",), ["order.created"]) and not covered(("a",), [])


def test_no_two_patterns_or_exchanges_share_a_key() -> None:
    names = ["xss.*", "xss.star", "xss._star", "a.#", "a.hash", "a_b", "a__b", "a:b", "a_x3a_b"]
    assert len({key(n) for n in names}) == len(names)
    types = [TypeSchema(p, 1, "{}", "warn", "", "", 0, "") for p in ("xss.*", "xss.star")]
    exchanges = [
        ExchangeRecord(1, "publish", ("xss.*",), 0),
        ExchangeRecord(2, "xss", ("xss.star",), 0),
    ]
    made = document(Settings(db_url="sqlite:///unused.db"), exchanges, types)
    messages = made["components"]["messages"]
    assert sorted(m["name"] for m in messages.values()) == ["unregistered", "xss.*", "xss.star"]
    assert set(made["channels"]) == {"publish", "publish_", "xss"}
    assert made["channels"]["publish_"]["address"] == "publish"
    assert len(made["channels"]["publish"]["messages"]) == 3


def test_keys_take_the_form_docs_contracts_gives() -> None:
    """The rule and examples in docs/contracts.md, which code generated from a document uses."""
    shown = {
        "order.*": "order._star",
        "audit.#": "audit._hash",
        "billing_eu": "billing__eu",
        "a b": "a_x20_b",
        "xss.star": "xss.star",
        "Orders-2.v1": "Orders-2.v1",
    }
    assert {name: key(name) for name in shown} == shown
