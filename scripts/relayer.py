"""Moves ``router/``'s flat modules to the floor each belongs to, and rewrites every reference.

    python scripts/relayer.py          # move, rewrite, then ruff (imports sorted, formatted)
    python scripts/relayer.py --dry    # list what it would change, change nothing

Re-runnable: a module already on its floor is left where it is, and a reference already in its
new form matches nothing, so a second run changes nothing. Run it again after other work has
landed: modules still at their old place are moved, and every file in the tree (new ones too,
committed or not) that names an old path is rewritten. A module found at both places is left
alone and reported (merge it by hand, then run again).

What it rewrites, in the files of ``ROOTS`` (``router/_proto`` aside):
- imports: ``from router.model import X``, ``import router.model``, and ``from router import
  model, validation`` (split into one line per floor);
- dotted names in strings and comments (monkeypatch targets, ``python -m router.demo``, logger
  names, docstrings), and in code where the file binds the package with ``import router.x``;
- in every other text file (docs, justfile, pyproject): dotted names and ``router/x.py`` paths.
A dotted name followed by ``(`` is a call on a variable named ``router`` (``router.stats()``), so
it is never rewritten.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path

# old module -> new module. Read by floor; the README's "Layout" says what each floor may import.
TABLE = """
router.build                router.core.build
router.consumers            router.core.delivery
router.errors               router.core.errors
router.h2frames             router.core.h2frames
router.ids                  router.core.ids
router.jsontext             router.core.jsontext
router.model                router.core.model
router.patterns             router.core.patterns
router.permissions          router.core.permissions
router.printable            router.core.printable
router.settings             router.core.settings
router.storable             router.core.storable
router.urls                 router.core.urls
router.validation           router.core.validation
router.wire                 router.core.wire

router.asyncapi             router.observe.asyncapi
router.metrics              router.observe.metrics
router.stats                router.observe.stats
router.subscriber_metrics   router.observe.subscriber_metrics
router.tracing              router.observe.tracing

router.audit                router.control.audit
router.auth                 router.control.auth
router.contracts            router.control.contracts
router.policy               router.control.policy
router.quotas               router.control.quotas
router.reach                router.control.reach
router.tethers              router.control.tethers

router.trim                 router.grpc.trim

