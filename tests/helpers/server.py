"""A real ``router serve`` process on loopback, for tests that go over the network."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

# The first admin's token of every router these tests start; clients send it through
# ROUTER_TOKEN, which tests/conftest.py sets (and benchmarks set for themselves).
ADMIN_TOKEN = "rtr_test_" + "a" * 32


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int, besides: tuple[int, ...] = ()) -> list[int]:
    """``count`` ports free now, distinct from each other and from ``besides``: the probes stay
    open until all are chosen (one probe after another may be handed the same port again)."""
    probes: list[socket.socket] = []
    try:
        chosen: list[int] = []
        while len(chosen) < count:
            probe = socket.socket()
            probes.append(probe)
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
            if port not in besides:
                chosen.append(port)
        return chosen
    finally:
        for probe in probes:
            probe.close()


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)  # polling a port under a deadline: nothing to wait on
    raise TimeoutError(f"server did not listen on {port} within {timeout}s")


class RouterProcess:
    def __init__(
        self,
        db_url: str,
        log_path: str,
        port: int | None = None,
        *extra: str,
        admin_token: str | None = ADMIN_TOKEN,
        environment: dict[str, str] | None = None,
    ) -> None:
        self.db_url = db_url
        self.environment = environment or {}  # variables added to the router's
        self.admin_token = admin_token  # None: the router makes one up and prints it
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.http_port = free_ports(1, besides=(self.port,))[0]
        self.http = f"http://127.0.0.1:{self.http_port}"
        self.log_path = log_path
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RouterProcess:
        """Start and wait until both ports listen. A port chosen free may be taken by another
        process before the router binds it (an outgoing connection's ephemeral port): then the
        router exits saying so, and the start is tried again on a new HTTP port, up to 3 times."""
        for attempt in range(3):
            begun = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
            try:
                return self._start_once()
            except RuntimeError:
                with open(self.log_path, "rb") as log:
                    log.seek(begun)
                    taken = b"Address already in use" in log.read()
                if not taken or attempt == 2:
                    raise
                self.http_port = free_ports(1, besides=(self.port,))[0]
                self.http = f"http://127.0.0.1:{self.http_port}"
        raise AssertionError("unreachable")

    def _start_once(self) -> RouterProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "router",
                "serve",
                "--db",
                self.db_url,
                "--grpc",
                self.address,
                "--http",
                f"127.0.0.1:{self.http_port}",
                *self.extra,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self._environment(),
        )
        log.close()
        wait_for_port(self.port, self.process)
        wait_for_port(self.http_port, self.process)
        return self

    def _environment(self) -> dict[str, str]:
        environment = {**os.environ, "PYTHONUNBUFFERED": "1", **self.environment}
        environment.pop("ROUTER_ADMIN_TOKEN", None)
        if self.admin_token is not None:
            environment["ROUTER_ADMIN_TOKEN"] = self.admin_token
        return environment

    def kill(self) -> None:
        """SIGKILL: no shutdown, nothing flushed beyond what was committed."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self, timeout: float = 20) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def log(self) -> str:
        with open(self.log_path, errors="replace") as handle:
            return handle.read()


@contextmanager
def running_router(db_url: str, folder: str, *extra: str) -> Iterator[RouterProcess]:
    router = RouterProcess(db_url, os.path.join(folder, "router.log"), None, *extra).start()
    try:
        yield router
    finally:
        if router.process is not None and router.process.poll() is None:
            router.stop()


def leads(router: RouterProcess) -> bool:
    """Whether this router leads (a standby, or one not answering, answers /readyz otherwise)."""
    try:
        with urllib.request.urlopen(router.http + "/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def assert_start_refused(folder: str, flags: list[str], field: str) -> None:
    """``router serve`` with these flags stops at start as a usage error (exit 2), naming
    ``field``."""
    found = subprocess.run(
        [sys.executable, "-m", "router", "serve", "--db", f"sqlite:///{folder}/r.db", *flags],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert found.returncode == 2, (flags, found.stderr)
    assert field in found.stderr, (flags, found.stderr)


def router_cli(router: RouterProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """The ``router`` command against ``router``, to its end."""
    return subprocess.run(
        [sys.executable, "-m", "router", "--server", router.address, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
