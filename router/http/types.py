"""Event types over REST: any user reads them (they are every publisher's and consumer's
contract); the admin role registers a version or forgets a type."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from router.core.errors import InvalidArgument
from router.core.model import TypeSchema
from router.http.bodies import JSONResponse, json_body, only
from router.http.declare import Endpoint, router_of
from router.http.params import integer
from router.http.schemas import CREATE, ok, path, query, strict


async def list_types(request: Request) -> Response:
    router = router_of(request)
    return JSONResponse({"types": [type_json(request, t) for t in router.list_types()]})


async def get_type(request: Request) -> Response:
    for name in request.query_params:
        if name != "version":
            raise InvalidArgument(f"{name[:40]}: not a parameter here (version)")
    version = integer(request.query_params.get("version", "0"), "version", 0, 1 << 30)
    found = router_of(request).type_schema(request.path_params["pattern"], version)
    return JSONResponse(type_json(request, found))


async def register_type(request: Request) -> Response:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InvalidArgument('body: expected {"schema": {...}, "mode": "enforce"}')
    only(body, ("schema", "mode", "description", "owner", "force"))
    if "schema" not in body or not isinstance(body["schema"], dict | bool):
        raise InvalidArgument("schema: expected a JSON Schema (an object or a boolean)")
    texts = {}
    for key in ("mode", "description", "owner"):
        texts[key] = body.get(key, "enforce" if key == "mode" else "")
        if not isinstance(texts[key], str):
            raise InvalidArgument(f"{key}: expected a string")
    force = body.get("force", False)
    if not isinstance(force, bool):
        raise InvalidArgument("force: expected true or false")
    user = request.state.user
    made = await router_of(request).register_type(
        request.path_params["pattern"],
        json.dumps(body["schema"]),
        texts["mode"],
        texts["description"],
        texts["owner"],
        by=user.name if user else "",
        force=force,
    )
    return JSONResponse(type_json(request, made))


async def delete_type(request: Request) -> Response:
    await router_of(request).delete_type(request.path_params["pattern"])
    return JSONResponse({"deleted": request.path_params["pattern"]})


def type_json(request: Request, record: TypeSchema) -> dict[str, Any]:
    contracts = router_of(request).contracts
    counts = contracts.counts.get(record.pattern)
    return {
        "pattern": record.pattern,
        "version": record.version,
        "versions": [r.version for r in contracts.versions.get(record.pattern, [])],
        "mode": record.mode,
        "description": record.description,
        "owner": record.owner,
        "created_at_us": record.created_at,
        "created_by": record.created_by,
        "schema": json.loads(record.schema),
        "checked": counts.checked if counts else 0,
        "refused": counts.refused if counts else 0,
        "warned": counts.warned if counts else 0,
    }


MODE = {"type": "string", "enum": ["enforce", "warn"]}
TYPE = {
    "type": "object",
    "properties": {
        "pattern": {"type": "string"},
        "version": {"type": "integer"},
        "versions": {"type": "array", "items": {"type": "integer"}},
        "mode": MODE,
        "description": {"type": "string"},
        "owner": {"type": "string"},
        "created_at_us": {"type": "integer"},
        "created_by": {"type": "string"},
        "schema": {"description": "the JSON Schema (draft 2020-12) of the payloads"},
        "checked": {"type": "integer"},
        "refused": {"type": "integer"},
        "warned": {"type": "integer"},
    },
}
PATTERN = path(
    "pattern",
    {"type": "string", "minLength": 1, "maxLength": 255},
    "a type pattern: dotted words, '*' (one word), '#' (any words; %23 in a URL)",
)
REGISTER = strict(
    {
        "schema": {
            "description": "a JSON Schema, draft 2020-12",
            "oneOf": [{"type": "object"}, {"type": "boolean"}],
        },
        "mode": MODE,
        "description": {"type": "string", "maxLength": 1000},
        "owner": {"type": "string", "maxLength": 1000},
        "force": {"type": "boolean"},
    },
    ("schema",),
)
ENDPOINTS = [
    Endpoint(
        "GET",
        "/v1/types",
        list_types,
        "The registered event types, current versions (any user)",
        ok(
            {
                "type": "object",
                "required": ["types"],
                "properties": {"types": {"type": "array", "items": TYPE}},
            },
            "by pattern",
        ),
        (401,),
    ),
    Endpoint(
        "GET",
        "/v1/types/{pattern}",
        get_type,
        "One event type with its JSON Schema (any user)",
        ok(TYPE, "the type"),
        (400, 401, 404),
        [
            PATTERN,
            query(
                "version",
                {"type": "integer", "minimum": 0, "maximum": 1 << 30},
                "0 or absent: the current one",
            ),
        ],
    ),
    Endpoint(
        "PUT",
        "/v1/types/{pattern}",
        register_type,
        "Register a type, or a new version of it (admin). Publishes of matching types then have"
        " their JSON payloads checked: enforce refuses a batch with one that does not match"
        " (400 naming the event and the JSON path), warn stores and counts it",
        ok(TYPE, "the version now current"),
        CREATE,
        [PATTERN],
        REGISTER,
    ),
    Endpoint(
        "DELETE",
        "/v1/types/{pattern}",
        delete_type,
        "Forget a type and all its versions (admin)",
        ok({"type": "object", "properties": {"deleted": {"type": "string"}}}, "deleted"),
        (400, 401, 403, 404, 503, 504),
        [PATTERN],
    ),
]
