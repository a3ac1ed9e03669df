"""How a standby names the leader when it refuses a call (router.node.standby.LeaderHint.message),
read by every call of the client that follows the leader."""

from __future__ import annotations

import re

from grpclib.const import Status
from grpclib.exceptions import GRPCError

# How a standby names the leader (router.node.standby.LeaderHint.message).
_LEADER_HINT = re.compile(r"the leader \(epoch \d+\) is at (\S+)")


def leader_hint(error: BaseException) -> str | None:
    """The leader's address a standby gave in refusing a call, or None."""
    if isinstance(error, GRPCError) and error.status is Status.UNAVAILABLE and error.message:
        found = _LEADER_HINT.search(error.message)
        if found:
            return found.group(1)
    return None
