"""A standby router's answers, over real gRPC and HTTP: alive, not ready (NOT_SERVING to the gRPC
health check), and every call refused with the leader's address; a client given both addresses
reaches the leader."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from grpclib.health.v1.health_grpc import HealthStub
from grpclib.health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse

from router._proto.router.v1 import router_grpc
from router._proto.router.v1 import router_pb2 as pb
from router.client import RouterClient
from tests.helpers.databases import postgres_schema
from tests.helpers.polling import until
from tests.helpers.server import ADMIN_TOKEN, RouterProcess

pytestmark = pytest.mark.postgres


def get(url: str) -> tuple[int, dict[str, str], dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


async def refused_with_trailer(address: str) -> tuple[GRPCError, dict[str, str]]:
    host, port = address.rsplit(":", 1)
    channel = Channel(host, int(port))
    try:
        admin = router_grpc.AdminStub(channel)
        async with admin.ListExchanges.open(
            metadata={"authorization": f"Bearer {ADMIN_TOKEN}"}
        ) as stream:
            await stream.send_message(pb.ListExchangesRequest(), end=True)
            with pytest.raises(GRPCError) as caught:
                await stream.recv_message()
            return caught.value, dict(stream.trailing_metadata or {})
    finally:
        channel.close()


async def health(address: str) -> int:
    """The gRPC health check's answer for the whole server, asked without a token."""
    host, port = address.rsplit(":", 1)
    channel = Channel(host, int(port))
    try:
        return (await HealthStub(channel).Check(HealthCheckRequest())).status
    finally:
        channel.close()


def test_a_standby_refuses_everything_and_names_the_leader(tmp_path: object) -> None:
    with postgres_schema() as url:
        leader = RouterProcess(url, f"{tmp_path}/a.log", None, "--name", "a").start()
        standby = RouterProcess(url, f"{tmp_path}/b.log", None, "--name", "b").start()
        try:
            assert get(leader.http + "/readyz")[0] == 200
            assert get(standby.http + "/healthz")[0] == 200
            status, _, body = get(standby.http + "/readyz")
            assert status == 503 and body["status"] == "standby"
            status, headers, body = get(standby.http + "/v1/stats")
            leader_http = leader.http.removeprefix("http://")
            assert status == 503
            assert headers["router-leader"] == leader_http
            assert leader_http in str(body["error"])
            request = urllib.request.Request(
                leader.http + "/v1/stats", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
            )
            with urllib.request.urlopen(request, timeout=5) as response:
                cluster = json.loads(response.read())["cluster"]
            assert (cluster["leader"], cluster["epoch"]) == ("a", 1)

            assert asyncio.run(health(standby.address)) == HealthCheckResponse.NOT_SERVING
            assert asyncio.run(health(leader.address)) == HealthCheckResponse.SERVING
            error, trailers = asyncio.run(refused_with_trailer(standby.address))
            assert error.status is Status.UNAVAILABLE
            assert leader.address in (error.message or "")
            assert trailers["router-leader"] == leader.address

            async def through_the_list() -> list[str]:
                async with RouterClient(f"{standby.address},{leader.address}") as client:
                    await client.create_exchange("orders", ["order.*"])
                    names = [e.name for e in await client.list_exchanges()]
                    assert client.address == leader.address

                    async def both_seen() -> bool:  # the leader's view: each lease renewal
                        return len((await client.server_info()).routers) == 2

                    await until(both_seen, timeout=15)
                    info = await client.server_info()
                    assert (info.leader, info.epoch) == ("a", 1)
                    assert info.database_host.endswith(":5432")
                    assert [(n.name, n.leading) for n in info.routers] == [
                        ("a", True),
                        ("b", False),
                    ]
                    return names

            assert asyncio.run(through_the_list()) == ["orders"]
        finally:
            standby.stop()
            leader.stop()
        assert "standing by name=b" in standby.log()


def test_an_embedded_sqlite_router_leads_alone(tmp_path: object) -> None:
    router = RouterProcess(f"sqlite:///{tmp_path}/r.db", f"{tmp_path}/r.log").start()
    try:
        assert get(router.http + "/readyz")[0] == 200
    finally:
        router.stop()
    assert "leading" not in router.log() and "standing by" not in router.log()
