"""``router serve`` keeps database passwords out of what it writes: the log of a start on a
PostgreSQL URL with ``?password=`` or a password holding ``#``, and the one-line refusal of a
URL of an unknown scheme."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers.databases import postgres_schema
from tests.helpers.server import RouterProcess

SECRET = "hunter2-never-shown"


def log_of_a_start(db_url: str, tmp_path: object) -> str:
    """What a router started on ``db_url``, and stopped, wrote to its log."""
    router = RouterProcess(db_url, os.path.join(str(tmp_path), "r.log"))
    router.start()
    try:
        router.stop()
    finally:
        if router.process is not None and router.process.poll() is None:
            router.kill()
    return router.log()


@pytest.mark.postgres
def test_a_password_in_the_query_is_not_logged(tmp_path: object) -> None:
    with postgres_schema() as url:
        log = log_of_a_start(f"{url}&password={SECRET}", tmp_path)
    assert "router ready" in log and "password=***" in log, log
    assert SECRET not in log


@pytest.mark.postgres
def test_a_scheme_in_capitals_starts_and_a_password_holding_a_hash_is_not_logged(
    tmp_path: object,
) -> None:
    """libpq reads the user part up to the @ (a # or ? in the password is the password's); the
    test server trusts local connections, so any password lets the router start."""
    password = "s3#cr3t?n0:leak"
    with postgres_schema() as url:
        user, _, rest = url.partition("://")[2].partition("@")
        user = user.split(":")[0]
        shouted = f"POSTGRESQL://{user}:{password}@{rest}"
        log = log_of_a_start(shouted, tmp_path)
    assert "router ready" in log and f"db=postgresql://{user}:***@" in log, log
    assert "cr3t" not in log and "leak" not in log


def test_an_unknown_scheme_is_refused_in_one_line_without_its_password() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "router", "serve", "--db", f"mysql://u:{SECRET}@localhost/x"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--db: 'mysql://u:***@localhost/x'" in result.stderr
    assert SECRET not in result.stderr + result.stdout
