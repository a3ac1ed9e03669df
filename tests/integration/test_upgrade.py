"""Upgrading: only the leader migrates the schema (or an operator, with ``router migrate-schema``);
a router of a newer version started as a standby leaves the running leader's schema alone; a
router given a store whose schema is newer than it knows refuses to start, naming both."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys

import pytest

from router.core.build import build
from storage import _migrations, open_storage
from storage.leadership import Elector
from tests.helpers.databases import postgres_schema, record_a_newer_schema
from tests.helpers.polling import until
from tests.helpers.server import RouterProcess, free_ports, leads


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "router", *args], capture_output=True, text=True, timeout=60
    )


def newest_row(url: str) -> tuple[int, str | None]:
    store = open_storage(url)
    try:
        with store._control() as run:  # type: ignore[attr-defined]
            ((version, by),) = run(
                "SELECT version, router_version FROM schema_migrations"
                " ORDER BY version DESC LIMIT 1",
                (),
            )
        return int(version), by
    finally:
        store.close()


def as_one_version_older(url: str) -> tuple[int, str]:
    """Migrate the store, then take its last migration back (PostgreSQL: the table it creates):
    the store of the version before this router's. Returns the version taken back and the
    table."""
    store = open_storage(url)
    try:
        store.migrate()
        last, sql = _migrations.load("postgres")[-1]
        created = re.findall(r"CREATE TABLE (\w+)", sql)
        assert len(created) == 1, "the test takes back a migration that creates one table"
        with store._control() as run:  # type: ignore[attr-defined]
            run(f"DROP TABLE {created[0]}", ())
            run("DELETE FROM schema_migrations WHERE version = ?", (last,))
        return last, created[0]
    finally:
        store.close()


def has_table(url: str, name: str) -> bool:
    store = open_storage(url)
    try:
        with store._control() as run:  # type: ignore[attr-defined]
            ((found,),) = run("SELECT to_regclass(?)::text", (name,))
        return found is not None
    finally:
        store.close()


@pytest.mark.postgres
def test_a_newer_standby_leaves_the_leaders_schema_alone_and_migrates_once_it_leads(
    tmp_path: object,
) -> None:
    with postgres_schema() as url:
        last, table = as_one_version_older(url)
        old_leader = Elector(url, "old", "old:50051", "old:8080", 60)  # leads, with its lease
        lease = old_leader.take()
        assert lease is not None and lease.connection is not None
        new = RouterProcess(url, f"{tmp_path}/new.log", None, "--lease", "2s", "--name", "new")
        try:
            new.start()

            async def standing_by() -> bool:
                return "standing by" in new.log()

            asyncio.run(until(standing_by, timeout=30))
            assert newest_row(url)[0] == last - 1, "a standby migrated the leader's schema"
            assert not has_table(url, table)
            assert f"this router knows {last}: migrating once it leads" in new.log()

            lease.connection.close()  # the old leader goes: its lock with it

            async def new_leads() -> bool:
                return await asyncio.to_thread(leads, new)

            asyncio.run(until(new_leads, timeout=30))
            assert newest_row(url) == (last, str(build()))
            assert has_table(url, table)
        finally:
            old_leader.close()
            new.stop()


def test_a_router_refuses_a_store_whose_schema_is_newer_naming_both_versions(
    db_url: str, tmp_path: object
) -> None:
    store = open_storage(db_url)
    try:
        known = record_a_newer_schema(store, "0.9.0+gfeedbeef0000")
    finally:
        store.close()
    grpc, http = free_ports(2)
    served = cli(
        "serve", "--db", db_url, "--grpc", f"127.0.0.1:{grpc}", "--http", f"127.0.0.1:{http}"
    )
    assert served.returncode == 1
    (line,) = [x for x in served.stderr.splitlines() if x.startswith("router:")]
    for named in (str(known + 1), "0.9.0+gfeedbeef0000", str(known), str(build())):
        assert named in line, line
    assert "Traceback" not in served.stderr, served.stderr
    migrated = cli("migrate-schema", "--db", db_url)
    assert migrated.returncode == 1 and "newer than this router knows" in migrated.stderr
    assert newest_row(db_url) == (known + 1, "0.9.0+gfeedbeef0000"), "nothing changed"


def test_migrate_schema_says_what_it_would_apply_then_applies_it(sqlite_url: str) -> None:
    store = open_storage(sqlite_url)
    try:
        store.migrate(upto=5)
    finally:
        store.close()
    known = _migrations.load("sqlite")[-1][0]
    dry = cli("migrate-schema", "--db", sqlite_url, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "at version 5; would apply 6, " in dry.stdout
    assert newest_row(sqlite_url)[0] == 5
    done = cli("migrate-schema", "--db", sqlite_url)
    assert done.returncode == 0, done.stderr
    assert f"version 5 -> {known}" in done.stdout
    assert newest_row(sqlite_url) == (known, str(build()))
    again = cli("migrate-schema", "--db", sqlite_url)
    assert f"at version {known}" in again.stdout


@pytest.mark.postgres
def test_a_standby_that_finds_a_newer_schema_when_it_would_lead_refuses_it(
    tmp_path: object,
) -> None:
    """A newer router led meanwhile and migrated: this one, older, must not run on it."""
    with postgres_schema() as url:
        store = open_storage(url)
        store.migrate()
        known = store.schema_state().known
        store.close()
        leader = Elector(url, "newer", "newer:50051", "newer:8080", 60)
        lease = leader.take()
        assert lease is not None and lease.connection is not None
        older = RouterProcess(url, f"{tmp_path}/older.log", None, "--lease", "2s")
        try:
            older.start()
            with lease.connection.transaction():  # the newer leader's migration
                lease.connection.execute(
                    "INSERT INTO schema_migrations (version, router_version) VALUES (%s, %s)",
                    (known + 1, "0.9.0+gfeedbeef0000"),
                )
            lease.connection.close()  # the newer leader stops
            assert older.process is not None
            assert older.process.wait(30) == 1
        finally:
            leader.close()
            older.stop()
        stderr_lines = older.log().splitlines()
    assert stderr_lines[-1].startswith(f"router: the store's schema is at version {known + 1}")
    assert "0.9.0+gfeedbeef0000" in stderr_lines[-1] and str(build()) in stderr_lines[-1]
    assert "Traceback" not in older.log()
