"""The permission table of docs/security.md, made true: every call in it, over gRPC and REST, as
a user of every shape, is let through or refused exactly as the table says. The table is read
from the document, so the document and the router cannot drift apart; every served method and
route, and every call the page makes, must be in it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from grpclib.health.v1.health_grpc import HealthStub
from grpclib.health.v1.health_pb2 import HealthCheckRequest
from grpclib.reflection.v1 import reflection_grpc, reflection_pb2
from grpclib.reflection.v1alpha import reflection_grpc as alpha_grpc
from grpclib.reflection.v1alpha import reflection_pb2 as alpha_pb2

from router._proto.router.v1 import router_grpc
from router._proto.router.v1 import router_pb2 as pb
from router.client import OutgoingEvent, RouterClient
from router.grpc.health import health_and_reflection
from router.http.openapi import document
from tests.helpers.server import ADMIN_TOKEN, RouterProcess, running_router
from tests.helpers.users import add_users, grant, team

ROOT = Path(__file__).resolve().parents[2]
SHAPES = ["admin", "publisher", "consumer", "orders team", "payments team", "monitor", "denied"]
EXCHANGE, TYPE, SUBSCRIBER = "orders", "order.created", "matrix"
Call = Callable[[Channel, list[tuple[str, str]]], Awaitable[Any]]


def table() -> list[tuple[list[str], dict[str, bool]]]:
    """The rows of the permission table: (calls, shape -> allowed)."""
    text = (ROOT / "docs" / "security.md").read_text()
    body = text.split("<!-- permissions: begin -->")[1].split("<!-- permissions: end -->")[0]
    lines = [line.strip() for line in body.strip().splitlines()]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header == ["calls", *SHAPES], header
    rows = []
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert all(c in ("yes", "no") for c in cells[1:]), line
        calls = re.findall(r"`([^`]+)`", cells[0])
        rows.append(
            (calls, {shape: cell == "yes" for shape, cell in zip(SHAPES, cells[1:], strict=True)})
        )
    return rows


GRANTS: dict[str, tuple[str, list[pb.Grant], list[pb.Grant]]] = {  # role, taken, given
    "publisher": ("publisher", [], []),
    "consumer": ("consumer", [], []),
    "orders team": ("consumer", [grant("consume")], team("order.#", "orders")),
    "payments team": ("consumer", [grant("consume")], team("payment.#", "payments")),
    "monitor": ("consumer", [grant("consume")], [grant("monitor")]),
    "denied": (
        "consumer",
        [],
        [
            grant("publish", "#"),
            grant("manage"),
            grant("monitor"),
            *(
                grant(g.action, g.pattern, deny=True)
                for g in [*team("order.#", "orders"), grant("monitor")]
            ),
        ],
    ),
}


def user(shape: str) -> str:
    """The name of the user of a shape in GRANTS."""
    return shape.replace(" ", "-")


@pytest.fixture
def served(sqlite_url: str, tmp_path: object) -> Iterator[tuple[RouterProcess, dict[str, str]]]:
    """A router with the exchanges, one event, and a user of each shape: (router, tokens)."""
    with running_router(sqlite_url, str(tmp_path)) as process:

        async def setup() -> dict[str, str]:
            tokens: dict[str, str] = {}
            async with RouterClient(process.address) as admin:
                tokens["admin"] = ADMIN_TOKEN
                for name, pattern in (("orders", "order.#"), ("payments", "payment.#")):
                    await admin.create_exchange(name, [pattern])
                await admin.publish([OutgoingEvent(TYPE, b"{}")])
                added = await add_users(
                    admin, {user(shape): made for shape, made in GRANTS.items()}
                )
                tokens.update({shape: added[user(shape)] for shape in GRANTS})
            return tokens

        yield process, asyncio.run(setup())


def _service(stub: str | type, channel: Channel) -> Any:
    """A router.v1 stub by its name in router_grpc, or a standard service's stub class."""
    return (getattr(router_grpc, stub) if isinstance(stub, str) else stub)(channel)


