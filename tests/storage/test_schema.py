"""The schema's versions on both stores: each applied version records the router build that
applied it, and a store whose schema is newer than this router knows is refused, naming both,
with nothing changed."""

from __future__ import annotations

import pytest

from router.core.build import build
from storage import Storage, _migrations, open_storage
from storage._migrations import SchemaNewer
from storage.leadership import LEADERSHIP_MIGRATION
from tests.helpers.databases import record_a_newer_schema


def rows(store: Storage) -> list[tuple[int, str | None]]:
    with store._control() as run:  # type: ignore[attr-defined]
        return [
            (int(v), r)
            for v, r in run("SELECT version, router_version FROM schema_migrations ORDER BY 1", ())
        ]


def dialect(store: Storage) -> str:
    return "sqlite" if store.url.startswith("sqlite") else "postgres"


def test_each_applied_version_records_the_build_that_applied_it(db_url: str) -> None:
    store = open_storage(db_url)
    try:
        fresh = store.schema_state()
        assert (fresh.applied, fresh.pending) == (0, True)
        applied = store.migrate()
        versions = [v for v, _ in _migrations.load(dialect(store))]
        assert applied == versions
        assert rows(store) == [(v, str(build())) for v in versions]
        after = store.schema_state()
        assert (after.applied, after.known, after.applied_by) == (
            versions[-1],
            versions[-1],
            str(build()),
        )
        assert not after.pending and after.missing == ()
        assert store.migrate() == [], "applied once"
    finally:
        store.close()


def test_a_store_whose_schema_is_newer_is_refused_naming_both_versions(db_url: str) -> None:
    store = open_storage(db_url)
    try:
        newest = record_a_newer_schema(store, "9.9.9+gfeedbeef0000")
        before = rows(store)
        with pytest.raises(SchemaNewer) as refused:
            store.migrate()
        message = str(refused.value)
        for named in (str(newest + 1), "9.9.9+gfeedbeef0000", str(newest), str(build())):
            assert named in message, message
        assert rows(store) == before, "nothing changed"
        with pytest.raises(SchemaNewer):
            store.schema_state().check()
    finally:
        store.close()


def test_migrations_can_stop_at_a_version(db_url: str) -> None:
    store = open_storage(db_url)
    try:
        assert store.migrate(upto=3) == [1, 2, 3]
        assert store.schema_state().missing[0] == 4
        assert store.migrate()[0] == 4
    finally:
        store.close()


def test_the_leadership_migration_is_the_one_that_makes_the_leadership_tables() -> None:
    (sql,) = [s for v, s in _migrations.load("postgres") if v == LEADERSHIP_MIGRATION]
    assert "CREATE TABLE router_leader" in sql
