"""Which build of the router this is: the package's version and the source commit it was made
from, so that two builds of one version can be told apart (``router --version``, ``router
info``, ``router_build_info`` in /metrics, and the schema history of the store).

The commit is read, in order:
1. from git, when the package runs from a checkout (``-dirty`` when tracked files differ from it);
2. from ``router/_commit.txt``, which ``setup.py`` writes into a built wheel or sdist;
3. else it is ``unknown``.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

import attrs

from router import __version__

COMMIT_FILE = "_commit.txt"
_PACKAGE = Path(__file__).resolve().parents[1]  # router/, where setup.py writes the file


@attrs.frozen
class Build:
    version: str  # the package's (pyproject reads it from router.__version__)
    commit: str  # a short commit id, with "-dirty" for changes not committed; or "unknown"

    def __str__(self) -> str:
        """PEP 440 with the commit as the local part: ``0.2.0+g1a2b3c4d5e6f`` (``.dirty``)."""
        if self.commit == "unknown":
            return self.version
        return f"{self.version}+g{self.commit.replace('-', '.')}"


@functools.cache
def build() -> Build:
    """This process's build (read once)."""
    return read_build(_PACKAGE)


def read_build(package: Path) -> Build:
    """The build of the package in the folder ``package`` (see the module's docstring)."""
    return Build(__version__, git_commit(package.parent) or recorded_commit(package) or "unknown")


def git_commit(folder: Path) -> str | None:
    """The commit checked out in ``folder`` if it is the top of a git checkout, else None."""
    if not (folder / ".git").exists():
        return None
    try:
        commit = _git(folder, "rev-parse", "--short=12", "HEAD")
        changed = _git(folder, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if changed else "") if commit else None


def recorded_commit(package: Path) -> str | None:
    """The commit ``setup.py`` recorded when the package was built, if it did."""
    try:
        return (package / COMMIT_FILE).read_text().strip() or None
    except OSError:
        return None


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(folder), *args],
        capture_output=True,
        text=True,
        timeout=5,
        check=True,
        env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},  # status must not take the index lock
    )
    return done.stdout.strip()
