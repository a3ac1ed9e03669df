"""AMQP topic matching by a table, independent of the router's matcher: the oracle that
property tests hold the router's patterns against."""

from __future__ import annotations


def type_matches(pattern: str, event_type: str) -> bool:
    """Whether ``pattern`` matches ``event_type``: can the first i pattern words match the
    first j words of the type?"""
    p, t = pattern.split("."), event_type.split(".")
    can = [[False] * (len(t) + 1) for _ in range(len(p) + 1)]
    can[0][0] = True
    for i in range(1, len(p) + 1):
        for j in range(len(t) + 1):
            if p[i - 1] == "#":
                can[i][j] = can[i - 1][j] or (j > 0 and can[i][j - 1])
            elif j > 0:
                can[i][j] = can[i - 1][j - 1] and p[i - 1] in ("*", t[j - 1])
    return can[len(p)][len(t)]
