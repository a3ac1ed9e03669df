"""``router serve`` as an operator meets it: every flag has a ROUTER_ variable and a default in
--help, secrets can come from the environment and are never shown, a port in use is said in one
line naming the flag, and hypercorn's start line is logged once."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import urllib.request

import pytest

from router.cli.environment import variable
from router.cli.serve import ALL_FLAGS
from tests.helpers.server import (
    RouterProcess,
    free_ports,
    running_router,
    wait_for_port,
)


def serve(*flags: str, **environment: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "router", "serve", *flags],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **environment},
    )


def test_serve_help_names_a_variable_and_a_default_for_every_flag() -> None:
    entries: dict[str, str] = {}  # flag -> its entry, continuation lines joined
    flag = ""
    for line in serve("--help", COLUMNS="400").stdout.splitlines():
        if line.startswith("  -"):
            flag = line.split()[0]
            entries[flag] = line.strip()
        elif line.startswith("   ") and flag:
            entries[flag] += " " + line.strip()
        else:
            flag = ""
    for names, _ in ALL_FLAGS:
        flag = names[0]
        found = re.search(r"\(env (ROUTER_\w+); default: ([^)]+)\)$", entries[flag])
        assert found, f"{flag}: no variable or default in --help: {entries[flag]}"
        assert found.group(1) == variable(flag)
    assert entries["--grpc"].endswith("(env ROUTER_GRPC; default: 127.0.0.1:50051)")


def test_a_secret_from_the_environment_is_used_and_never_shown() -> None:
    secret = "amqp://router:s3cr3t-pa55@rabbit:5672/"
    shown = " ".join(serve("--help", ROUTER_AMQP_URL=secret).stdout.split())
    assert "s3cr3t" not in shown and "set by ROUTER_AMQP_URL" in shown
    # Read from the environment: without an exchange it is refused as the flag would be.
    used = serve(ROUTER_AMQP_URL=secret, ROUTER_DB="sqlite:///never.db")
    assert used.returncode == 2
    assert used.stderr.strip() == "router: --amqp-url and --amqp-exchange go together"


def test_a_value_from_the_environment_is_checked_naming_the_variable() -> None:
    refused = serve(ROUTER_METRICS="maybe", ROUTER_DB="sqlite:///never.db")
    assert refused.returncode == 2
    assert refused.stderr.strip() == "router: ROUTER_METRICS: 'maybe' is not one of on, off"


def test_a_router_configured_by_the_environment_alone(tmp_path: object) -> None:
    grpc, http = free_ports(2)
    process = subprocess.Popen(
        [sys.executable, "-m", "router", "serve"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={
            **os.environ,
            "ROUTER_DB": f"sqlite:///{tmp_path}/router.db",
            "ROUTER_GRPC": f"127.0.0.1:{grpc}",
            "ROUTER_HTTP": f"127.0.0.1:{http}",
            "ROUTER_DEV": "1",
            "ROUTER_RETAIN_FOR": "7d",
        },
    )
    try:
        wait_for_port(grpc, process)
        wait_for_port(http, process)
        with urllib.request.urlopen(f"http://127.0.0.1:{http}/v1/stats", timeout=10) as answer:
            assert answer.status == 200, "auth is off (ROUTER_DEV=1): no token needed"
    finally:
        process.terminate()
        assert process.wait(30) == 0


@pytest.mark.parametrize("taken", ["--grpc", "--http"])
def test_a_port_in_use_is_said_in_one_line_naming_the_flag(
    sqlite_url: str, tmp_path: object, taken: str
) -> None:
    holder = socket.create_server(("127.0.0.1", 0))
    try:
        port = holder.getsockname()[1]
        other = free_ports(1, besides=(port,))[0]
        addresses = {"--grpc": f"127.0.0.1:{other}", "--http": f"127.0.0.1:{other}"}
        addresses[taken] = f"127.0.0.1:{port}"
        flags = [part for pair in addresses.items() for part in pair]
        refused = serve("--db", sqlite_url, *flags)
    finally:
        holder.close()
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr, refused.stderr
    assert refused.stderr.count("Address already in use") == 1, refused.stderr
    (line,) = [x for x in refused.stderr.splitlines() if x.startswith("router:")]
    assert line == (
        f"router: cannot listen on 127.0.0.1:{port}: Address already in use (another process"
        f" holds it); choose another address with {taken} (env {variable(taken)})"
    )


def test_hypercorn_says_where_it_listens_once(sqlite_url: str, tmp_path: object) -> None:
    with running_router(sqlite_url, str(tmp_path)) as served:
        log = served.log()
    assert log.count(f"Running on http://127.0.0.1:{served.http_port}") == 1, log


def test_a_standby_says_a_port_in_use_in_one_line_too(tmp_path: object) -> None:
    """A standby binds the same ports: the same one line."""
    from tests.helpers.databases import postgres_schema

    with postgres_schema() as url:
        leader = RouterProcess(url, f"{tmp_path}/leader.log").start()
        try:
            refused = serve(
                "--db",
                url,
                "--grpc",
                f"127.0.0.1:{free_ports(1)[0]}",
                "--http",
                f"127.0.0.1:{leader.http_port}",
            )
        finally:
            leader.stop()
    assert refused.returncode == 1
    assert refused.stderr.splitlines()[-1].startswith(
        f"router: cannot listen on 127.0.0.1:{leader.http_port}: Address already in use"
    )
    assert "Traceback" not in refused.stderr
