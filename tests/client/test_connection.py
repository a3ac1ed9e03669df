"""The client's connection: where a failed call goes next, how long it keeps trying, streams
opened across a failover, tokens and TLS."""

from __future__ import annotations

import asyncio
import ssl

import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from router._proto.router.v1 import router_pb2 as pb
from router.client.connection import Attempts, Connection, client_ssl, closed, next_address
from tests.helpers.fake_routers import FakeConnection, FakeOpened, FakeStream, FakeStub

HINT = GRPCError(Status.UNAVAILABLE, "standby: the leader (epoch 3) is at c:3")
LIST = ["a:1", "b:2"]


def made(address: str, token: str | None = None) -> Connection:
    """A Connection made where grpclib makes its channels: in a running loop."""

    async def make() -> Connection:
        return Connection(address, token)

    return asyncio.run(make())


def test_a_standby_naming_the_leader_sends_the_next_call_there() -> None:
    assert next_address(LIST, "a:1", HINT) == "c:3"
    assert next_address(["a:1"], "a:1", HINT) == "c:3"


def test_no_router_there_sends_the_next_call_round_the_list() -> None:
    assert next_address(LIST, "a:1", ConnectionRefusedError()) == "b:2"
    assert next_address(LIST, "b:2", GRPCError(Status.UNAVAILABLE, "stopping")) == "a:1"
    assert next_address(LIST, "c:3", ConnectionRefusedError()) == "a:1"  # a leader gone since


def test_a_lone_router_or_a_refusal_keeps_the_call_where_it_is() -> None:
    assert next_address(["a:1"], "a:1", ConnectionRefusedError()) is None
    assert next_address(LIST, "a:1", GRPCError(Status.NOT_FOUND, "no such exchange")) is None


def test_the_address_list_is_read_and_checked() -> None:
    connection = made(" a:1 , b:2 ,", token="secret")
    assert connection.addresses == LIST and connection.address == "a:1"
    assert connection.metadata == {"authorization": "Bearer secret"}
    connection.close()
    with pytest.raises(ValueError, match="HOST:PORT"):
        made(" , ")


def test_the_token_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTER_TOKEN", "from-env")
    assert made("a:1").metadata == {"authorization": "Bearer from-env"}
    monkeypatch.delenv("ROUTER_TOKEN")
    assert made("a:1").metadata is None


def test_a_unary_call_goes_on_to_the_next_router_when_one_is_not_there() -> None:
    answer = pb.ListUsersResponse(users=[pb.User(name="ana")])
    connection = FakeConnection("a:1,b:2", {"b:2": {"admin": FakeStub(ListUsers=answer)}})
    found = asyncio.run(connection.admin.ListUsers(pb.ListUsersRequest()))
    assert found == answer and connection.visited == ["a:1", "b:2"]
    assert connection.address == "b:2"  # the calls after it go there at once


def test_a_lone_router_that_is_not_there_fails_the_call_at_once() -> None:
    connection = FakeConnection("a:1", {})
    with pytest.raises(ConnectionRefusedError):
        asyncio.run(connection.admin.ListUsers(pb.ListUsersRequest()))
    assert connection.visited == ["a:1"]


def test_a_refusal_is_not_retried() -> None:
    refused = GRPCError(Status.PERMISSION_DENIED, "admin only")
    admin = FakeStub(ListUsers=refused)
    connection = FakeConnection("a:1,b:2", {"a:1": {"admin": admin}})
    with pytest.raises(GRPCError) as raised:
        asyncio.run(connection.admin.ListUsers(pb.ListUsersRequest()))
    assert raised.value is refused and len(admin.calls) == 1


def test_calls_stop_going_round_the_list_when_the_failover_time_is_up() -> None:
    connection = FakeConnection("a:1,b:2", {}, failover_s=0.2)
    with pytest.raises(ConnectionRefusedError):
        asyncio.run(connection.admin.ListUsers(pb.ListUsersRequest()))
    assert len(connection.visited) > 2  # round the list, with a back-off between the rounds


def test_a_leader_named_is_tried_at_once_a_few_times_then_the_error_stands() -> None:
    async def story() -> int:
        connection = FakeConnection("a:1", {})
        attempts, tries = Attempts(connection), 0
        with pytest.raises(GRPCError):
            while True:
                tries += 1
                await attempts.failed(HINT)
        return tries

    assert asyncio.run(story()) == 4  # three hints followed at once, the fourth raised


def test_a_stream_opens_on_the_next_router_and_says_its_first_word() -> None:
    stream = FakeStream(answers=["attached"])
    subscriber = FakeStub()
    subscriber.streams["Subscribe"] = [FakeOpened(stream)]
    connection = FakeConnection("a:1,b:2", {"b:2": {"subscriber": subscriber}}, token="t")

    async def begin(opened: FakeStream) -> object:
        await opened.send_message("hello")
        return await opened.recv_message()

    _, found, first = asyncio.run(connection.open_stream("subscriber", "Subscribe", begin))
    assert found is stream and first == "attached" and stream.sent == ["hello"]
    assert subscriber.calls == [("Subscribe", None, {"metadata": connection.metadata})]


def test_closing_a_failed_stream_gives_the_status_the_router_reset_it_with() -> None:
    lost = ConnectionResetError("lost")
    assert asyncio.run(closed(FakeOpened(FakeStream(), told=HINT), lost)) is HINT
    plain = FakeOpened(FakeStream())
    assert asyncio.run(closed(plain, lost)) is lost and plain.exits == [lost]


def test_tls_is_off_unless_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROUTER_TLS_CA", raising=False)
    assert client_ssl(None) is None and client_ssl(False) is None
    context = ssl.create_default_context()
    assert client_ssl(context) is context
    system = client_ssl(True)
    assert isinstance(system, ssl.SSLContext) and system.verify_mode is ssl.CERT_REQUIRED
