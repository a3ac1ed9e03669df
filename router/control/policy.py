"""Who may make each call, and what a change writes into the audit trail: one row per operation,
naming its gRPC methods and REST routes. The gRPC checker (router.grpc.server) and the REST
routes (router.http.routes) read their access from here, and the permission table of
docs/security.md is written from it (``python -m scripts.permission_table``).

The access a row names is what the call needs before its request is read; the handlers check
the exchange or the events' types once they have the request (docs/security.md).
"""

from __future__ import annotations

from typing import Literal

import attrs

from router.core.model import Access

ANY_USER: Literal["user"] = "user"  # any user's token: the event types' contracts
OPEN: Literal["open"] = "open"  # no token needed
Rule = Access | Literal["user", "open"]


@attrs.frozen
class Operation:
    rule: Rule
    grpc: tuple[str, ...] = ()  # "Service.Method" (router.v1's; others "package.Service.Method")
    rest: tuple[str, ...] = ()  # "VERB /path"
    audit: str = ""  # the action a change records in the audit trail, once it has succeeded


# Short names for the table's rows: publish, consume, manage, watch (monitor), admin role.
P, C, M, W, A = Access.PUBLISH, Access.CONSUME, Access.MANAGE, Access.MONITOR, Access.ADMIN
SUBSCRIBER = "/v1/exchanges/{exchange}/subscribers/{name}"
OPERATIONS = (
    Operation(P, ("Publisher.Publish", "Publisher.PublishStream"), ("POST /v1/events",)),
    Operation(C, ("Subscriber.Subscribe",), (f"GET {SUBSCRIBER}/events",)),
    Operation(C, ("Subscriber.Read",)),
    Operation(C, rest=(f"POST {SUBSCRIBER}/ack",)),
    Operation(C, rest=(f"POST {SUBSCRIBER}/settle",)),
    Operation(M, ("Admin.CreateExchange",), ("POST /v1/exchanges",), "exchange.create"),
    Operation(M, ("Admin.DeleteExchange",), audit="exchange.delete"),
    Operation(M, ("Admin.DeleteSubscriber",), audit="subscriber.delete"),
    Operation(M, ("Admin.ResetSubscriber",), audit="subscriber.reset"),
    Operation(
        M,
        ("Admin.SetSubscriberSettings",),
        (f"PATCH {SUBSCRIBER}/settings",),
        "subscriber.settings",
    ),
    Operation(
        M, ("Admin.RedriveParked",), (f"POST {SUBSCRIBER}/parked/redrive",), "parked.redrive"
    ),
    Operation(
        M, ("Admin.DiscardParked",), (f"POST {SUBSCRIBER}/parked/discard",), "parked.discard"
    ),
    Operation(M, ("Admin.Reemit",), audit="reemit"),
    Operation(W, ("Admin.ListExchanges",)),
    Operation(W, ("Admin.DescribeExchange",)),
    Operation(W, ("Admin.ListQueues",)),
    Operation(W, ("Admin.ListSubscribers",), (f"GET {SUBSCRIBER}",)),
    Operation(W, ("Admin.ListParked", "Admin.FollowParked"), (f"GET {SUBSCRIBER}/parked",)),
    Operation(W, ("Admin.GetServerInfo",)),
    Operation(W, ("Admin.GetStats",), ("GET /v1/stats",)),
    Operation(W, rest=("GET /metrics",)),
    Operation(A, ("Admin.AddUser",), ("POST /v1/users",), "user.add"),
    Operation(A, ("Admin.RemoveUser",), ("DELETE /v1/users/{name}",), "user.remove"),
    Operation(A, ("Admin.ListUsers",), ("GET /v1/users",)),
    Operation(A, ("Admin.GetUser",), ("GET /v1/users/{name}",)),
    Operation(A, ("Admin.AddGrants",), ("POST /v1/users/{name}/grants",), "user.grant"),
    Operation(
        A, ("Admin.RevokeGrants",), ("POST /v1/users/{name}/grants/revoke",), "user.revoke_grant"
    ),
    Operation(A, ("Admin.SetQuotas",), ("PUT /v1/users/{name}/quotas",), "user.quotas"),
    Operation(A, ("Admin.IssueToken",), audit="token.issue"),
    Operation(A, ("Admin.RevokeToken",), audit="token.revoke"),
    Operation(A, ("Admin.ListTokens",)),
    Operation(A, ("Admin.ListAudit",), ("GET /v1/audit",)),
    Operation(A, ("Admin.TrimLog",), audit="log.trim"),
    Operation(A, ("Admin.RegisterType",), ("PUT /v1/types/{pattern}",), "type.register"),
    Operation(A, ("Admin.DeleteType",), ("DELETE /v1/types/{pattern}",), "type.delete"),
    Operation(A, ("Log.Follow",)),  # the whole log, every type: what route nodes follow
    Operation(ANY_USER, ("Admin.ListTypes",), ("GET /v1/types",)),
    Operation(ANY_USER, ("Admin.GetType",), ("GET /v1/types/{pattern}",)),
    Operation(ANY_USER, ("Admin.GetAsyncAPI",), ("GET /asyncapi.json",)),
    *(
        Operation(OPEN, rest=(f"GET {path}",))
        for path in ("/", "/page.js", "/page.css", "/healthz", "/readyz", "/openapi.json")
    ),
    Operation(OPEN, rest=("GET /asyncapi", "GET /asyncapi.js")),
    # The standard gRPC services (router.grpc.health), by their full names: what a load
    # balancer's health check and grpcurl ask without a token.
    Operation(
        OPEN,
        (
            "grpc.health.v1.Health.Check",
            "grpc.health.v1.Health.Watch",
            "grpc.reflection.v1.ServerReflection.ServerReflectionInfo",
            "grpc.reflection.v1alpha.ServerReflection.ServerReflectionInfo",
        ),
    ),
)
BY_GRPC = {name: op for op in OPERATIONS for name in op.grpc}
BY_REST = {route: op for op in OPERATIONS for route in op.rest}


def grpc_rule(service: str, method: str) -> Rule | None:
    """What ``Service.Method`` needs (a router.v1 service by its short name, any other by its
    full name); None for a method the table does not name."""
    found = BY_GRPC.get(f"{service}.{method}")
    return found.rule if found is not None else None


def grpc_audit(method: str) -> str:
    """The audit action of ``Service.Method``, a change (KeyError for one the table lacks)."""
    action = BY_GRPC[method].audit
    assert action, f"{method} records nothing in the audit trail"
    return action


def rest(verb: str, path: str) -> Operation:
    """The row of a REST route (KeyError for a route the table does not name)."""
    return BY_REST[f"{verb} {path}"]
