"""Event types (router.facade.event_types): registered, read by version, listed and deleted on the
nodes that take publishes, and shown in the AsyncAPI document."""

from __future__ import annotations

import json

import pytest

from router.core.errors import NotFound
from router.core.model import Role, UserRecord
from tests.facade import opened, orders

ORDER = json.dumps({"type": "object", "properties": {"sku": {"type": "string"}}})


async def test_a_type_is_registered_read_by_version_listed_and_deleted(sqlite_url: str) -> None:
    async with opened(sqlite_url) as router:
        first = await router.register_type("order.*", ORDER, description="An order", by="ann")
        second = await router.register_type("order.*", ORDER, mode="warn")
        assert (first.version, first.created_by, second.version, second.mode) == (
            1,
            "ann",
            2,
            "warn",
        )
        assert router.type_schema("order.*") == second
        assert router.type_schema("order.*", 1) == first
        assert router.list_types() == [second]
        await router.delete_type("order.*")
        assert router.list_types() == []
        with pytest.raises(NotFound, match="no type"):
            router.type_schema("order.*")


async def test_the_asyncapi_document_shows_the_types_and_the_exchanges_a_user_sees(
    sqlite_url: str,
) -> None:
    async with opened(sqlite_url) as router:
        await router.register_type("order.*", ORDER)
        await orders(router, 0)
        document = router.asyncapi()
        assert "orders" in json.dumps(document["channels"])
        assert "An order" not in json.dumps(document)
        assert any("order" in key for key in document["components"]["messages"])
        nobody = UserRecord("nobody", Role.PUBLISHER, 0)
        assert "orders" not in json.dumps(router.asyncapi(nobody)["channels"])


async def test_an_ingest_node_keeps_types_across_restarts(sqlite_url: str) -> None:
    async with opened(sqlite_url, role="ingest") as router:
        await router.register_type("order.*", ORDER)
        await router.register_type("user.*", ORDER)
        await router.delete_type("user.*")
    async with opened(sqlite_url, role="all") as router:
        assert [t.pattern for t in router.list_types()] == ["order.*"]
