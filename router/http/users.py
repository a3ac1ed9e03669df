"""Users over REST (the admin role's): list, add, describe, remove; give and take grants; set
quotas."""

from __future__ import annotations

from typing import Any

import attrs
from starlette.requests import Request
from starlette.responses import Response

from router.control.quotas import quotas
from router.core import permissions
from router.core.errors import InvalidArgument
from router.core.model import Grant, UserRecord
from router.http.bodies import JSONResponse, json_body, only
from router.http.declare import Endpoint, Handler, creating, router_of
from router.http.schemas import NAME, OBJECT, READ, ok, path, strict

QUOTA_FIELDS = ("events_per_s", "bytes_per_s", "streams", "subscribers")


async def list_users(request: Request) -> Response:
    router = router_of(request)
    return JSONResponse({"users": [user_json(request, u) for u, _ in router.auth.list_users()]})


async def add_user(request: Request) -> Response:
    body = await json_body(request)
    name = body.get("name") if isinstance(body, dict) else None
    role_name = body.get("role") if isinstance(body, dict) else None
    if not isinstance(name, str):
        raise InvalidArgument("name: expected a string")
    if not isinstance(role_name, str):
        raise InvalidArgument("role: expected publisher, consumer or admin")
    only(body, ("name", "role"))
    user, token, text = await router_of(request).auth.add_user(name, role_name)
    return JSONResponse(
        {"name": user.name, "role": user.role.value, "token_id": token.id, "token": text}
    )


async def get_user(request: Request) -> Response:
    record = router_of(request).auth.user(request.path_params["name"])
    return JSONResponse(user_json(request, record))


async def remove_user(request: Request) -> Response:
    name = request.path_params["name"]
    await router_of(request).auth.remove_user(name)
    return JSONResponse({"removed": name})


def change_grants(give: bool) -> Handler:
    async def change(request: Request) -> Response:
        body = await json_body(request)
        given = body.get("grants") if isinstance(body, dict) else None
        if not isinstance(given, list) or not given:
            raise InvalidArgument(
                'grants: expected {"grants": [{"action": ..., "pattern": ..., "deny": ...}]}'
            )
        only(body, ("grants",))
        grants = [grant_of(i, g) for i, g in enumerate(given)]
        name = request.path_params["name"]
        changed = await router_of(request).auth.change_grants(
            name, grants if give else [], [] if give else grants
        )
        return JSONResponse(user_json(request, changed))

    return change


async def set_quotas(request: Request) -> Response:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InvalidArgument("quotas: expected an object of limits")
    only(body, QUOTA_FIELDS)
    limits = quotas(**{f"{k}": body[k] for k in body})
    changed = await router_of(request).auth.set_quotas(request.path_params["name"], limits)
    return JSONResponse(user_json(request, changed))


def user_json(request: Request, record: UserRecord) -> dict[str, Any]:
    tokens = router_of(request).auth.tokens.values()
    return {
        "name": record.name,
        "role": record.role.value,
        "token_ids": sorted(t.id for t in tokens if t.user == record.name),
        "grants": [
            {"action": g.access.value, "pattern": g.pattern, "deny": g.deny} for g in record.grants
        ],
        "quotas": attrs.asdict(record.quotas),
    }


def grant_of(index: int, value: Any) -> Grant:
    field = f"grants[{index}]"
    if not isinstance(value, dict):
        raise InvalidArgument(f"{field}: expected an object with action, pattern and deny")
    only(value, ("action", "pattern", "deny"), field)
    action, pattern, deny = value.get("action"), value.get("pattern", "*"), value.get("deny", False)
    if not isinstance(action, str):
        raise InvalidArgument(f"{field}.action: expected publish, consume, manage or monitor")
    if not isinstance(pattern, str):
        raise InvalidArgument(f"{field}.pattern: expected a string")
    if not isinstance(deny, bool):
        raise InvalidArgument(f"{field}.deny: expected true or false")
    return permissions.grant(action, pattern, deny, field)


ROLE = {"enum": ["publisher", "consumer", "admin"]}
GRANT = strict(
    {
        "action": {"enum": ["publish", "consume", "manage", "monitor"]},
        "pattern": {"type": "string", "minLength": 1, "maxLength": 255},
        "deny": {"type": "boolean"},
    },
    ("action",),
    description="publish: an event-type pattern (order.*, order.#, #); consume and manage: an"
    " exchange name, '*' standing for any characters; monitor: no pattern or '*'",
)
GRANTS = strict({"grants": {"type": "array", "minItems": 1, "items": GRANT}}, ("grants",))
COUNT = {"type": "integer", "minimum": 0}
QUOTAS = strict(
    {
        "events_per_s": {**COUNT, "maximum": 1 << 40},
        "bytes_per_s": {**COUNT, "maximum": 1 << 40},
        "streams": {**COUNT, "maximum": 1 << 20, "description": "open pulls and streams"},
        "subscribers": {**COUNT, "maximum": 1 << 20, "description": "it may create"},
    }
)
USER = {
    "type": "object",
    "properties": {
        "name": NAME,
        "role": ROLE,
        "token_ids": {"type": "array", "items": {"type": "string"}},
        "grants": {"type": "array", "items": GRANT},
        "quotas": QUOTAS,
    },
}
CHANGED = (400, 401, 403, 404, 413, 503, 504)
BY_NAME = [path("name", NAME)]
ENDPOINTS = [
    Endpoint(
        "GET",
        "/v1/users",
        list_users,
        "Users with their roles and token ids (admin)",
        ok(OBJECT, "the users"),
        (401, 403),
    ),
    creating(
        "/v1/users",
        add_user,
        "Add a user; its first token is in the answer, and only there",
        "the user and its token",
        strict({"name": NAME, "role": ROLE}, ("name", "role")),
    ),
    Endpoint(
        "GET",
        "/v1/users/{name}",
        get_user,
        "A user with its role, grants, quotas and token ids (admin)",
        ok(USER, "the user"),
        READ,
        BY_NAME,
    ),
    Endpoint(
        "DELETE",
        "/v1/users/{name}",
        remove_user,
        "Remove a user: its tokens stop working and its streams end",
        ok(OBJECT, "removed"),
        (400, 401, 403, 404, 409, 503, 504),
        BY_NAME,
    ),
    Endpoint(
        "POST",
        "/v1/users/{name}/grants",
        change_grants(True),
        "Give a user grants (one on the same action and pattern is replaced); admin",
        ok(USER, "the user as it now is"),
        CHANGED,
        BY_NAME,
        GRANTS,
    ),
    Endpoint(
        "POST",
        "/v1/users/{name}/grants/revoke",
        change_grants(False),
        "Take grants from a user (matched by action and pattern); the streams it may no"
        " longer read end; admin",
        ok(USER, "the user as it now is"),
        CHANGED,
        BY_NAME,
        GRANTS,
    ),
    Endpoint(
        "PUT",
        "/v1/users/{name}/quotas",
        set_quotas,
        "Set a user's quotas (absent or 0: no limit); admin",
        ok(USER, "the user as it now is"),
        CHANGED,
        BY_NAME,
        QUOTAS,
    ),
]
