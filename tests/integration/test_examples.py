"""The documented client examples run, against a real router, and end by themselves."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers.server import running_router

EXAMPLES = Path(__file__).parents[2] / "docs" / "examples"


def test_the_examples_run(sqlite_url: str, tmp_path: object) -> None:
    with running_router(sqlite_url, str(tmp_path)) as router:
        for name in ("asyncio_client.py", "trio_client.py", "app.py"):
            result = subprocess.run(
                [sys.executable, str(EXAMPLES / name)],
                env={**os.environ, "ROUTER_ADDR": router.address},
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert result.returncode == 0, f"{name}: {result.stderr}"
            assert "received" in result.stdout or "handled" in result.stdout, result.stdout
