"""The DATA frame repr that h2 builds for every received frame shows a length, not a hex dump."""

from __future__ import annotations

from hyperframe.frame import DataFrame

from router.core import h2frames


def test_a_data_frames_repr_names_its_length_without_hexlifying_it() -> None:
    frame = DataFrame(1, data=b"\x01\x02" * 8_192)
    h2frames.install()  # as the gRPC server and each RouterClient do
    assert repr(frame).endswith("data=<16384 bytes>")
    assert "0102" not in repr(frame)
    h2frames.install()  # idempotent
    assert repr(frame).endswith("data=<16384 bytes>")
