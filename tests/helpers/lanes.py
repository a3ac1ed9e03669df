"""Which lane each test runs in, decided once here rather than test by test.

- ``browser``: everything under tests/browser (headless Chromium).
- ``slow``: everything under tests/faults (soaks, failovers, crash loops, load, hostile floods)
  and the modules named in ``SLOW_MODULES`` (failovers, upgrades and crash runs elsewhere).
- ``postgres``: a test parametrized on the PostgreSQL backend already carries it; a test whose
  body (or a function defined in it) calls ``postgres_schema`` or ``pg_cluster`` gets it here.
- ``xdist_group("rabbitmq")``: every test of a module that speaks AMQP runs on one worker under
  ``pytest -n``, since one of them restarts the broker and would cut the others' connections.
"""

from __future__ import annotations

import types
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
POSTGRES_CALLS = frozenset({"postgres_schema", "pg_cluster"})
RABBITMQ_GROUP = "rabbitmq"


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


def calls_postgres(function: object) -> bool:
    code = getattr(function, "__code__", None)
    return code is not None and bool(names_used(code) & POSTGRES_CALLS)


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
            item.add_marker(pytest.mark.xdist_group(RABBITMQ_GROUP))
