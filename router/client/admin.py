"""The client's admin calls: exchanges, users and their tokens, grants and quotas, the audit
trail, queues and subscribers, parked events, event types, and the router's own figures.

    await client.create_exchange("orders", ["order.*"])
    (info,) = await client.list_subscribers("orders", "billing")

Each is one unary call that follows the leader like any other (router.client.connection);
the router refuses a caller without the admin role (PERMISSION_DENIED).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from router._proto.router.v1 import router_pb2 as pb
from router.client.connection import Calls
from router.client.settings import SubscriberSettings, settings_message
from router.client.values import start_point


class AdminCalls(Calls):
    """RouterClient's admin calls, made on its connection."""

    # --- exchanges ---

    async def create_exchange(self, name: str, patterns: Sequence[str]) -> pb.Exchange:
        return await self._admin.CreateExchange(
            pb.CreateExchangeRequest(name=name, patterns=list(patterns)), metadata=self._metadata
        )

    async def list_exchanges(self) -> list[pb.Exchange]:
        response = await self._admin.ListExchanges(
            pb.ListExchangesRequest(), metadata=self._metadata
        )
        return list(response.exchanges)

    async def delete_exchange(self, name: str) -> None:
        await self._admin.DeleteExchange(
            pb.DeleteExchangeRequest(name=name), metadata=self._metadata
        )

    async def describe_exchange(self, name: str) -> pb.Exchange:
        return await self._admin.DescribeExchange(
            pb.DescribeExchangeRequest(name=name), metadata=self._metadata
        )

    # --- users and tokens ---

    async def add_user(self, name: str, role: str) -> pb.AddUserResponse:
        """The new user and its first token; the token's text is shown only here."""
        return await self._admin.AddUser(
            pb.AddUserRequest(name=name, role=role), metadata=self._metadata
        )

    async def remove_user(self, name: str) -> None:
        await self._admin.RemoveUser(pb.RemoveUserRequest(name=name), metadata=self._metadata)

    async def list_users(self) -> list[pb.User]:
        response = await self._admin.ListUsers(pb.ListUsersRequest(), metadata=self._metadata)
        return list(response.users)

    async def get_user(self, name: str) -> pb.User:
        """A user with its role, grants, quotas and token ids."""
        return await self._admin.GetUser(pb.GetUserRequest(name=name), metadata=self._metadata)

    async def add_grants(self, user: str, grants: list[pb.Grant]) -> pb.User:
        """Give ``user`` the grants (one on the same action and pattern is replaced)."""
        return await self._admin.AddGrants(
            pb.ChangeGrantsRequest(user=user, grants=grants), metadata=self._metadata
        )

    async def revoke_grants(self, user: str, grants: list[pb.Grant]) -> pb.User:
        """Take the grants from ``user`` (matched by action and pattern); the streams it may no
        longer read end."""
        return await self._admin.RevokeGrants(
            pb.ChangeGrantsRequest(user=user, grants=grants), metadata=self._metadata
        )

    async def set_quotas(
        self,
        user: str,
        events_per_s: int = 0,
        bytes_per_s: int = 0,
        streams: int = 0,
        subscribers: int = 0,
    ) -> pb.User:
        """Set ``user``'s quotas (0: no limit)."""
        quotas = pb.Quotas(
            events_per_s=events_per_s,
            bytes_per_s=bytes_per_s,
            streams=streams,
            subscribers=subscribers,
        )
        return await self._admin.SetQuotas(
            pb.SetQuotasRequest(user=user, quotas=quotas), metadata=self._metadata
        )

    async def issue_token(self, user: str, expires_in_s: int = 0) -> pb.IssuedToken:
        """A new token for ``user``; it expires ``expires_in_s`` from now (0: never)."""
        return await self._admin.IssueToken(
            pb.IssueTokenRequest(user=user, expires_in_s=expires_in_s), metadata=self._metadata
        )

    async def list_audit(self, since_us: int = 0, max_entries: int = 1000) -> list[pb.AuditEntry]:
        """The audit trail of admin changes from ``since_us`` on, oldest first."""
        response = await self._admin.ListAudit(
            pb.ListAuditRequest(since_us=since_us, max=max_entries), metadata=self._metadata
        )
        return list(response.entries)

    async def list_tokens(self, user: str = "") -> list[pb.TokenInfo]:
        """Every token (of ``user`` if given): ids, owners, expiry, last use; never the text."""
        response = await self._admin.ListTokens(
            pb.ListTokensRequest(user=user), metadata=self._metadata
        )
        return list(response.tokens)

    async def revoke_token(self, token_id: str) -> None:
        await self._admin.RevokeToken(
            pb.RevokeTokenRequest(token_id=token_id), metadata=self._metadata
        )

    # --- queues, subscribers and their parked events ---

    async def list_queues(self, exchange: str = "") -> list[pb.Queue]:
        response = await self._admin.ListQueues(
            pb.ListQueuesRequest(exchange=exchange), metadata=self._metadata
        )
        return list(response.queues)

    async def list_subscribers(self, exchange: str = "", name: str = "") -> list[pb.SubscriberInfo]:
        response = await self._admin.ListSubscribers(
            pb.ListSubscribersRequest(exchange=exchange, name=name), metadata=self._metadata
        )
        return list(response.subscribers)

    async def delete_subscriber(self, exchange: str, name: str, limit_size: int = 0) -> None:
        await self._admin.DeleteSubscriber(
            subscriber_ref(exchange, name, limit_size),
            metadata=self._metadata,
        )

    async def reset_subscriber(
        self, exchange: str, name: str, to: str, limit_size: int = 0
    ) -> pb.SubscriberInfo:
        """Move a sleeping subscriber's cursor: ``to`` is earliest, latest, offset:N or time:ISO."""
        subscriber = subscriber_ref(exchange, name, limit_size)
        request = pb.ResetSubscriberRequest(subscriber=subscriber, to=start_point(to))
        return await self._admin.ResetSubscriber(request, metadata=self._metadata)

    async def set_subscriber_settings(
        self,
        exchange: str,
        name: str,
        settings: SubscriberSettings | pb.SubscriberSettings,
        limit_size: int = 0,
    ) -> pb.SubscriberInfo:
        """Change the fields set in ``settings``; the rest are kept."""
        request = pb.SetSubscriberSettingsRequest(
            subscriber=subscriber_ref(exchange, name, limit_size),
            settings=settings_message(settings),
        )
        return await self._admin.SetSubscriberSettings(request, metadata=self._metadata)

    async def list_parked(
        self,
        exchange: str,
        name: str,
        after: int = 0,
        most: int = 1000,
        limit_size: int = 0,
        wait: float = 0.0,
    ) -> pb.ListParkedResponse:
        """A page of the parked list after offset ``after``; with ``wait``, an empty page waits
        that long (0..60 s) for an event to be parked past it."""
        return await self._admin.ListParked(
            pb.ListParkedRequest(
                subscriber=subscriber_ref(exchange, name, limit_size),
                after_offset=after,
                max=most,
                wait_s=wait,
            ),
            metadata=self._metadata,
        )

    async def follow_parked(
        self, exchange: str, name: str, limit_size: int = 0
    ) -> AsyncIterator[pb.ParkedEvent]:
        """The subscriber's parked events: those parked now, then each one parked from then
        on (one parked again comes again), until the caller stops (admin). For repair tools."""
        request = pb.ListParkedRequest(subscriber=subscriber_ref(exchange, name, limit_size))
        async with self._admin.FollowParked.open(metadata=self._metadata) as stream:
            await stream.send_message(request, end=True)
            async for page in stream:
                for parked in page.parked:
                    yield parked

    async def redrive_parked(
        self, exchange: str, name: str, offsets: Sequence[int] = (), limit_size: int = 0
    ) -> list[int]:
        """Deliver parked events again through the subscriber (no offsets: all of them)."""
        response = await self._admin.RedriveParked(
            parked_request(exchange, name, offsets, limit_size), metadata=self._metadata
        )
        return list(response.offsets)

    async def discard_parked(
        self, exchange: str, name: str, offsets: Sequence[int] = (), limit_size: int = 0
    ) -> list[int]:
        """Drop parked events from the list (no offsets: all of them)."""
        response = await self._admin.DiscardParked(
            parked_request(exchange, name, offsets, limit_size), metadata=self._metadata
        )
        return list(response.offsets)

    # --- the router's own figures ---

    async def stats(self) -> pb.Stats:
        """Counters since the router started; rates are differences between two calls."""
        return await self._admin.GetStats(pb.StatsRequest(), metadata=self._metadata)

    async def server_info(self) -> pb.ServerInfo:
        return await self._admin.GetServerInfo(pb.ServerInfoRequest(), metadata=self._metadata)

    # --- event types and their contracts ---

    async def register_type(
        self,
        pattern: str,
        schema: str | dict[str, Any] | bool,
        mode: str = "enforce",
        description: str = "",
        owner: str = "",
        force: bool = False,
    ) -> pb.EventType:
        """Register a new version of an event type's contract (admin): publishes of the types
        matching ``pattern`` have their JSON payloads checked against ``schema`` (a JSON Schema,
        draft 2020-12, as text or parsed); ``mode`` "enforce" refuses those that do not match,
        "warn" stores and counts them. A version narrower than the current one is refused
        (FAILED_PRECONDITION) unless ``force``."""
        text = schema if isinstance(schema, str) else json.dumps(schema)
        request = pb.RegisterTypeRequest(
            pattern=pattern,
            schema=text,
            mode=mode,
            description=description,
            owner=owner,
            force=force,
        )
        return await self._admin.RegisterType(request, metadata=self._metadata)

    async def list_types(self) -> list[pb.EventType]:
        """The current version of every registered event type, by pattern."""
        response = await self._admin.ListTypes(pb.ListTypesRequest(), metadata=self._metadata)
        return list(response.types)

    async def get_type(self, pattern: str, version: int = 0) -> pb.EventType:
        """One version of an event type (0: the current one)."""
        return await self._admin.GetType(
            pb.GetTypeRequest(pattern=pattern, version=version), metadata=self._metadata
        )

    async def asyncapi(self) -> dict[str, Any]:
        """The router as an AsyncAPI 3.0 document: servers, channels, types and their schemas."""
        found = await self._admin.GetAsyncAPI(pb.AsyncAPIRequest(), metadata=self._metadata)
        document: dict[str, Any] = json.loads(found.json)
        return document

    async def delete_type(self, pattern: str) -> None:
        """Forget every version of ``pattern``: its events are no longer checked (admin)."""
        await self._admin.DeleteType(pb.DeleteTypeRequest(pattern=pattern), metadata=self._metadata)


def subscriber_ref(exchange: str, name: str, limit_size: int = 0) -> pb.SubscriberRef:
    """A durable subscriber as the admin calls name it: its exchange, name and queue size."""
    return pb.SubscriberRef(exchange=exchange, name=name, limit_size=limit_size)


def parked_request(
    exchange: str, name: str, offsets: Sequence[int], limit_size: int
) -> pb.ParkedRequest:
    """Some parked events of a subscriber (no offsets: all of them)."""
    return pb.ParkedRequest(
        subscriber=subscriber_ref(exchange, name, limit_size),
        offsets=list(offsets),
        all=not offsets,
    )
