"""The documented client examples run, against a real router, and end by themselves."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers.server import ADMIN_TOKEN, running_router

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


def test_the_app_example_resumes_on_its_second_run(sqlite_url: str, tmp_path: object) -> None:
    """Its ``start="earliest"`` applies when the subscriber is created: run again, it handles
    only what was published since, not the whole exchange again."""
    with running_router(sqlite_url, str(tmp_path)) as router:
        runs = [
            subprocess.run(
                [sys.executable, str(EXAMPLES / "app.py")],
                env={**os.environ, "ROUTER_ADDR": router.address},
                capture_output=True,
                text=True,
                timeout=60,
            )
            for _ in range(2)
        ]
    assert [run.returncode for run in runs] == [0, 0], [run.stderr for run in runs]
    handled = [[line.split()[1] for line in run.stdout.splitlines()] for run in runs]
    assert handled == [["1", "2"], ["3", "4"]]


def readme_line(marker: str) -> str:
    """The README's tour line containing ``marker``, its comment cut, run with this Python."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    (line,) = [each for each in readme.splitlines() if marker in each]
    command = line.split("   # ", 1)[0]
    return command.replace(".venv/bin/router", f"{sys.executable} -m router")


def test_the_readme_tour_publishes_from_stdin_and_tails_to_the_head_verbatim(
    sqlite_url: str, tmp_path: object
) -> None:
    with running_router(sqlite_url, str(tmp_path)) as router:
        env = {**os.environ, "ROUTER_ADDR": router.address, "ROUTER_TOKEN": ADMIN_TOKEN}

        def shell(command: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                command, shell=True, env=env, capture_output=True, text=True, timeout=60
            )

        created = shell(readme_line("exchange create orders"))
        assert created.returncode == 0, created.stderr
        published = shell(readme_line("publish --stdin"))
        assert published.returncode == 0, published.stderr
        # Fewer events than any --max: --until-head stops at the head all the same.
        tailed = shell(readme_line("--until-head"))
        assert tailed.returncode == 0, tailed.stderr
        assert [line.split("\t")[:2] for line in tailed.stdout.splitlines()] == [
            ["1", "order.paid"]
        ]
