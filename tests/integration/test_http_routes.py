"""The REST routes made from their declarations: a path that serves several methods answers
each with its own endpoint, HEAD as GET, and only a change that went through is audited."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.helpers.server import ADMIN_TOKEN, RouterProcess, running_router

AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def served(sqlite_url: str, tmp_path: object) -> Iterator[RouterProcess]:
    with running_router(sqlite_url, str(tmp_path)) as process:
        yield process


def audited(base: str) -> list[str]:
    entries = httpx.get(f"{base}/v1/audit", headers=AUTH, timeout=30).json()["entries"]
    return [entry["action"] for entry in entries]


def test_head_is_answered_as_get_and_changes_nothing(served: RouterProcess) -> None:
    base = served.http
    made = httpx.put(
        f"{base}/v1/types/order.created", json={"schema": {}}, headers=AUTH, timeout=30
    )
    assert made.status_code == 200, made.text
    before = audited(base)
    for path in ("/v1/types/order.created", "/v1/users", "/v1/users/admin", "/v1/types"):
        head = httpx.head(f"{base}{path}", headers=AUTH, timeout=30)
        get = httpx.get(f"{base}{path}", headers=AUTH, timeout=30)
        assert head.status_code == get.status_code, (path, head.status_code, get.status_code)
    assert audited(base) == before  # a read records nothing, whatever the path also serves


def test_a_method_a_path_does_not_serve_names_those_it_does(served: RouterProcess) -> None:
    answer = httpx.patch(f"{served.http}/v1/users", headers=AUTH, timeout=30)
    assert answer.status_code == 405
    assert answer.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert set(answer.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "POST"}
