"""The ``Admin`` service (exchanges, users and tokens, queues, subscribers, stats, re-emit) and
the ``Log`` service (the committed log, for route nodes).

Every unary admin call has one shape, :func:`_unary`: read the request, run the router call on
the Trio side (one crossing), send the converted answer. A RouterError becomes its gRPC status
(router.grpc.status).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
from google.protobuf.json_format import MessageToDict
from grpclib.server import Stream

from router._proto.router.v1 import router_grpc
from router._proto.router.v1 import router_pb2 as pb
from router.app import Router, redact
from router.bridge import AsyncioThread
from router.control import policy, reach
from router.core.delivery import ParkedEvent
from router.core.errors import InvalidArgument
from router.core.model import Access, Delivery, TypeSchema, UserRecord
from router.grpc import convert
from router.grpc.metadata import caller_user, peer_host
from router.grpc.publish import encoded
from router.grpc.status import statuses
from router.grpc.tethered import tethered
from router.observe.stats import ServerInfo, Stats

Call = Callable[..., Awaitable[Any]]  # (router, request[, caller]) -> result, run in Trio


def _unary(  # a method of AdminService
    call: Call,
    respond: Callable[[Any], Any],
    audited: tuple[str, Callable[[Any], str]] | None = None,
    manages: Callable[[Any], str] | None = None,
    by: bool = False,
) -> Any:
    """The handler of a unary admin call: read the request, await ``call(router, request)`` on
    the Trio side (one crossing; a RouterError becomes its status), send ``respond(result)``.
    A change names its ``audited`` action and how to name its target from the request: once
    it has succeeded, it goes into the audit trail (router.control.audit) with the caller and the
    request's fields. A call on one exchange names it (``manages``): the caller needs a
    manage grant on it. A call whose answer depends on who asks (``by``) is given the caller
    (its UserRecord; None with auth off) as a third argument."""

    async def handle(service: AdminService, stream: Stream[Any, Any]) -> None:
        request = await stream.recv_message()
        assert request is not None
        with statuses():
            asking = caller_user(service._router.auth)
            if manages is not None:
                service._router.auth.permit(asking, Access.MANAGE, manages(request))
            if audited is None:
                args = (service._router, request, asking) if by else (service._router, request)
                result = await service._trio(call)(*args)
            else:
                action, target = audited
                user, source = _caller(service._router, stream)
                detail = json.dumps(MessageToDict(request), sort_keys=True)
                if len(detail) > 1_000 and action == "type.register":  # the schema's in it
                    detail = json.dumps({**MessageToDict(request), "schema": "..."})

                async def change(router: Router, request: Any) -> Any:
                    result = await (call(router, request, asking) if by else call(router, request))
                    await router.audit.record(user, action, target(request), source, detail)
                    return result

                result = await service._trio(change)(service._router, request)
        await stream.send_message(respond(result))

    return handle


def _caller(router: Router, stream: Stream[Any, Any]) -> tuple[str, str]:
    """The user ("" with auth off) and the address of the client of an admin call."""
    user = caller_user(router.auth)
    return (user.name if user else ""), peer_host(stream.peer)


def _name(request: Any) -> str:
    return str(request.name)


def _ref(request: Any) -> str:
    """A subscriber's name in the audit trail: exchange/name."""
    ref = request if isinstance(request, pb.SubscriberRef) else request.subscriber
    return f"{ref.exchange}/{ref.name}"


def _exchange(request: Any) -> str:
    """The exchange of a call on a subscriber."""
    ref = request if isinstance(request, pb.SubscriberRef) else request.subscriber
    return str(ref.exchange)


def _now(read: Callable[..., Any]) -> Call:
    """A synchronous Router read as a coroutine function, to run on the Trio side (it reads
    Trio-owned state, so it must not run on the loop's thread)."""

    async def run(router: Router, request: Any, *caller: Any) -> Any:
        return read(router, request, *caller)

    return run


