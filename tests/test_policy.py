"""The one policy table (router.control.policy): every gRPC method and REST route has one row, the REST
endpoints and the OpenAPI document are made from the same declarations, and the permission
table of docs/security.md is the one the table writes."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.responses import Response

from router._proto.router.v1 import router_pb2 as pb
from router.control import policy
from router.core.model import Access
from router.grpc.health import health_and_reflection
from router.http.declare import Endpoint, dispatch
from router.http.openapi import document
from router.http.routes import ENDPOINTS
from scripts import permission_table

SERVED_NOT_DOCUMENTED = {
    "GET /page.js",
    "GET /page.css",
    "GET /asyncapi",
    "GET /asyncapi.js",
    "GET /openapi.json",
}


def test_the_committed_permission_table_is_the_one_the_policy_writes() -> None:
    text = permission_table.DOC.read_text()
    assert permission_table.written(text) == text, "run: python -m scripts.permission_table"
    assert permission_table.main(["--check"]) == 0


def test_a_table_edited_by_hand_is_written_anew_from_the_policy() -> None:
    text = permission_table.DOC.read_text()
    edited = text.replace("| `Publisher.Publish`, ", "| ", 1)
    assert edited != text
    assert permission_table.written(edited) != edited  # what --check refuses
    assert permission_table.written(edited) == text


def test_every_grpc_method_has_one_row() -> None:
    methods = [
        f"{service.name}.{method.name}"
        for service in pb.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    ]
    standard, _ = health_and_reflection(serving=True)
    methods += [
        path.strip("/").replace("/", ".") for service in standard for path in service.__mapping__()
    ]
    named = [name for op in policy.OPERATIONS for name in op.grpc]
    assert sorted(named) == sorted(methods)


def test_every_rest_route_has_one_row_and_every_row_an_endpoint() -> None:
    served = [f"{e.verb} {e.path}" for e in ENDPOINTS]
    assert len(served) == len(set(served))
    named = [route for op in policy.OPERATIONS for route in op.rest]
    assert sorted(named) == sorted(served)


def test_the_document_names_every_endpoint_it_serves_but_the_page_files() -> None:
    documented = {
        f"{verb.upper()} {path}" for path, item in document()["paths"].items() for verb in item
    }
    served = {f"{e.verb} {e.path}" for e in ENDPOINTS}
    assert documented == served - SERVED_NOT_DOCUMENTED


def test_open_routes_and_only_they_need_no_token_in_the_document() -> None:
    for path, item in document()["paths"].items():
        for verb, operation in item.items():
            rule = policy.rest(verb.upper(), path).rule
            assert (operation.get("security") == []) == (rule == policy.OPEN), (verb, path)


def test_reads_record_nothing_and_changes_name_their_action() -> None:
    for op in policy.OPERATIONS:
        if any(route.startswith("GET ") for route in op.rest):
            assert not op.audit, op
    assert policy.grpc_audit("Admin.CreateExchange") == "exchange.create"
    assert policy.rest("POST", "/v1/exchanges").audit == "exchange.create"


def test_a_method_the_table_does_not_name_is_refused() -> None:
    assert policy.grpc_rule("Admin", "NoSuchCall") is None
    assert policy.grpc_rule("Admin", "ListTypes") == policy.ANY_USER
    assert policy.grpc_rule("Log", "Follow") is Access.ADMIN
    assert policy.grpc_rule("grpc.health.v1.Health", "Check") == policy.OPEN
    assert policy.grpc_rule("Health", "Check") is None  # only router.v1's go by short names


def test_an_endpoint_without_a_row_cannot_be_served() -> None:
    async def nothing(request: Request) -> Response:
        return Response()

    stray = Endpoint("GET", "/v1/nowhere", nothing, "", {})
    with pytest.raises(KeyError):
        dispatch([stray])
