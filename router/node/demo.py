"""``just demo``: start a router on a fresh SQLite file and show it doing its job, then stop.

Creates an exchange, publishes events (one re-published), tails them as a durable subscriber,
kills the router with SIGKILL, restarts it, and shows the subscriber resuming where it acked.
Auth is on: the first start creates user ``admin`` with the token the demo hands it
(ROUTER_ADMIN_TOKEN); the demo then adds a consumer and shows what its role may not do.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


ADMIN_TOKEN = f"rtr_demo_{secrets.token_urlsafe(24)}"
HTTP = f"127.0.0.1:{free_port()}"
# Published twice: once before its exchange exists, once more as a duplicate.
FIRST_ORDER = (
    "publish",
    "order.created",
    "--data",
    '{"order": 1}',
    "--id",
    "7d4a1c2e-0000-4000-8000-000000000001",
)


def start(db: str, address: str, log: str) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "router",
                "serve",
                "--db",
                db,
                "--grpc",
                address,
                "--http",
                HTTP,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "ROUTER_ADMIN_TOKEN": ADMIN_TOKEN},
        )
    host, port = address.rsplit(":", 1)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, int(port)), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.1)  # polling the port under a deadline: nothing to wait on
    raise SystemExit(f"the router did not start; see {log}")


def step(
    title: str, address: str, *args: str, stdin: str | None = None, token: str = ADMIN_TOKEN
) -> str:
    print(f"\n$ router {' '.join(args)}" + ("   # with stdin" if stdin else ""), flush=True)
    result = subprocess.run(
        [sys.executable, "-m", "router", "--server", address, *args],
        input=stdin,
        text=True,
        capture_output=True,
        timeout=60,
        env={**os.environ, "ROUTER_TOKEN": token},
    )
    print(result.stdout.rstrip() or result.stderr.rstrip())
    if title:
        print(f"  -> {title}")
    return result.stdout


def main() -> None:
    folder = tempfile.mkdtemp(prefix="router-demo-")
    db = f"sqlite:///{os.path.join(folder, 'router.db')}"
    address = f"127.0.0.1:{free_port()}"
    log = os.path.join(folder, "router.log")
    print(f"ROUTER_ADMIN_TOKEN=... router serve --db {db} --grpc {address}   (log: {log})")
    print("export ROUTER_TOKEN=...   # the admin's token, for the commands below")
    router = start(db, address, log)
    try:
        step(
            "events stored before the exchange exists are still reachable",
            address,
            *FIRST_ORDER,
        )
        step("", address, "exchange", "create", "orders", "--pattern", "order.*")
        lines = "".join(
            f'{{"type": "order.paid", "data": {{"order": {n}}}}}\n' for n in range(2, 6)
        )
        step("", address, "publish", "--stdin", stdin=lines)
        step(
            "the same id again: acked as a duplicate, stored once",
            address,
            *FIRST_ORDER,
        )
        step("", address, "exchange", "list")
        step(
            "billing reads and acks three events",
            address,
            "tail",
            "orders",
            "--name",
            "billing",
            "--from",
            "earliest",
            "--max",
            "3",
        )
        print("\n$ kill -9 <router>   # no shutdown, nothing flushed but what was committed")
        router.send_signal(signal.SIGKILL)
        router.wait()
        router = start(db, address, log)
        print("$ router serve ...   # restarted on the same database")
        step("", address, "publish", "order.shipped", "--data", '{"order": 1}')
        step(
            "billing resumes after its last ack: no gap, no duplicate",
            address,
            "tail",
            "orders",
            "--name",
            "billing",
            "--max",
            "3",
        )
        _users_and_rest(address)
    finally:
        router.send_signal(signal.SIGTERM)
        router.wait(20)
    print(f"\nDone. The database is {db}; the router's log is {log}.")


def _users_and_rest(address: str) -> None:
    """A consumer user's token and what it may do; the same subscribers over REST."""
    added = step(
        "a consumer user: its token is shown once, only its hash is stored",
        address,
        "user",
        "add",
        "audit",
        "--role",
        "consumer",
        "--json",
    )
    consumer = json.loads(added)["token"]
    step(
        "a consumer may subscribe but not administer",
        address,
        "exchange",
        "create",
        "everything",
        "--pattern",
        "#",
        token=consumer,
    )
    step("", address, "subscriber", "list")
    pull = f"http://{HTTP}/v1/exchanges/orders/subscribers/web/events?from=earliest&max=2"
    print(f"\n$ curl -H 'authorization: Bearer ...' '{pull}'")
    request = urllib.request.Request(pull, headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
    print(json.dumps([{k: e[k] for k in ("offset", "type", "data")} for e in body["events"]]))
    print("  -> the same durable subscribers over the REST API (pull, then POST .../ack)")


if __name__ == "__main__":
    main()
