from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest
import trio_asyncio  # noqa: F401 - imported first, so the policy below is what asyncio.run uses

from tests.helpers import lanes
from tests.helpers.databases import database_url
from tests.helpers.server import ADMIN_TOKEN

# Once trio-asyncio is imported (router.client.trio is), asyncio.run outside Trio gets a
# trio-asyncio loop unless a policy is set, and over TLS that loop fails. The standard policy,
# set once here, makes every test see the same asyncio whichever tests ran before it in the
# process (under pytest -n a worker runs a different selection each time).
asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())

# Routers started by tests create user admin with ADMIN_TOKEN; clients and CLI runs send it.
os.environ["ROUTER_TOKEN"] = ADMIN_TOKEN


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The markers slow, browser and postgres by directory and by what a test calls (see
    tests/helpers/lanes.py), so `just test-fast` can leave them out; the longest tests first."""
    lanes.assign(items)
    lanes.longest_first(items)


@pytest.fixture(autouse=True)
def broker_turn(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that restarts RabbitMQ runs alone on the broker; the others that use it share it."""
    if request.node.get_closest_marker("rabbitmq") is None:
        yield
        return
    exclusive = request.node.get_closest_marker("rabbitmq_restart") is not None
    with lanes.broker_turn(exclusive):
        yield


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[str]:
    """A fresh, empty database on each backend: the same tests run against SQLite and PostgreSQL."""
    with database_url(request.param, str(tmp_path)) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: object) -> Iterator[str]:
    with database_url("sqlite", str(tmp_path)) as url:
        yield url