router.admin_token          router.node.admin_token
router.demo                 router.node.demo
router.follow               router.node.follow
router.serve                router.node.serve
router.standby              router.node.standby
router.startup              router.node.startup
"""

# The docstring of each floor's __init__.py, written when the floor has none.
FLOORS = {
    "router.core": (
        "The vocabulary every floor may use: the model, errors, settings, ids, patterns, the wire\n"
        "form, validation, permissions. Imports nothing of ``router`` but the generated code."
    ),
    "router.control": (
        "Who may do what, and what is allowed in: tokens and grants, each operation's access and\n"
        "audit policy, the audit trail, quotas, event contracts, what a grant reaches, tethered\n"
        "tokens. Above the actors and storage."
    ),
    "router.observe": (
        "What the router shows of itself: Prometheus metrics, traces, the AsyncAPI document,\n"
        "stats snapshots. Above the actors and storage."
    ),
    "router.node": (
        "The process: serving (a leader, a standby, a follower), start-up checks, the first\n"
        "admin token, the demo. Above the edges."
    ),
}

# Exact text changes a move needs in the moved module itself: (new module, old text, new text).
FIXUPS = [
    (
        "router.core.build",
        "_PACKAGE = Path(__file__).resolve().parent\n",
        "_PACKAGE = Path(__file__).resolve().parents[1]  # router/, where setup.py writes the file\n",
    ),
]

ROOTS = ("router", "actors", "storage", "tests", "benchmarks", "scripts", "docs", ".ci")
TOP_FILES = ("README.md", "pyproject.toml", "justfile", "setup.py", "dev")
TEXT_SUFFIXES = {".py", ".md", ".toml", ".sh", ".txt", ".yml", ".yaml", ".cfg", ".ini", ""}
SKIP = ("router/_proto/", "scripts/relayer.py", "tests/test_relayer.py")  # these name old paths


def table() -> dict[str, str]:
    moves = {}
    for line in TABLE.strip().splitlines():
        if line.strip():
            old, new = line.split()
            moves[old] = new
    return moves


MOVES = table()
_SHORT = {old.rsplit(".", 1)[1]: new for old, new in MOVES.items()}  # "model" -> router.core.model
_NAMES = "|".join(sorted(_SHORT, key=lambda n: (-len(n), n)))
DOTTED = re.compile(rf"(?<![\w.])router\.({_NAMES})(?![\w(])")
PATH = re.compile(rf"(?<![\w./])router/({_NAMES})\.py\b")
FROM_ROUTER = re.compile(
    r"^(?P<indent>[ \t]*)from router import (?:\((?P<group>[^)]*)\)|(?P<line>[^\n(#]*?))[ \t]*$",
    re.MULTILINE,
)
IMPORT_LINE = re.compile(r"^[ \t]*(?:from|import)[ \t]+$")
BINDS = re.compile(rf"^[ \t]*import router\.({_NAMES})[ \t]*$", re.MULTILINE)


def module_path(root: Path, module: str) -> Path:
    return root / (module.replace(".", "/") + ".py")


def move(root: Path, dry: bool) -> list[str]:
    said = []
    for floor, doc in FLOORS.items():
        init = module_path(root, floor + ".__init__")
        if not init.exists():
            said.append(f"create {init.relative_to(root)}")
            if not dry:
                init.parent.mkdir(parents=True, exist_ok=True)
                init.write_text(f'"""{doc}\n"""\n')
                git(root, "add", str(init.relative_to(root)))
    for old, new in MOVES.items():
        src, dst = module_path(root, old), module_path(root, new)
        if src.exists() and dst.exists():
            said.append(f"BOTH {src.relative_to(root)} and {dst.relative_to(root)}: merge by hand")
        elif src.exists():
            said.append(f"git mv {src.relative_to(root)} {dst.relative_to(root)}")
            if not dry:
                git(root, "mv", str(src.relative_to(root)), str(dst.relative_to(root)))
    for module, before, after in FIXUPS:
        path = module_path(root, module)
        if path.exists() and before in path.read_text():
            said.append(f"fix {path.relative_to(root)}")
            if not dry:
                path.write_text(path.read_text().replace(before, after))
    return said


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], check=True, capture_output=True, text=True
    ).stdout


def files(root: Path) -> list[Path]:
    listed = git(root, "ls-files", "--cached", "--others", "--exclude-standard").splitlines()
    chosen = set()
    for name in listed:
        top = name.split("/", 1)[0]
        if name.startswith(SKIP) or not (top in ROOTS or name in TOP_FILES):
            continue
        path = root / name
        if path.is_file() and (path.suffix in TEXT_SUFFIXES or name in TOP_FILES):
            chosen.add(path)
    return sorted(chosen)


def split_from_router(match: re.Match[str]) -> str:
    """``from router import asyncapi, validation`` -> one import per floor."""
    names = [n.strip() for n in (match["group"] or match["line"] or "").split(",") if n.strip()]
    if not any(n.split()[0] in _SHORT for n in names):
        return match.group(0)
    by_package: dict[str, list[str]] = {}
    for name in names:
        new = _SHORT.get(name.split()[0])
        package = new.rsplit(".", 1)[0] if new else "router"
        by_package.setdefault(package, []).append(name)
    indent = match["indent"]
    return "\n".join(
        f"{indent}from {package} import {', '.join(by_package[package])}"
        for package in sorted(by_package)
    )


def code_spans(text: str) -> list[tuple[int, int]]:
    """The spans of strings and comments in Python source (where a dotted name is text)."""
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    kinds = {tokenize.STRING, tokenize.COMMENT}
    kinds |= {getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}
    spans = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type in kinds:
                (r0, c0), (r1, c1) = token.start, token.end
                spans.append((starts[r0 - 1] + c0, starts[r1 - 1] + c1))
    except (tokenize.TokenError, SyntaxError):
        return [(0, len(text))]
    return spans


def rewrite_python(text: str) -> str:
    text = FROM_ROUTER.sub(split_from_router, text)
    spans = code_spans(text)
    bound = set(BINDS.findall(text))  # `import router.serve`: then router.serve.x is the module

    def dotted(match: re.Match[str]) -> str:
        at = match.start()
        line_start = text.rfind("\n", 0, at) + 1
        in_text = any(a <= at < b for a, b in spans)
        if in_text or match[1] in bound or IMPORT_LINE.match(text[line_start:at]):
            return _SHORT[match[1]]
        return match.group(0)

    return PATH.sub(path_of, DOTTED.sub(dotted, text))


def path_of(match: re.Match[str]) -> str:
    return _SHORT[match[1]].replace(".", "/") + ".py"


def rewrite_text(text: str) -> str:
    text = FROM_ROUTER.sub(split_from_router, text)
    return PATH.sub(path_of, DOTTED.sub(lambda m: _SHORT[m[1]], text))


def rewrite(root: Path, dry: bool) -> list[Path]:
    changed = []
    for path in files(root):
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        new = rewrite_python(text) if path.suffix == ".py" else rewrite_text(text)
        if new != text:
            changed.append(path)
            if not dry:
                path.write_text(new)
    return changed


def tidy(root: Path, changed: list[Path]) -> None:
    """Imports sorted and code formatted in the files rewritten (as ``just fmt`` would)."""
    python = [str(p.relative_to(root)) for p in changed if p.suffix == ".py"]
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if not python or not ruff:
        return
    subprocess.run([ruff, "check", "--select", "I", "--fix", "-q", *python], cwd=root)
    if subprocess.run([ruff, "format", "-q", *python], cwd=root).returncode:
        print("ruff format failed (a conflict left in a file?): fix it, then run again")


def main() -> None:
    dry = "--dry" in sys.argv[1:]
    root = Path(git(Path.cwd(), "rev-parse", "--show-toplevel").strip())
    for line in move(root, dry):
        print(line)
    changed = rewrite(root, dry)
    for path in changed:
        print(f"rewrite {path.relative_to(root)}")
    if not dry:
        tidy(root, changed)
    print(f"{len(changed)} files rewritten" + (" (dry run)" if dry else ""))


if __name__ == "__main__":
    main()
