"""The client's admin calls alone, on a router in memory: the requests they send and what
they make of the answers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from router._proto.router.v1 import router_pb2 as pb
from router.client.admin import AdminCalls, parked_request, subscriber_ref
from router.client.settings import SubscriberSettings
from router.client.values import start_point
from tests.helpers.fake_routers import FakeConnection, FakeOpened, FakeStream, FakeStub

BILLING = pb.SubscriberRef(exchange="orders", name="billing", limit_size=10)


class Admin(AdminCalls):
    def __init__(self, connection: FakeConnection) -> None:
        self._connection = connection


def admin(**answers: Any) -> tuple[Admin, FakeStub]:
    stub = FakeStub(**answers)
    return Admin(FakeConnection("a:1", {"a:1": {"admin": stub}}, token="t")), stub


def test_a_subscriber_is_named_by_its_exchange_name_and_queue() -> None:
    assert subscriber_ref("orders", "billing", 10) == BILLING
    assert parked_request("orders", "billing", [3, 4], 10) == pb.ParkedRequest(
        subscriber=BILLING, offsets=[3, 4], all=False
    )
    assert parked_request("orders", "billing", (), 10).all  # no offsets: every parked event


def test_lists_come_back_as_lists_and_every_call_carries_the_token() -> None:
    users = [pb.User(name="ana"), pb.User(name="bo")]
    calls, stub = admin(ListUsers=pb.ListUsersResponse(users=users))
    assert asyncio.run(calls.list_users()) == users
    ((_, _, options),) = stub.calls
    assert options == {"metadata": {"authorization": "Bearer t"}}


def test_subscriber_calls_name_the_subscriber_and_its_settings() -> None:
    info = pb.SubscriberInfo(name="billing")
    calls, stub = admin(ResetSubscriber=info, SetSubscriberSettings=info, DeleteSubscriber=None)
    asyncio.run(calls.reset_subscriber("orders", "billing", "offset:5", limit_size=10))
    settings = SubscriberSettings(max_deliveries=4)
    asyncio.run(calls.set_subscriber_settings("orders", "billing", settings, limit_size=10))
    asyncio.run(calls.delete_subscriber("orders", "billing", 10))
    (reset,) = stub.requests("ResetSubscriber")
    assert reset == pb.ResetSubscriberRequest(subscriber=BILLING, to=start_point("offset:5"))
    (changed,) = stub.requests("SetSubscriberSettings")
    assert changed.subscriber == BILLING and changed.settings.max_deliveries == 4
    assert stub.requests("DeleteSubscriber") == [BILLING]


def test_parked_events_are_redriven_discarded_and_followed() -> None:
    done = pb.ParkedChanged(offsets=[3])
    calls, stub = admin(RedriveParked=done, DiscardParked=done)
    assert asyncio.run(calls.redrive_parked("orders", "billing", [3], 10)) == [3]
    assert asyncio.run(calls.discard_parked("orders", "billing", limit_size=10)) == [3]
    assert stub.requests("RedriveParked") == [parked_request("orders", "billing", [3], 10)]
    assert stub.requests("DiscardParked") == [parked_request("orders", "billing", [], 10)]
    parked = [pb.ParkedEvent(offset=1), pb.ParkedEvent(offset=2)]
    stream = FakeStream(answers=[pb.ListParkedResponse(parked=parked)])
    stub.streams["FollowParked"] = [FakeOpened(stream)]

    async def story() -> list[pb.ParkedEvent]:
        return [event async for event in calls.follow_parked("orders", "billing", 10)]

    assert asyncio.run(story()) == parked
    assert stream.sent == [pb.ListParkedRequest(subscriber=BILLING)] and stream.ended


def test_a_type_schema_goes_as_json_text_and_asyncapi_comes_back_parsed() -> None:
    document = {"asyncapi": "3.0.0", "channels": {}}
    calls, stub = admin(
        RegisterType=pb.EventType(pattern="order.*"),
        GetAsyncAPI=pb.AsyncAPIDocument(json=json.dumps(document)),
    )
    schema = {"type": "object"}
    asyncio.run(calls.register_type("order.*", schema, mode="warn", force=True))
    (registered,) = stub.requests("RegisterType")
    assert json.loads(registered.schema) == schema
    assert (registered.mode, registered.force) == ("warn", True)
    assert asyncio.run(calls.asyncapi()) == document
