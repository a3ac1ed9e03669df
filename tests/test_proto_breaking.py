"""The breaking-change check of the wire contract (scripts/proto-breaking.sh, docs/compatibility.md)
passes what v1 allows and fails what it does not, run on a changed copy of protos/. Skipped only
where buf is not installed and npm cannot install it, outside CI; under ``CI=true`` it always
runs (the script installs buf or fails)."""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
from collections.abc import Callable

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "proto-breaking.sh"
PROTO = pathlib.Path("router/v1/router.proto")
BUF = ROOT / ".cache" / "buf" / "node_modules" / ".bin" / "buf"


@pytest.fixture(autouse=True)
def buf_at_hand() -> None:
    if os.environ.get("CI") != "true" and not BUF.exists() and shutil.which("npm") is None:
        pytest.skip("buf is not installed and npm is not here to install it (CI runs this)")


def check(tmp_path: pathlib.Path, change: Callable[[str], str]) -> subprocess.CompletedProcess[str]:
    """The check run on a copy of protos/ whose router.proto went through ``change``."""
    protos = tmp_path / "protos"
    shutil.copytree(ROOT / "protos", protos)
    path = protos / PROTO
    before = path.read_text()
    after = change(before)
    assert after != before, "the change found nothing to change"
    path.write_text(after)
    return subprocess.run(
        ["bash", str(SCRIPT), str(protos)], capture_output=True, text=True, timeout=300
    )


def in_start_point(old: str, new: str) -> Callable[[str], str]:
    """A change of one line inside ``message StartPoint``, a message released in v1."""

    def change(text: str) -> str:
        found = re.search(r"message StartPoint \{.*?\n\}\n", text, re.S)
        assert found is not None
        block = found.group(0)
        assert block.count(old) == 1
        return text.replace(block, block.replace(old, new))

    return change


def additions_and_comments(text: str) -> str:
    """What v1 allows: every comment reworded, a field, an enum value and a message added."""
    text = text.replace("// ", "// reworded: ")
    text = in_start_point("  int64 time_us = 3;", "  string note = 4;\n  int64 time_us = 3;")(text)
    text = in_start_point("    TIME = 4;", "    TIME = 4;\n    LATER = 5;")(text)
    return text + "\nmessage AddedLater {\n  string name = 1;\n}\n"


def test_the_current_protos_pass_against_the_released_contract() -> None:
    done = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_comments_and_additions_pass(tmp_path: pathlib.Path) -> None:
    done = check(tmp_path, additions_and_comments)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_renumbered_field_fails(tmp_path: pathlib.Path) -> None:
    done = check(tmp_path, in_start_point("int64 time_us = 3;", "int64 time_us = 5;"))
    assert done.returncode != 0
    assert 'Previously present field "3" with name "time_us"' in done.stdout, done.stderr


def test_a_removed_field_fails(tmp_path: pathlib.Path) -> None:
    done = check(tmp_path, in_start_point("  int64 offset = 2;", ""))
    assert done.returncode != 0
    assert 'field "2" with name "offset" on message "StartPoint"' in done.stdout, done.stderr


def test_a_renamed_field_fails(tmp_path: pathlib.Path) -> None:
    """Wire-compatible, but the JSON form and the generated code change: the FILE rules see it."""
    done = check(tmp_path, in_start_point("int64 time_us = 3;", "int64 at_us = 3;"))
    assert done.returncode != 0
    assert '"time_us"' in done.stdout and '"at_us"' in done.stdout, done.stderr
