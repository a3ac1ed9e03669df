"""The permission table of docs/security.md, written from router.control.policy: one row per access a
call may need, naming its gRPC methods and REST routes, and which user of each shape
(tests/integration/test_permissions.py makes them) may make it.

    python -m scripts.permission_table          # rewrite the table in docs/security.md
    python -m scripts.permission_table --check  # exit 1 when the committed table differs
"""

from __future__ import annotations

import sys
from pathlib import Path

from router.control import policy
from router.core.model import Access

DOC = Path(__file__).resolve().parents[1] / "docs" / "security.md"
BEGIN, END = "<!-- permissions: begin -->", "<!-- permissions: end -->"
SHAPES = ("admin", "publisher", "consumer", "orders team", "payments team", "monitor", "denied")
# Who may make a call that needs this, among the users of each shape: the admin role may do
# anything; the publisher and consumer roles publish and consume; the teams have publish,
# consume and manage on their own types and exchange (the orders exchange is the table's);
# monitor has the monitor grant; denied has grants taken back by deny rules.
ALLOWED: dict[policy.Rule, tuple[str, ...]] = {
    Access.PUBLISH: ("admin", "publisher", "orders team"),
    Access.CONSUME: ("admin", "consumer", "orders team"),
    Access.MANAGE: ("admin", "orders team"),
    Access.MONITOR: ("admin", "monitor"),
    Access.ADMIN: ("admin",),
    policy.ANY_USER: SHAPES,
    policy.OPEN: SHAPES,
}
NOTES = {
    policy.ANY_USER: " (any user's token: the event types' contracts; the exchanges the user may"
    " consume or monitor)",
    policy.OPEN: " (no token needed)",
}


def table() -> str:
    """The table's markdown, between its markers."""
    lines = [f"| calls | {' | '.join(SHAPES)} |", "|" + "---|" * (len(SHAPES) + 1)]
    for rule, allowed in ALLOWED.items():
        rows = [op for op in policy.OPERATIONS if op.rule == rule]
        names = [name for op in rows for name in op.grpc] + [r for op in rows for r in op.rest]
        calls = ", ".join(f"`{name}`" for name in names) + NOTES.get(rule, "")
        cells = " | ".join("yes" if shape in allowed else "no" for shape in SHAPES)
        lines.append(f"| {calls} | {cells} |")
    return "\n".join(lines)


def written(text: str) -> str:
    """``text`` (docs/security.md) with the table between its markers made anew."""
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    text = DOC.read_text()
    if "--check" in argv:
        if written(text) != text:
            print(
                f"{DOC}: the permission table differs from router.control.policy", file=sys.stderr
            )
            return 1
        return 0
    DOC.write_text(written(text))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
