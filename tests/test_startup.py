"""Start-up refusals in one line: a bind failure names the address and the flag to change; any
other failure is left as it is (a missing TLS file is not a port problem)."""

from __future__ import annotations

import errno
import socket

import pytest

from router.core.errors import Unavailable
from router.node.startup import CannotListen, listening, refusal


def test_an_address_in_use_names_the_flag_and_its_variable() -> None:
    with pytest.raises(Exception) as raised, listening("--http", "0.0.0.0:8080"):
        raise ExceptionGroup("start", [OSError(errno.EADDRINUSE, "address already in use")])
    assert refusal(raised.value) == (
        "cannot listen on 0.0.0.0:8080: Address already in use (another process holds it);"
        " choose another address with --http (env ROUTER_HTTP)"
    )


def test_an_unknown_host_is_said_as_such() -> None:
    with pytest.raises(Exception) as raised, listening("--grpc", "nohost:50051"):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    message = refusal(raised.value)
    assert message is not None and "nohost:50051: the host is not known" in message


def test_other_failures_at_start_are_left_alone() -> None:
    with pytest.raises(Exception) as raised, listening("--grpc", "127.0.0.1:50051"):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "tls.pem")
    assert not isinstance(raised.value, CannotListen)
    assert refusal(raised.value) is None, "a defect keeps its traceback"
    assert refusal(ValueError("x")) is None


def test_a_refusal_among_the_tasks_failures_is_found() -> None:
    group = ExceptionGroup("run", [ExceptionGroup("inner", [Unavailable("store: down")])])
    assert refusal(group) == "store: down"