def _unary(stub: str | type, method: str, request: Any) -> Call:
    async def call(channel: Channel, metadata: list[tuple[str, str]]) -> Any:
        service = _service(stub, channel)
        return await getattr(service, method)(request, metadata=metadata, timeout=10)

    return call


def _stream(stub: str | type, method: str, request: Any) -> Call:
    """Open the stream, send ``request``, and wait for the first answer: a refusal comes as the
    first thing the router sends; an allowed stream may stay quiet, so after 3 s it counts as
    let through."""

    async def call(channel: Channel, metadata: list[tuple[str, str]]) -> Any:
        service = _service(stub, channel)
        stream = getattr(service, method).open(metadata=metadata, timeout=10)
        await stream.__aenter__()  # never left: the channel's close ends the stream
        await stream.send_message(request, end=True)
        try:
            return await asyncio.wait_for(stream.recv_message(), 3)
        except TimeoutError:
            return None

    return call


REF = pb.SubscriberRef(exchange=EXCHANGE, name=SUBSCRIBER)
EARLIEST = pb.StartPoint(kind=pb.StartPoint.EARLIEST)
STORED = pb.StartPoint(kind=pb.StartPoint.STORED)  # moving a cursor is another rule (test_reach)
PUBLISH = pb.PublishRequest(events=[pb.Event(type=TYPE, payload=b"{}")])
GRPC: dict[str, Call] = {
    "Publisher.Publish": _unary("PublisherStub", "Publish", PUBLISH),
    "Publisher.PublishStream": _stream("PublisherStub", "PublishStream", PUBLISH),
    "Subscriber.Subscribe": _stream(
        "SubscriberStub",
        "Subscribe",
        pb.SubscribeRequest(
            start=pb.SubscribeStart(exchange=EXCHANGE, subscriber=SUBSCRIBER, start=STORED)
        ),
    ),  # made again per user by own_calls: a subscriber is its creator's (test_reach)
    "Subscriber.Read": _unary(
        "SubscriberStub", "Read", pb.ReadRequest(exchange=EXCHANGE, start=EARLIEST)
    ),
    "Admin.CreateExchange": _unary(
        "AdminStub",
        "CreateExchange",
        pb.CreateExchangeRequest(name=EXCHANGE, patterns=["order.#"]),
    ),
    "Admin.DeleteExchange": _unary(
        "AdminStub", "DeleteExchange", pb.DeleteExchangeRequest(name=EXCHANGE)
    ),
    "Admin.DeleteSubscriber": _unary("AdminStub", "DeleteSubscriber", REF),
    "Admin.ResetSubscriber": _unary(
        "AdminStub", "ResetSubscriber", pb.ResetSubscriberRequest(subscriber=REF, to=EARLIEST)
    ),
    "Admin.SetSubscriberSettings": _unary(
        "AdminStub", "SetSubscriberSettings", pb.SetSubscriberSettingsRequest(subscriber=REF)
    ),
    "Admin.RedriveParked": _unary(
        "AdminStub", "RedriveParked", pb.ParkedRequest(subscriber=REF, all=True)
    ),
    "Admin.DiscardParked": _unary(
        "AdminStub", "DiscardParked", pb.ParkedRequest(subscriber=REF, all=True)
    ),
    "Admin.Reemit": _stream(
        "AdminStub",
        "Reemit",
        pb.ReemitRequest(exchange=EXCHANGE, amqp_exchange="x"),  # the router's own broker
    ),
    "Admin.ListExchanges": _unary("AdminStub", "ListExchanges", pb.ListExchangesRequest()),
    "Admin.DescribeExchange": _unary(
        "AdminStub", "DescribeExchange", pb.DescribeExchangeRequest(name=EXCHANGE)
    ),
    "Admin.ListQueues": _unary("AdminStub", "ListQueues", pb.ListQueuesRequest()),
    "Admin.ListSubscribers": _unary("AdminStub", "ListSubscribers", pb.ListSubscribersRequest()),
    "Admin.ListParked": _unary("AdminStub", "ListParked", pb.ListParkedRequest(subscriber=REF)),
    "Admin.FollowParked": _stream(
        "AdminStub", "FollowParked", pb.ListParkedRequest(subscriber=REF)
    ),
    "Admin.GetServerInfo": _unary("AdminStub", "GetServerInfo", pb.ServerInfoRequest()),
    "Admin.GetStats": _unary("AdminStub", "GetStats", pb.StatsRequest()),
    "Admin.TrimLog": _unary("AdminStub", "TrimLog", pb.TrimLogRequest(before_seq=1, dry_run=True)),
    "Admin.AddUser": _unary(
        "AdminStub", "AddUser", pb.AddUserRequest(name="newcomer", role="consumer")
    ),
    "Admin.RemoveUser": _unary("AdminStub", "RemoveUser", pb.RemoveUserRequest(name="nobody")),
    "Admin.ListUsers": _unary("AdminStub", "ListUsers", pb.ListUsersRequest()),
    "Admin.GetUser": _unary("AdminStub", "GetUser", pb.GetUserRequest(name="monitor")),
    "Admin.AddGrants": _unary(
        "AdminStub", "AddGrants", pb.ChangeGrantsRequest(user="nobody", grants=[grant("monitor")])
    ),
    "Admin.RevokeGrants": _unary(
        "AdminStub",
        "RevokeGrants",
        pb.ChangeGrantsRequest(user="nobody", grants=[grant("monitor")]),
    ),
    "Admin.SetQuotas": _unary(
        "AdminStub", "SetQuotas", pb.SetQuotasRequest(user="nobody", quotas=pb.Quotas())
    ),
    "Admin.IssueToken": _unary("AdminStub", "IssueToken", pb.IssueTokenRequest(user="nobody")),
    "Admin.RevokeToken": _unary(
        "AdminStub", "RevokeToken", pb.RevokeTokenRequest(token_id="00000000")
    ),
    "Admin.ListTokens": _unary("AdminStub", "ListTokens", pb.ListTokensRequest()),
    "Admin.ListAudit": _unary("AdminStub", "ListAudit", pb.ListAuditRequest()),
    "Admin.RegisterType": _unary(
        "AdminStub", "RegisterType", pb.RegisterTypeRequest(pattern="audit.#", schema="{}")
    ),
    "Admin.DeleteType": _unary("AdminStub", "DeleteType", pb.DeleteTypeRequest(pattern="none")),
    "Admin.ListTypes": _unary("AdminStub", "ListTypes", pb.ListTypesRequest()),
    "Admin.GetType": _unary("AdminStub", "GetType", pb.GetTypeRequest(pattern="none")),
    "Admin.GetAsyncAPI": _unary("AdminStub", "GetAsyncAPI", pb.AsyncAPIRequest()),
    "Log.Follow": _stream("LogStub", "Follow", pb.FollowRequest()),
    "grpc.health.v1.Health.Check": _unary(HealthStub, "Check", HealthCheckRequest()),
    "grpc.health.v1.Health.Watch": _stream(HealthStub, "Watch", HealthCheckRequest()),
    "grpc.reflection.v1.ServerReflection.ServerReflectionInfo": _stream(
        reflection_grpc.ServerReflectionStub,
        "ServerReflectionInfo",
        reflection_pb2.ServerReflectionRequest(list_services=""),
    ),
    "grpc.reflection.v1alpha.ServerReflection.ServerReflectionInfo": _stream(
        alpha_grpc.ServerReflectionStub,
        "ServerReflectionInfo",
        alpha_pb2.ServerReflectionRequest(list_services=""),
    ),
}
BODIES: dict[str, Any] = {
    "POST /v1/events": {"events": [{"type": TYPE}]},
    "POST /v1/exchanges": {"name": EXCHANGE, "patterns": ["order.#"]},
    "POST /v1/users": {"name": "newcomer-rest", "role": "consumer"},
    "PUT /v1/types/{pattern}": {"schema": {}},
}
NAMES = {"exchange": EXCHANGE, "name": SUBSCRIBER, "pattern": "audit.created"}


