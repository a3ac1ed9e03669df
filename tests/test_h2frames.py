"""The DATA frame repr that h2 builds for every received frame shows a length, not a hex dump."""

from __future__ import annotations

from hyperframe.frame import DataFrame

from router import h2frames
from router.client import RouterClient


def test_a_data_frames_repr_names_its_length_without_hexlifying_it() -> None:
    RouterClient("127.0.0.1:1").close()  # a client installs it, as the server does
    frame = DataFrame(1, data=b"\x01\x02" * 8_192)
    assert repr(frame).endswith("data=<16384 bytes>")
    assert "0102" not in repr(frame)
    h2frames.install()  # idempotent
    assert repr(frame).endswith("data=<16384 bytes>")
