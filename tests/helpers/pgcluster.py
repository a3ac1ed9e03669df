"""A PostgreSQL primary with a synchronous streaming standby, made for one test in a temporary
folder on free loopback ports (Debian's initdb, pg_basebackup -R and pg_ctl, run as the
``postgres`` user when the tests run as root), and torn down after. The machine's own server on
5432 is left alone."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from tests.helpers.server import free_ports


def _bindir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return os.path.dirname(found[-1]) if found else None


class PgCluster:
    def __init__(self, folder: str, bindir: str) -> None:
        self.folder = folder
        self.bindir = bindir
        self.primary_port, self.standby_port = free_ports(2)
        self.primary = os.path.join(folder, "primary")
        self.standby = os.path.join(folder, "standby")

    def _run(self, *command: str) -> None:
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        tool = os.path.join(self.bindir, command[0])
        subprocess.run(
            [*as_postgres, tool, *command[1:]],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=60,
        )

    def url(self) -> str:
        """Both hosts: libpq connects to the one that accepts writes."""
        return (
            f"postgresql://postgres@127.0.0.1:{self.primary_port},127.0.0.1:{self.standby_port}"
            "/postgres?target_session_attrs=read-write&connect_timeout=2"
        )

    def start(self, standby: bool = True) -> None:
        """Start the primary and, with ``standby``, its synchronous standby."""
        self._run("initdb", "-D", self.primary, "-A", "trust", "-U", "postgres")
        replication = {"synchronous_standby_names": "'standby1'"} if standby else {}
        self._configure(
            self.primary,
            port=self.primary_port,
            wal_level="replica",
            max_wal_senders=4,
            synchronous_commit="on",
            **replication,
        )
        self.start_primary()
        if standby:
            self._start_standby()

    def start_primary(self) -> None:
        self._run("pg_ctl", "-D", self.primary, "-l", self.primary + ".log", "-w", "start")

    def stop_primary(self) -> None:
        """A clean stop (``-m fast``: sessions ended, a shutdown checkpoint), as an operator's."""
        self._run("pg_ctl", "-D", self.primary, "-m", "fast", "-w", "stop")

    def primary_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.primary_port}/postgres?connect_timeout=2"

    def _start_standby(self) -> None:
        self._run(
            "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.primary_port),
            "-U",
            "postgres",
            "-D",
            self.standby,
            "-R",
        )
        self._configure(
            self.standby,
            port=self.standby_port,
            # Once promoted it has no standby of its own: commits must not wait for one.
            synchronous_standby_names="''",
            primary_conninfo=(
                f"'host=127.0.0.1 port={self.primary_port} user=postgres application_name=standby1'"
            ),
        )
        self._run("pg_ctl", "-D", self.standby, "-l", self.standby + ".log", "-w", "start")
        deadline = time.monotonic() + 30
        while not self._synchronous():
            if time.monotonic() > deadline:
                raise RuntimeError("the standby did not become synchronous within 30 s")
            time.sleep(0.1)  # polling the primary's view of its standby: no event to wait on

    def _synchronous(self) -> bool:
        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{self.primary_port}/postgres"
        ) as connection:
            rows = connection.execute(
                "SELECT 1 FROM pg_stat_replication WHERE sync_state = 'sync'"
            ).fetchall()
        return bool(rows)

    def _configure(self, data: str, **settings: object) -> None:
        with open(os.path.join(data, "postgresql.auto.conf"), "a") as conf:
            conf.write("listen_addresses = '127.0.0.1'\n")
            conf.write(f"unix_socket_directories = '{self.folder}'\n")
            for name, value in settings.items():
                conf.write(f"{name} = {value}\n")

    def lose_primary(self) -> None:
        """The primary dies: no shutdown checkpoint, connections cut."""
        self._run("pg_ctl", "-D", self.primary, "-m", "immediate", "-w", "stop")

    def promote(self) -> None:
        self._run("pg_ctl", "-D", self.standby, "-w", "promote")

    def stop(self) -> None:
        for data in (self.standby, self.primary):
            if os.path.exists(os.path.join(data, "postmaster.pid")):
                with contextlib.suppress(subprocess.CalledProcessError):  # stopped meanwhile
                    self._run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")


@contextmanager
def pg_cluster(standby: bool = True) -> Iterator[PgCluster]:
    """A primary with a synchronous standby; or, without ``standby``, a server of the test's own
    (to stop and start without touching the machine's)."""
    bindir = _bindir()
    if bindir is None or shutil.which("runuser") is None:
        problem = "PostgreSQL server binaries (/usr/lib/postgresql/*/bin) not found"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the database failover test: {problem}")
        pytest.skip(problem)
    folder = tempfile.mkdtemp(prefix="router-pg-")
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    cluster = PgCluster(folder, bindir)
    try:
        cluster.start(standby)
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
