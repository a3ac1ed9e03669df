"""The test harness starts a router again on another HTTP port when its port was taken."""

from __future__ import annotations

import socket

from tests.helpers.server import RouterProcess, free_ports


def test_ports_chosen_together_are_distinct() -> None:
    ports = free_ports(20)
    assert len(set(ports)) == 20
    assert free_ports(1, besides=(ports[0],))[0] != ports[0]


def test_a_router_whose_http_port_is_taken_starts_on_another(
    sqlite_url: str, tmp_path: object
) -> None:
    router = RouterProcess(sqlite_url, f"{tmp_path}/router.log")
    taken = router.http_port
    with socket.socket() as squatter:  # bound, not listening: as an outgoing connection's port
        squatter.bind(("127.0.0.1", taken))
        router.start()
        try:
            assert router.http_port != taken
            assert router.http == f"http://127.0.0.1:{router.http_port}"
        finally:
            router.stop()
