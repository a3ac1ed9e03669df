"""``router serve`` keeps database passwords out of what it writes: the log of a start on a
PostgreSQL URL with ``?password=``, and the one-line refusal of a URL of an unknown scheme."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers.databases import postgres_schema
from tests.helpers.server import RouterProcess

SECRET = "hunter2-never-shown"


@pytest.mark.postgres
def test_a_password_in_the_query_is_not_logged(tmp_path: object) -> None:
    with postgres_schema() as url:
        router = RouterProcess(f"{url}&password={SECRET}", os.path.join(str(tmp_path), "r.log"))
        router.start()
        try:
            router.stop()
        finally:
            if router.process is not None and router.process.poll() is None:
                router.kill()
        log = router.log()
    assert "router ready" in log and "password=***" in log, log
    assert SECRET not in log


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