def own(shape: str) -> str:
    """The subscriber a user attaches to in the table: one of its own, since attaching to
    another user's is another rule (tests/integration/test_reach.py)."""
    return f"{SUBSCRIBER}-{shape.replace(' ', '-')}"


def own_calls(shape: str) -> dict[str, Call]:
    start = pb.SubscribeStart(exchange=EXCHANGE, subscriber=own(shape), start=STORED)
    subscribe = pb.SubscribeRequest(start=start)
    return {**GRPC, "Subscriber.Subscribe": _stream("SubscriberStub", "Subscribe", subscribe)}


async def grpc_allowed(address: str, call: Call, token: str) -> bool:
    host, port = address.rsplit(":", 1)
    channel = Channel(host, int(port))
    try:
        await call(channel, [("authorization", f"Bearer {token}")])
    except GRPCError as error:
        assert error.status is not Status.UNAUTHENTICATED, error
        return error.status is not Status.PERMISSION_DENIED
    finally:
        channel.close()
    return True


def rest_allowed(base: str, call: str, token: str, shape: str = "admin") -> bool:
    verb, template = call.split(" ", 1)
    path = template.format(**{**NAMES, "name": own(shape)})
    if path.startswith("/v1/users/"):
        path = template.format(name="nobody")
    response = httpx.request(
        verb,
        base + path,
        json=BODIES.get(call, {}) if verb in ("POST", "PUT", "PATCH") else None,
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code != 401, (call, response.text)
    if response.status_code == 403:
        message = response.json()["error"]["message"]
        assert "user '" in message, message  # it names the user
        return False
    return True


def test_every_call_is_allowed_or_refused_as_the_table_says(
    served: tuple[RouterProcess, dict[str, str]],
) -> None:
    process, tokens = served
    wrong: list[str] = []

    async def ensure_exchange() -> None:  # a DeleteExchange let through removed it
        async with RouterClient(process.address) as admin:
            if EXCHANGE not in {x.name for x in await admin.list_exchanges()}:
                await admin.create_exchange(EXCHANGE, ["order.#"])

    for calls, expected in table():
        for call in calls:
            for shape in SHAPES:
                if call in GRPC:
                    made = own_calls(shape)[call]
                    allowed = asyncio.run(grpc_allowed(process.address, made, tokens[shape]))
                else:
                    allowed = rest_allowed(process.http, call, tokens[shape], shape)
                if allowed != expected[shape]:
                    wrong.append(f"{call} as {shape}: {'let through' if allowed else 'refused'}")
                asyncio.run(ensure_exchange())
    assert not wrong, "\n".join(wrong)


def test_the_table_names_every_method_route_and_page_call() -> None:
    listed = {call for calls, _ in table() for call in calls}
    methods = {
        f"{service.name}.{method.name}"
        for service in pb.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }
    standard, _ = health_and_reflection(serving=True)
    methods |= {path.strip("/").replace("/", ".") for s in standard for path in s.__mapping__()}
    assert methods <= listed, methods - listed
    assert set(GRPC) == methods  # and the test makes each one
    routes = {
        f"{verb.upper()} {path}" for path, item in document()["paths"].items() for verb in item
    }
    assert routes <= listed, routes - listed
    page = (ROOT / "router" / "http" / "page.js").read_text()
    made = re.findall(r'api\("(\w+)", [`"]([^`"?$]+)', page)
    assert len(made) >= 6
    for verb, prefix in made:
        assert any(c.startswith(f"{verb} {prefix}") for c in listed), (verb, prefix)
