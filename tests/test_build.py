"""Which build a router is: the version and the commit it was made from, from git in a checkout,
from the file a built package carries, shown by ``router --version``, ``router info`` and
``router_build_info`` in /metrics; two commits of one version tell apart."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

import router
from router import __version__
from router.core.build import COMMIT_FILE, Build, build, read_build
from tests.helpers.server import ADMIN_TOKEN, running_router

CHECKOUT = Path(router.__file__).resolve().parent.parent


def head() -> str:
    return subprocess.run(
        ["git", "-C", str(CHECKOUT), "rev-parse", "--short=12", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_in_a_checkout_the_build_is_the_version_and_the_commit_checked_out() -> None:
    found = read_build(CHECKOUT / "router")
    assert found.version == __version__
    assert found.commit.removesuffix("-dirty") == head()
    assert str(found).startswith(f"{__version__}+g{head()}")


def test_a_built_package_says_the_commit_it_recorded_or_unknown(tmp_path: Path) -> None:
    package = tmp_path / "site-packages" / "router"
    shutil.copytree(CHECKOUT / "router", package, ignore=shutil.ignore_patterns("_proto"))
    assert read_build(package) == Build(__version__, "unknown")
    assert str(read_build(package)) == __version__
    (package / COMMIT_FILE).write_text("0123456789ab\n")
    assert read_build(package) == Build(__version__, "0123456789ab")
    assert str(read_build(package)) == f"{__version__}+g0123456789ab"
    assert str(Build("0.2.0", "0123456789ab")) != str(Build("0.2.0", "ba9876543210"))


def test_router_version_shows_the_commit() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "router", "--version"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env={**os.environ, "PYTHONPATH": str(CHECKOUT)},
    ).stdout
    assert shown.startswith(f"router {__version__}+g{head()}"), shown
    assert f"commit {head()}" in shown


def test_router_info_and_metrics_show_the_build(sqlite_url: str, tmp_path: Path) -> None:
    with running_router(sqlite_url, str(tmp_path)) as served:
        info = subprocess.run(
            [sys.executable, "-m", "router", "--server", served.address, "info", "--json"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        request = urllib.request.Request(
            served.http + "/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            metrics = response.read().decode()
    (shown,) = [row["version"] for row in _rows(json.loads(info))]
    assert shown == str(build())
    (family,) = [
        f for f in text_string_to_metric_families(metrics) if f.name == "router_build_info"
    ]
    (sample,) = family.samples
    assert sample.labels == {"version": build().version, "commit": build().commit}
    assert sample.value == 1


def _rows(found: object) -> list[dict[str, object]]:
    return found if isinstance(found, list) else [found]  # type: ignore[list-item,return-value]
