"""The committed generated code matches protos/ (run `just proto` after editing a .proto)."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_generated_code_is_not_stale(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "PATH": f"{pathlib.Path(sys.executable).parent}:{os.environ['PATH']}"}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{ROOT / 'protos'}",
            f"--python_out={out}",
            f"--grpclib_python_out={out}",
            f"--pyi_out={out}",
            str(ROOT / "protos/router/v1/router.proto"),
        ],
        check=True,
        env=env,
    )
    fixer = tmp_path / "scripts" / "fix_proto_imports.py"
    fixer.parent.mkdir()
    shutil.copy(ROOT / "scripts" / "fix_proto_imports.py", fixer)
    (tmp_path / "router").mkdir()
    shutil.move(str(out), str(tmp_path / "router" / "_proto"))
    subprocess.run([sys.executable, str(fixer)], check=True)
    for name in ["router_pb2.py", "router_pb2.pyi", "router_grpc.py"]:
        fresh = (tmp_path / "router" / "_proto" / "router" / "v1" / name).read_text()
        committed = (ROOT / "router" / "_proto" / "router" / "v1" / name).read_text()
        assert fresh == committed, f"router/_proto/router/v1/{name} is stale: run `just proto`"
