"""Records the source commit in built packages (router/_commit.txt, read by router.core.build): a
wheel or sdist made from a checkout says which commit it is, without git at run time."""

from __future__ import annotations

import os
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist


def _commit() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""  # not a checkout (built from an sdist): the sdist's file is kept
    return commit + ("-dirty" if changed else "")


def _record(folder: str) -> None:
    commit = _commit()
    if commit:
        with open(os.path.join(folder, "router", "_commit.txt"), "w") as out:
            out.write(commit + "\n")


class BuildPy(build_py):
    def run(self) -> None:
        super().run()
        if not self.editable_mode:  # an editable install runs from the checkout: git says it
            _record(self.build_lib)


class Sdist(sdist):
    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        _record(base_dir)


setup(cmdclass={"build_py": BuildPy, "sdist": Sdist})
