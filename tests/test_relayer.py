"""scripts/relayer.py: the move of router/'s modules to their floors, replayed on any tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from scripts.relayer import rewrite_python, rewrite_text

BEFORE = """from router import __version__, asyncapi, validation
from router.model import Event
import router.serve

log = logging.getLogger("router.auth")  # see router.wire


def run(router: Router) -> None:
    router.stats()
    router.auth.permit(user)
    router.serve.main()
    monkeypatch.setattr("router.trim.EVERY_S", 0)
"""

AFTER = """from router import __version__
from router.core import validation
from router.observe import asyncapi
from router.core.model import Event
import router.node.serve

log = logging.getLogger("router.control.auth")  # see router.core.wire


def run(router: Router) -> None:
    router.stats()
    router.auth.permit(user)
    router.node.serve.main()
    monkeypatch.setattr("router.grpc.trim.EVERY_S", 0)
"""


def test_python_imports_strings_and_bound_names_are_rewritten_once() -> None:
    assert rewrite_python(BEFORE) == AFTER
    assert rewrite_python(AFTER) == AFTER


def test_a_variable_named_router_is_left_alone_where_the_package_is_not_bound() -> None:
    code = "def f(router):\n    return router.auth.user(router.settings.name)\n"
    assert rewrite_python(code) == code


def test_docs_name_the_new_modules_and_paths() -> None:
    text = "Run `python -m router.demo`; see router/model.py and router.stats() of the facade.\n"
    want = (
        "Run `python -m router.node.demo`; see router/core/model.py and router.stats() of "
        "the facade.\n"
    )
    assert rewrite_text(text) == want
    assert rewrite_text(want) == want


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def test_a_second_run_changes_nothing_and_a_later_file_is_rewritten(tmp_path: Path) -> None:
    script = Path(__file__).parents[1] / "scripts" / "relayer.py"
    (tmp_path / "router").mkdir()
    (tmp_path / "router" / "__init__.py").write_text("")
    (tmp_path / "router" / "model.py").write_text("X = 1\n")
    (tmp_path / "router" / "uses.py").write_text("from router.model import X\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "flat")

    def relayer() -> None:
        subprocess.run([sys.executable, str(script)], cwd=tmp_path, check=True, capture_output=True)

    relayer()
    assert (tmp_path / "router" / "core" / "model.py").read_text() == "X = 1\n"
    assert not (tmp_path / "router" / "model.py").exists()
    assert (tmp_path / "router" / "uses.py").read_text() == "from router.core.model import X\n"
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "floors")
    relayer()
    assert git(tmp_path, "status", "--porcelain") == ""

    (tmp_path / "tests").mkdir()  # work that landed later, still naming the old path
    (tmp_path / "tests" / "test_late.py").write_text('TARGET = "router.model.X"\n')
    relayer()
    assert (tmp_path / "tests" / "test_late.py").read_text() == 'TARGET = "router.core.model.X"\n'
