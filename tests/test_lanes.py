"""The lanes of the suite: which tests `just test-fast` leaves out, and which share a worker."""

from __future__ import annotations

import fcntl
from pathlib import Path
from types import SimpleNamespace

from tests.helpers import lanes


def test_faults_and_the_listed_modules_are_slow() -> None:
    assert lanes.is_slow(lanes.where(lanes.TESTS / "faults" / "test_crash_loop.py"))
    assert lanes.is_slow("integration/test_client_failover.py")
    assert not lanes.is_slow(lanes.where(Path(__file__)))
    assert not lanes.is_slow("integration/test_http.py")


def test_every_listed_slow_module_exists() -> None:
    missing = [m for m in lanes.SLOW_MODULES if not (lanes.TESTS / m).is_file()]
    assert not missing, f"renamed or removed: {missing}"


def test_the_longest_modules_come_first_each_whole_and_the_rest_keep_their_order() -> None:
    missing = [m for m in lanes.LONGEST_FIRST if not (lanes.TESTS / m).is_file()]
    assert not missing, f"renamed or removed: {missing}"
    paths = [
        "actors/test_replay.py",
        "faults/test_load.py",
        "actors/test_queue.py",
        "faults/test_retention_soak.py",
        "faults/test_retention_soak.py",
        "test_wire.py",
    ]
    items = [SimpleNamespace(path=lanes.TESTS / p, n=n) for n, p in enumerate(paths)]
    lanes.longest_first(items)  # type: ignore[arg-type]
    assert [item.n for item in items] == [3, 4, 1, 0, 2, 5]


def test_the_browser_directory_is_the_browser_lane() -> None:
    assert lanes.is_browser(lanes.where(lanes.TESTS / "browser" / "test_page.py"))
    assert not lanes.is_browser("integration/test_http.py")
    assert lanes.where(Path("/somewhere/else.py")) == ""


def defined(source: str) -> object:
    """The function ``f`` of the source (written as text, so this test calls nothing itself)."""
    namespace: dict[str, object] = {}
    exec(source, namespace)
    return namespace["f"]


def test_a_test_that_calls_postgres_in_its_body_is_found() -> None:
    direct = "def f():\n    with postgres_schema():\n        pass\n"
    nested = (
        "def f():\n"
        "    from tests.helpers.pgcluster import pg_cluster\n"
        "    def inner():\n"
        "        with pg_cluster():\n"
        "            pass\n"
        "    inner()\n"
    )
    assert lanes.calls_postgres(defined(direct))
    assert lanes.calls_postgres(defined(nested))
    assert not lanes.calls_postgres(defined("def f():\n    print('sqlite only')\n"))
    assert not lanes.calls_postgres(None)


def test_modules_that_speak_amqp_are_marked_and_a_restart_is_found() -> None:
    assert lanes.speaks_amqp(lanes.TESTS / "integration" / "test_amqp.py")
    assert not lanes.speaks_amqp(lanes.TESTS / "test_ids.py")
    assert not lanes.speaks_amqp(lanes.TESTS / "no_such_file.py")
    restarts = "def f():\n    async def inner():\n        rabbit.restart_rabbitmq()\n"
    assert lanes.calls(defined(restarts), lanes.RESTART_CALLS)
    assert not lanes.calls(defined("def f():\n    rabbit.publish()\n"), lanes.RESTART_CALLS)


def probe(path: str, how: int) -> bool:
    """Whether another holder (a descriptor of its own, as another process would have) could
    take the lock now."""
    with open(path, "a") as other:
        try:
            fcntl.flock(other, how | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(other, fcntl.LOCK_UN)
        return True


def test_tests_on_the_broker_share_it_and_a_restart_has_it_alone(tmp_path: Path) -> None:
    path = str(tmp_path / "broker.lock")
    with lanes.broker_turn(False, path):
        assert probe(path, fcntl.LOCK_SH), "another user of the broker goes on"
        assert not probe(path, fcntl.LOCK_EX), "a restart waits"
    with lanes.broker_turn(True, path):
        assert not probe(path, fcntl.LOCK_SH), "users wait for the restart"
    assert probe(path, fcntl.LOCK_EX), "nothing is left held"
