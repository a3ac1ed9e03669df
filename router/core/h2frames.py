"""A received HTTP/2 DATA frame's repr, made cheap (imported by the gRPC server and the client).

h2 4.x logs every frame it receives with ``logger.trace("Received frame: %s", repr(frame))``
(``H2Connection._receive_frame``): the repr is built even though nothing logs it, and a DATA
frame's repr copies its body and hexlifies all of it to show the first ten bytes, a large share
of a client's CPU in catch-up (benchmarks/README.md, "Catch-up"). After :func:`install` a DATA
frame's repr shows its length instead of its first bytes; nothing else about h2 changes.
"""

from __future__ import annotations

from hyperframe.frame import DataFrame


def _body_repr(self: DataFrame) -> str:
    return f"padding_length={self.pad_length}, data=<{len(self.data)} bytes>"


def install() -> None:
    """Idempotent; called by the gRPC server and each RouterClient before they take frames."""
    DataFrame._body_repr = _body_repr  # type: ignore[method-assign,assignment]
