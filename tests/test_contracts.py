"""The registered event types (router.control.contracts): a batch checked against them on the
publish path, and versions registered, refused, read and deleted."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from router.control.contracts import Contracts
from router.core.errors import FailedPrecondition, InvalidArgument, NotFound
from router.core.ids import uuid7
from router.core.model import NewEvent, TypeSchema


def test_a_refused_batch_counts_no_payload_as_stored_despite_its_schema() -> None:
    def record(pattern: str, mode: str) -> TypeSchema:
        return TypeSchema(pattern, 1, '{"required": ["id"]}', mode, "", "", 0, "")

    contracts = Contracts(None, [record("loose.*", "warn"), record("strict.*", "enforce")])  # type: ignore[arg-type]
    loose = NewEvent(str(uuid7()), "loose.one", b"{}")
    strict = NewEvent(str(uuid7()), "strict.one", b"{}")
    with pytest.raises(InvalidArgument, match=r"events\[1\]\.payload: \$"):
        contracts.check([loose, strict])
    counts = contracts.counts
    assert (counts["loose.*"].warned, counts["strict.*"].refused) == (0, 1)
    contracts.check([loose, loose])
    assert (counts["loose.*"].checked, counts["loose.*"].warned) == (3, 2)


class Store:
    """The StateActor's write, over the two calls the registry makes of storage."""

    def __init__(self) -> None:
        self.stored: list[TypeSchema] = []

    async def write(self, call: Callable[[Any], Any]) -> Any:
        return call(self)

    def add_type_schema(self, record: TypeSchema) -> None:
        self.stored.append(record)

    def delete_type_schemas(self, pattern: str) -> None:
        self.stored = [r for r in self.stored if r.pattern != pattern]


ORDER = json.dumps({"type": "object"})
NARROWER = json.dumps({"type": "object", "required": ["sku"]})


async def test_versions_are_registered_refused_unless_forced_read_and_deleted() -> None:
    store = Store()
    contracts = Contracts(store)  # type: ignore[arg-type]
    first = await contracts.register("order.*", ORDER, "", "Orders", "shop", by="ann")
    assert (first.version, first.mode, first.created_by) == (1, "enforce", "ann")
    same = await contracts.register("order.*", ' {"type":"object"} ', "", "Orders", "shop", by="")
    assert same == first and store.stored == [first]  # the current version, unchanged
    with pytest.raises(FailedPrecondition, match="version 2 of 'order.\\*' would reject"):
        await contracts.register("order.*", NARROWER, "", "", "", by="")
    forced = await contracts.register("order.*", NARROWER, "warn", "", "", by="", force=True)
    assert forced.version == 2 and contracts.current("order.*") == forced
    assert contracts.current("order.*", 1) == first and contracts.listed() == [forced]
    with pytest.raises(NotFound, match="no version 3"):
        contracts.current("order.*", 3)
    (counts,) = contracts.stats()
    assert (counts.pattern, counts.version, counts.mode) == ("order.*", 2, "warn")
    await contracts.delete("order.*")
    assert (contracts.listed(), store.stored) == ([], [])
    with pytest.raises(NotFound, match="no type"):
        contracts.current("order.*")


async def test_a_registration_is_refused_naming_the_field() -> None:
    contracts = Contracts(Store())  # type: ignore[arg-type]
    for pattern, mode, description, said in (
        ("order..x", "", "", "pattern"),
        ("order.*", "strict", "", "mode: 'strict' is not one of enforce, warn"),
        ("order.*", "", "x" * 1_001, "description: longer than 1,000 characters"),
    ):
        with pytest.raises(InvalidArgument, match=re.escape(said)):
            await contracts.register(pattern, ORDER, mode, description, "", by="")
    with pytest.raises(InvalidArgument, match="schema: not JSON"):
        await contracts.register("order.*", "{", "", "", "", by="")


def test_a_stored_version_that_no_longer_compiles_is_kept_but_not_enforced() -> None:
    broken = TypeSchema("order.*", 1, '{"type": "nope"}', "enforce", "", "", 0, "")
    contracts = Contracts(None, [broken])  # type: ignore[arg-type]
    assert contracts.listed() == [broken] and contracts.rules == {}
    contracts.check([NewEvent(str(uuid7()), "order.created", b"[]")])
