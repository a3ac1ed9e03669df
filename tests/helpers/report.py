"""Figures of the fault suite: printed always, and appended to ``$FAULTS_REPORT`` (JSON lines)
when it is set, for ``just faults`` to turn into docs/reliability.md."""

from __future__ import annotations

import json
import os
import time
from typing import Any


def record(scenario: str, **figures: Any) -> None:
    line = {"scenario": scenario, "at": time.strftime("%Y-%m-%d %H:%M:%S"), **figures}
    print(f"\nFIGURES {json.dumps(line)}")
    path = os.environ.get("FAULTS_REPORT")
    if path:
        with open(path, "a") as out:
            out.write(json.dumps(line) + "\n")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0
