"""The ``Admin`` service (exchanges, users and tokens, queues, subscribers, stats, re-emit) and
the ``Log`` service (the committed log, for route nodes).

Every unary admin call has one shape, :meth:`AdminService._unary`: read the request, run the
router call on the Trio side (one crossing), send the converted answer. A RouterError becomes
its gRPC status (router.grpc.status).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
from grpclib.server import Stream

from router._proto.router.v1 import router_grpc
from router._proto.router.v1 import router_pb2 as pb
from router.app import Router
from router.bridge import AsyncioThread
from router.grpc import convert
from router.grpc.publish import encoded
from router.grpc.status import statuses
from router.stats import ServerInfo, Stats


def _now(read: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """A synchronous Router read as a coroutine function, to run on the Trio side (it reads
    Trio-owned state, so it must not run on the loop's thread)."""

    async def run(*args: Any) -> Any:
        return read(*args)

    return run


class AdminService(router_grpc.AdminBase):
    def __init__(self, router: Router, bridge: AsyncioThread) -> None:
        self._router = router
        self._trio = bridge.to_trio
        self._bridge = bridge

    async def _unary(
        self,
        stream: Stream[Any, Any],
        call: Callable[[Any], Awaitable[Any]],
        respond: Callable[[Any], Any],
    ) -> None:
        """Read the request, await ``call(request)`` in Trio, send ``respond(result)``."""
        request = await stream.recv_message()
        assert request is not None
        with statuses():
            result = await self._trio(call)(request)
        await stream.send_message(respond(result))

    async def CreateExchange(self, stream: Stream[pb.CreateExchangeRequest, pb.Exchange]) -> None:
        router = self._router
        await self._unary(
            stream,
            lambda r: router.create_exchange(r.name, list(r.patterns)),
            convert.exchange,
        )

    async def ListExchanges(
        self, stream: Stream[pb.ListExchangesRequest, pb.ListExchangesResponse]
    ) -> None:
        await self._unary(
            stream,
            lambda _: self._router.list_exchanges(),
            lambda records: pb.ListExchangesResponse(
                exchanges=[convert.exchange(r) for r in records]
            ),
        )

    async def DeleteExchange(
        self, stream: Stream[pb.DeleteExchangeRequest, pb.DeleteExchangeResponse]
    ) -> None:
        await self._unary(
            stream,
            lambda r: self._router.delete_exchange(r.name),
            lambda _: pb.DeleteExchangeResponse(),
        )

    async def DescribeExchange(
        self, stream: Stream[pb.DescribeExchangeRequest, pb.Exchange]
    ) -> None:
        await self._unary(
            stream,
            _now(lambda r: self._router.describe_exchange(r.name)),
            lambda found: convert.exchange(*found),
        )

    async def AddUser(self, stream: Stream[pb.AddUserRequest, pb.AddUserResponse]) -> None:
        await self._unary(
            stream,
            lambda r: self._router.auth.add_user(r.name, r.role),
            lambda added: pb.AddUserResponse(
                user=convert.user(added[0], [added[1].id]),
                token=pb.IssuedToken(user=added[0].name, token_id=added[1].id, token=added[2]),
            ),
        )

    async def RemoveUser(self, stream: Stream[pb.RemoveUserRequest, pb.RemoveUserResponse]) -> None:
        await self._unary(
            stream,
            lambda r: self._router.auth.remove_user(r.name),
            lambda _: pb.RemoveUserResponse(),
        )

    async def ListUsers(self, stream: Stream[pb.ListUsersRequest, pb.ListUsersResponse]) -> None:
        await self._unary(
            stream,
            _now(lambda _: self._router.auth.list_users()),
            lambda users: pb.ListUsersResponse(users=[convert.user(u, ids) for u, ids in users]),
        )

    async def IssueToken(self, stream: Stream[pb.IssueTokenRequest, pb.IssuedToken]) -> None:
        await self._unary(
            stream,
            lambda r: self._router.auth.issue_token(r.user),
            lambda issued: pb.IssuedToken(
                user=issued[0].user, token_id=issued[0].id, token=issued[1]
            ),
        )

    async def RevokeToken(
        self, stream: Stream[pb.RevokeTokenRequest, pb.RevokeTokenResponse]
    ) -> None:
        await self._unary(
            stream,
            lambda r: self._router.auth.revoke_token(r.token_id),
            lambda _: pb.RevokeTokenResponse(),
        )

    async def ListQueues(self, stream: Stream[pb.ListQueuesRequest, pb.ListQueuesResponse]) -> None:
        await self._unary(
            stream,
            _now(lambda r: self._router.list_queues(r.exchange)),
            lambda views: pb.ListQueuesResponse(queues=[convert.queue(v) for v in views]),
        )

    async def ListSubscribers(
        self, stream: Stream[pb.ListSubscribersRequest, pb.ListSubscribersResponse]
    ) -> None:
        await self._unary(
            stream,
            _now(lambda r: self._router.list_subscribers(r.exchange, r.name)),
            lambda views: pb.ListSubscribersResponse(
                subscribers=[convert.subscriber(v) for v in views]
            ),
        )

    async def DeleteSubscriber(
        self, stream: Stream[pb.SubscriberRef, pb.DeleteSubscriberResponse]
    ) -> None:
        await self._unary(
            stream,
            lambda ref: self._router.delete_subscriber(ref.exchange, ref.name, ref.limit_size),
            lambda _: pb.DeleteSubscriberResponse(),
        )

    async def ResetSubscriber(
        self, stream: Stream[pb.ResetSubscriberRequest, pb.SubscriberInfo]
    ) -> None:
        async def reset(request: pb.ResetSubscriberRequest) -> Any:
            ref = request.subscriber
            start = convert.start_point(request.to)
            return await self._router.reset_subscriber(
                ref.exchange, ref.name, start, ref.limit_size
            )

        await self._unary(stream, reset, convert.subscriber)

    async def GetStats(self, stream: Stream[pb.StatsRequest, pb.Stats]) -> None:
        await self._unary(stream, _now(lambda _: self._router.stats()), _stats)

    async def GetServerInfo(self, stream: Stream[pb.ServerInfoRequest, pb.ServerInfo]) -> None:
        await self._unary(stream, _now(lambda _: self._router.info()), _server_info)

    async def Reemit(self, stream: Stream[pb.ReemitRequest, pb.ReemitProgress]) -> None:
        from router.amqp.reemit import Progress, reemit

        request = await stream.recv_message()
        assert request is not None

        async def report(progress: Progress) -> None:  # in Trio: the message goes out on the loop
            await self._bridge.call(
                stream.send_message, pb.ReemitProgress(**attrs.asdict(progress))
            )

        with statuses():
            start = convert.start_point(request.start) if request.HasField("start") else None
            final = await self._trio(reemit)(
                self._router,
                request.exchange,
                start,
                request.subscriber,
                request.amqp_url,
                request.amqp_exchange,
                request.max,
                report,
            )
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
    return pb.ServerInfo(**attrs.asdict(info))


class LogService(router_grpc.LogBase):
    """The committed log, for route nodes following this one."""

    def __init__(self, router: Router, bridge: AsyncioThread) -> None:
        self._router = router
        self._trio = bridge.to_trio

    async def Follow(self, stream: Stream[pb.FollowRequest, pb.FollowResponse]) -> None:
        request = await stream.recv_message()
        assert request is not None
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
