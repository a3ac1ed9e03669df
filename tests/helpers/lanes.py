"""Which lane each test runs in, decided once here rather than test by test.

- ``browser``: everything under tests/browser (headless Chromium).
- ``slow``: everything under tests/faults (soaks, failovers, crash loops, load, hostile floods)
  and the modules named in ``SLOW_MODULES`` (failovers, upgrades and crash runs elsewhere).
- ``postgres``: a test parametrized on the PostgreSQL backend already carries it; a test whose
  body (or a function defined in it) calls ``postgres_schema`` or ``pg_cluster`` gets it here.
- ``rabbitmq``: every test of a module that speaks AMQP; one that restarts the broker also gets
  ``rabbitmq_restart``. tests/conftest.py holds ``broker_turn`` around each: tests that use the
  broker share it, and a restart waits for them and keeps them waiting, across the workers of
  ``pytest -n`` (and any other test run on the machine), since a restart cuts every connection.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import types
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent.parent
SLOW_DIRECTORIES = frozenset({"faults"})
BROWSER_DIRECTORIES = frozenset({"browser"})
# Modules outside tests/faults that kill, fail over or upgrade routers; measured at 15 s or more.
SLOW_MODULES = frozenset(
    {
        "integration/test_client_failover.py",
        "integration/test_standby.py",
        "integration/test_upgrade.py",
    }
)
# Modules with a test measured at 10 s or more under `just test`, the longest first: they are
# collected first, so `just test` (which hands a worker one test at a time: --maxschedchunk 1)
# starts them on both workers early and ends on short tests, not on one long one left alone.
LONGEST_FIRST = (
    "faults/test_retention_soak.py",
    "faults/test_load.py",
    "faults/test_failover.py",
    "faults/test_crash_loop.py",
    "properties/test_router_machine.py",
    "integration/test_permissions.py",
    "faults/test_consumers.py",
    "faults/test_shared_kills.py",
    "integration/test_roles.py",
    "faults/test_storage_faults.py",
    "integration/test_amqp.py",
    "faults/test_hostile_transport.py",
    "faults/test_database_failover.py",
    "integration/test_fuzz_edges.py",
    "integration/test_client_failover.py",
    "faults/test_hostile_access.py",
    "integration/test_retention.py",
    "browser/test_page.py",
    "faults/test_hostile.py",
    "integration/test_auth_admin.py",
)
POSTGRES_CALLS = frozenset({"postgres_schema", "pg_cluster"})
RESTART_CALLS = frozenset({"restart_rabbitmq"})
BROKER_LOCK = os.path.join(tempfile.gettempdir(), "router-tests-rabbitmq.lock")


def where(path: Path) -> str:
    """The test file's path under tests/, with forward slashes ('' when outside)."""
    try:
        return Path(path).resolve().relative_to(TESTS).as_posix()
    except ValueError:
        return ""


def is_slow(relative: str) -> bool:
    return relative.split("/", 1)[0] in SLOW_DIRECTORIES or relative in SLOW_MODULES


def is_browser(relative: str) -> bool:
    return relative.split("/", 1)[0] in BROWSER_DIRECTORIES


def names_used(code: types.CodeType) -> set[str]:
    """Every global, local and attribute name the code (and code nested in it) refers to."""
    found = set(code.co_names) | set(code.co_varnames)
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            found |= names_used(constant)
    return found


def calls(function: object, names: frozenset[str]) -> bool:
    code = getattr(function, "__code__", None)
    return code is not None and bool(names_used(code) & names)


def calls_postgres(function: object) -> bool:
    return calls(function, POSTGRES_CALLS)


@cache
def speaks_amqp(path: Path) -> bool:
    try:
        return "amqp" in Path(path).read_text(errors="replace").lower()
    except OSError:
        return False


def assign(items: list[pytest.Item]) -> None:
    """Add the lane markers to collected items (pytest_collection_modifyitems)."""
    for item in items:
        relative = where(item.path)
        if is_slow(relative):
            item.add_marker(pytest.mark.slow)
        if is_browser(relative):
            item.add_marker(pytest.mark.browser)
        if item.get_closest_marker("postgres") is None and calls_postgres(
            getattr(item, "function", None)
        ):
            item.add_marker(pytest.mark.postgres)
        if speaks_amqp(item.path):
            item.add_marker(pytest.mark.rabbitmq)
            if calls(getattr(item, "function", None), RESTART_CALLS):
                item.add_marker(pytest.mark.rabbitmq_restart)


def longest_first(items: list[pytest.Item]) -> None:
    """Move the modules of ``LONGEST_FIRST`` to the front, in its order; each module's tests
    stay together and in their order, and so do the others (pytest_collection_modifyitems)."""
    rank = {module: index for index, module in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(where(item.path), len(rank)))


@contextmanager
def broker_turn(exclusive: bool, path: str = BROKER_LOCK) -> Iterator[None]:
    """Hold the broker: shared by tests that use it, exclusive for one that restarts it. A lock
    on a file, so it holds across processes and is let go if one dies."""
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