def _each(response: Any, field: str, one: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A listing's answer: ``response`` with ``field`` holding ``one(item)`` of each item."""
    return lambda items: response(**{field: [one(item) for item in items]})


def _empty(response: Any) -> Callable[[Any], Any]:
    """The answer of a call that only acts: an empty ``response``."""
    return lambda _: response()


async def _reset(router: Router, request: pb.ResetSubscriberRequest) -> Any:
    ref = request.subscriber
    return await router.reset_subscriber(
        ref.exchange, ref.name, convert.start_point(request.to), ref.limit_size
    )


async def _change_parked(router: Router, request: pb.ParkedRequest, redrive: bool) -> Any:
    ref = request.subscriber
    if request.all and request.offsets:
        raise InvalidArgument("offsets: give offsets or all, not both")
    if not request.all and not request.offsets:
        raise InvalidArgument("offsets: give the parked offsets to change, or all")
    offsets = None if request.all else list(request.offsets)
    return await router.change_parked(ref.exchange, ref.name, offsets, redrive, ref.limit_size)


async def _list_parked(
    router: Router, request: pb.ListParkedRequest, user: UserRecord | None
) -> tuple[list[tuple[ParkedEvent, Delivery | None]], int]:
    """A page of the parked list: payloads for a caller that may consume the exchange."""
    ref = request.subscriber
    found, total = await router.list_parked(
        ref.exchange,
        ref.name,
        after=request.after_offset,
        most=request.max or 1000,
        limit_size=ref.limit_size,
        wait_s=_wait(request.wait_s),
    )
    return reach.payloads_shown(user, ref.exchange, found), total


def _wait(seconds: float) -> float:
    if not 0 <= seconds <= 60:  # nan too
        raise InvalidArgument(f"wait_s: {seconds} is outside 0..60")
    return seconds


def _changed(offsets: list[int]) -> pb.ParkedChanged:
    return pb.ParkedChanged(offsets=offsets)


def _added(added: Any) -> pb.AddUserResponse:
    user, token, text = added
    return pb.AddUserResponse(
        user=convert.user(user, [token.id]),
        token=pb.IssuedToken(user=user.name, token_id=token.id, token=text),
    )


def _with_tokens(router: Router, user: UserRecord) -> tuple[UserRecord, list[str]]:
    return user, sorted(t.id for t in router.auth.tokens.values() if t.user == user.name)


async def _user_change(
    router: Router, change: Awaitable[UserRecord]
) -> tuple[UserRecord, list[str]]:
    return _with_tokens(router, await change)


def _user(found: tuple[UserRecord, list[str]]) -> pb.User:
    return convert.user(*found)


def _issued(issued: Any) -> pb.IssuedToken:
    token, text = issued
    return pb.IssuedToken(
        user=token.user, token_id=token.id, token=text, expires_at_us=token.expires_at
    )


async def _register_type(
    router: Router, request: pb.RegisterTypeRequest, user: UserRecord | None
) -> pb.EventType:
    r = request
    by = user.name if user is not None else ""
    registered = await router.register_type(
        r.pattern, r.schema, r.mode, r.description, r.owner, by=by, force=r.force
    )
    return _event_type(router, registered)


def _event_type(router: Router, record: TypeSchema) -> pb.EventType:
    counts = router.contracts.counts.get(record.pattern)
    kept = router.contracts.versions.get(record.pattern, [])
    return convert.event_type(record, counts, [r.version for r in kept])


class AdminService(router_grpc.AdminBase):
    """Exchanges, users and tokens, queues, subscribers, stats (admin role).

    server = Server([AdminService(router, bridge)])   # on the bridge's loop
    # client side: router_grpc.AdminStub(channel).ListExchanges(pb.ListExchangesRequest())
    """

    def __init__(self, router: Router, bridge: AsyncioThread) -> None:
        self._router = router
        self._trio = bridge.to_trio
        self._bridge = bridge

    CreateExchange = _unary(
        lambda router, r, user: router.create_exchange(r.name, list(r.patterns), user),
        convert.exchange,
        (policy.grpc_audit("Admin.CreateExchange"), _name),
        _name,
        by=True,
    )
    ListExchanges = _unary(
        lambda router, _: router.list_exchanges(),
        _each(pb.ListExchangesResponse, "exchanges", convert.exchange),
    )
    DeleteExchange = _unary(
        lambda router, r: router.delete_exchange(r.name),
        _empty(pb.DeleteExchangeResponse),
        (policy.grpc_audit("Admin.DeleteExchange"), _name),
        _name,
    )
    DescribeExchange = _unary(
        _now(lambda router, r: router.describe_exchange(r.name)),
        lambda found: convert.exchange(*found),
    )
    AddUser = _unary(
        lambda router, r: router.auth.add_user(r.name, r.role),
        _added,
        (policy.grpc_audit("Admin.AddUser"), _name),
    )
    RemoveUser = _unary(
        lambda router, r: router.auth.remove_user(r.name),
        _empty(pb.RemoveUserResponse),
        (policy.grpc_audit("Admin.RemoveUser"), _name),
    )
    ListUsers = _unary(
        _now(lambda router, _: router.auth.list_users()),
        lambda users: pb.ListUsersResponse(users=[convert.user(u, ids) for u, ids in users]),
    )
    GetUser = _unary(_now(lambda router, r: _with_tokens(router, router.auth.user(r.name))), _user)
    AddGrants = _unary(
        lambda router, r: _user_change(
            router, router.auth.change_grants(r.user, convert.grants(r), [])
        ),
        _user,
        (policy.grpc_audit("Admin.AddGrants"), lambda r: str(r.user)),
    )
    RevokeGrants = _unary(
        lambda router, r: _user_change(
            router, router.auth.change_grants(r.user, [], convert.grants(r))
        ),
        _user,
        (policy.grpc_audit("Admin.RevokeGrants"), lambda r: str(r.user)),
    )
    SetQuotas = _unary(
        lambda router, r: _user_change(
            router, router.auth.set_quotas(r.user, convert.quotas(r.quotas))
        ),
        _user,
        (policy.grpc_audit("Admin.SetQuotas"), lambda r: str(r.user)),
    )
    IssueToken = _unary(
        lambda router, r: router.auth.issue_token(r.user, r.expires_in_s),
        _issued,
        (policy.grpc_audit("Admin.IssueToken"), lambda r: str(r.user)),
    )
    ListTokens = _unary(
        _now(lambda router, r: router.auth.list_tokens(r.user)),
        _each(pb.ListTokensResponse, "tokens", convert.token),
    )
    RevokeToken = _unary(
        lambda router, r: router.auth.revoke_token(r.token_id),
        _empty(pb.RevokeTokenResponse),
        (policy.grpc_audit("Admin.RevokeToken"), lambda r: str(r.token_id)),
    )
    ListQueues = _unary(
        _now(lambda router, r: router.list_queues(r.exchange)),
        _each(pb.ListQueuesResponse, "queues", convert.queue),
    )
    ListSubscribers = _unary(
        _now(lambda router, r: router.list_subscribers(r.exchange, r.name)),
        _each(pb.ListSubscribersResponse, "subscribers", convert.subscriber),
    )
    DeleteSubscriber = _unary(
        lambda router, ref: router.delete_subscriber(ref.exchange, ref.name, ref.limit_size),
        _empty(pb.DeleteSubscriberResponse),
        (policy.grpc_audit("Admin.DeleteSubscriber"), _ref),
        _exchange,
    )
    ResetSubscriber = _unary(
        _reset, convert.subscriber, (policy.grpc_audit("Admin.ResetSubscriber"), _ref), _exchange
    )
    SetSubscriberSettings = _unary(
        lambda router, r: router.set_subscriber_settings(
            r.subscriber.exchange,
            r.subscriber.name,
            convert.settings_changes(r.settings),
            r.subscriber.limit_size,
        ),
        convert.subscriber,
        (policy.grpc_audit("Admin.SetSubscriberSettings"), _ref),
        _exchange,
    )
    ListParked = _unary(
        _list_parked,
        lambda found: pb.ListParkedResponse(
            parked=[convert.parked_event(p, d) for p, d in found[0]], total=found[1]
        ),
        by=True,
    )
    RedriveParked = _unary(
        lambda router, r: _change_parked(router, r, True),
        _changed,
        (policy.grpc_audit("Admin.RedriveParked"), _ref),
        _exchange,
    )
    DiscardParked = _unary(
        lambda router, r: _change_parked(router, r, False),
        _changed,
        (policy.grpc_audit("Admin.DiscardParked"), _ref),
        _exchange,
    )
    ListAudit = _unary(
        lambda router, r: router.audit.entries(r.since_us, r.max or 1000),
        _each(pb.ListAuditResponse, "entries", convert.audit_entry),
    )
    GetStats = _unary(_now(lambda router, _: router.stats()), lambda stats: _stats(stats))
    GetServerInfo = _unary(_now(lambda router, _: router.info()), lambda info: _server_info(info))
    RegisterType = _unary(
        _register_type,
        lambda registered: registered,
        (policy.grpc_audit("Admin.RegisterType"), lambda r: str(r.pattern)),
        by=True,
    )
    ListTypes = _unary(
        _now(lambda router, _: [_event_type(router, t) for t in router.list_types()]),
        lambda types: pb.ListTypesResponse(types=types),
    )
    GetType = _unary(
        _now(lambda router, r: _event_type(router, router.type_schema(r.pattern, r.version))),
        lambda found: found,
    )
    DeleteType = _unary(
        lambda router, r: router.delete_type(r.pattern),
        _empty(pb.DeleteTypeResponse),
        (policy.grpc_audit("Admin.DeleteType"), lambda r: str(r.pattern)),
    )
    GetAsyncAPI = _unary(
        _now(lambda router, _, user: router.asyncapi(user)),
        lambda found: pb.AsyncAPIDocument(json=json.dumps(found)),
        by=True,
    )
    TrimLog = _unary(
        lambda router, r: router.trim_log(r.before_seq, r.before_time_us, r.dry_run, r.max),
        lambda report: pb.TrimLogResponse(**attrs.asdict(report)),
        (
            policy.grpc_audit("Admin.TrimLog"),
            lambda r: f"seq:{r.before_seq}" if r.before_seq else f"time:{r.before_time_us}",
        ),
    )

    async def FollowParked(
        self, stream: Stream[pb.ListParkedRequest, pb.ListParkedResponse]
    ) -> None:
        request = await stream.recv_message()
        assert request is not None
        subscriber = request.subscriber
        user = caller_user(self._router.auth)

        async def follow() -> None:  # in Trio: each page goes out on the loop
            pages = self._router.follow_parked(
                subscriber.exchange, subscriber.name, subscriber.limit_size
            )
            async for page, total in pages:
                viewer = reach.as_now(self._router.auth, user)  # grants may change meanwhile
                shown = reach.payloads_shown(viewer, subscriber.exchange, page)
                response = pb.ListParkedResponse(
                    parked=[convert.parked_event(p, d) for p, d in shown], total=total
                )
                await self._bridge.call(stream.send_message, response)

        async def run() -> None:
            with statuses():
                await self._trio(follow)()

        await tethered(self._router.auth, ((Access.MONITOR, ""),), run)

    async def Reemit(self, stream: Stream[pb.ReemitRequest, pb.ReemitProgress]) -> None:
        from router.amqp.reemit import Progress, reemit

        request = await stream.recv_message()
        assert request is not None

        async def report(progress: Progress) -> None:  # in Trio: the message goes out on the loop
            await self._bridge.call(
                stream.send_message, pb.ReemitProgress(**attrs.asdict(progress))
            )

        with statuses():
            user, source = _caller(self._router, stream)
            asking = caller_user(self._router.auth)
            for access in (Access.MANAGE, Access.CONSUME):  # it reads the exchange's events
                self._router.auth.permit(asking, access, request.exchange)
            fields = MessageToDict(request)
            if "amqpUrl" in fields:
                fields["amqpUrl"] = redact(fields["amqpUrl"])
            start = convert.start_point(request.start) if request.HasField("start") else None

            async def run() -> Any:  # in Trio; audited once it has gone through
                done = await reemit(
                    self._router,
                    request.exchange,
                    start,
                    request.subscriber,
                    request.amqp_url,
                    request.amqp_exchange,
                    request.max,
                    report,
                    asking,
                )
                detail = json.dumps(fields, sort_keys=True)
                action = policy.grpc_audit("Admin.Reemit")
                await self._router.audit.record(user, action, request.exchange, source, detail)
                return done

            needs = ((Access.MANAGE, request.exchange), (Access.CONSUME, request.exchange))
            final = await tethered(self._router.auth, needs, self._trio(run))
        if final.confirmed == 0:
            await stream.send_message(pb.ReemitProgress(**attrs.asdict(final)))


def _stats(stats: Stats) -> pb.Stats:
    return pb.Stats(
        at_us=stats.at_us,
        last_seq=stats.last_seq,
        published=stats.published,
        exchanges=[convert.exchange(r, n) for r, n in stats.exchanges],
        queues=[convert.queue(q) for q in stats.queues],
        subscribers=[convert.subscriber(s) for s in stats.subscribers],
        links_json=json.dumps(stats.links),
    )


def _server_info(info: ServerInfo) -> pb.ServerInfo:
    fields = attrs.asdict(info, recurse=False)
    routers = [pb.RouterNode(**attrs.asdict(node)) for node in fields.pop("routers")]
    return pb.ServerInfo(**fields, routers=routers)


class LogService(router_grpc.LogBase):
    """The committed log, for route nodes following this one."""

    def __init__(self, router: Router, bridge: AsyncioThread) -> None:
        self._router = router
        self._trio = bridge.to_trio

    async def Follow(self, stream: Stream[pb.FollowRequest, pb.FollowResponse]) -> None:
        request = await stream.recv_message()
        assert request is not None

        async def follow() -> None:
            after = request.after_seq
            with statuses():
                last_seq = await self._trio(self._router.log_position)()
            await stream.send_message(pb.FollowResponse(last_seq=last_seq))  # "connected"
            while True:
                with statuses():
                    events, last_seq = await self._trio(self._router.log_after)(
                        after, request.max_batch
                    )
                for response in convert.log_responses(events, last_seq):
                    await stream.send_message(encoded(response))
                after = events[-1].seq

        await tethered(self._router.auth, ((Access.ADMIN, ""),), follow)
