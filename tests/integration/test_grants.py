"""Grants per event type and exchange, and quotas per user: over real gRPC and REST, both stores,
and from the CLI."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from router._proto.router.v1 import router_pb2 as pb
from router.client import OutgoingEvent, RouterClient
from tests.helpers.server import ADMIN_TOKEN, RouterProcess, running_router
from tests.integration.test_auth_admin import first_batch, refused


@pytest.fixture
def router(db_url: str, tmp_path: object) -> Iterator[RouterProcess]:
    with running_router(db_url, str(tmp_path)) as process:
        yield process


def grant(action: str, pattern: str = "*", deny: bool = False) -> pb.Grant:
    return pb.Grant(action=action, pattern=pattern, deny=deny)


def test_grants_scope_each_call_to_its_types_and_exchanges(router: RouterProcess) -> None:
    async def story() -> str:
        async with RouterClient(router.address) as admin:
            for name, pattern in (("orders", "order.#"), ("payments", "payment.#")):
                await admin.create_exchange(name, [pattern])
            token = (await admin.add_user("svc", "consumer")).token.token
            await admin.revoke_grants("svc", [grant("consume")])
            user = await admin.add_grants(
                "svc",
                [
                    grant("publish", "order.#"),
                    grant("publish", "order.secret", deny=True),
                    grant("consume", "orders"),
                    grant("manage", "team-a.*"),
                ],
            )
            assert [(g.action, g.pattern, g.deny) for g in user.grants] == [
                ("consume", "orders", False),
                ("manage", "team-a.*", False),
                ("publish", "order.#", False),
                ("publish", "order.secret", True),
            ]
            before = (await admin.server_info()).last_seq
        async with RouterClient(router.address, token=token) as svc:
            await svc.publish([OutgoingEvent("order.created", b"1")])
            message = await refused(
                svc.publish([OutgoingEvent("order.created"), OutgoingEvent("payment.made")]),
                Status.PERMISSION_DENIED,
                "events[1].type",
            )
            assert "'svc'" in message and "publish" in message and "'payment.made'" in message
            await refused(
                svc.publish([OutgoingEvent("order.secret")]), Status.PERMISSION_DENIED, "secret"
            )
            await first_batch(svc, "orders", "svc")
            await refused(first_batch(svc, "payments", "svc"), Status.PERMISSION_DENIED, "payments")
            await refused(svc.read("payments", "earliest"), Status.PERMISSION_DENIED, "payments")
            page, _, _ = await svc.read("orders", "earliest")
            assert [d.offset for d in page] == [1]
            await svc.create_exchange("team-a.jobs", ["job.#"])
            await refused(svc.create_exchange("jobs", ["job.#"]), Status.PERMISSION_DENIED, "jobs")
            await refused(svc.delete_exchange("orders"), Status.PERMISSION_DENIED, "manage")
            await refused(svc.list_exchanges(), Status.PERMISSION_DENIED, "monitor")
            await refused(svc.list_users(), Status.PERMISSION_DENIED, "admin")
            await refused(svc.add_grants("svc", [grant("monitor")]), Status.PERMISSION_DENIED)
        async with RouterClient(router.address) as admin:
            await admin.add_grants("svc", [grant("monitor")])
            assert (await admin.server_info()).last_seq == before + 1  # the refused stored none
            await refused(
                admin.add_grants("svc", [grant("consume", "bad name")]),
                Status.INVALID_ARGUMENT,
                "grants[0].pattern",
            )
            await refused(
                admin.add_grants("svc", [grant("own", "x")]),
                Status.INVALID_ARGUMENT,
                "grants[0].action",
            )
            await refused(
                admin.revoke_grants("svc", [grant("consume", "payments")]),
                Status.NOT_FOUND,
                "payments",
            )
            await refused(admin.add_grants("nobody", [grant("monitor")]), Status.NOT_FOUND)
            assert len((await admin.get_user("svc")).grants) == 5  # the refused changed nothing
        async with RouterClient(router.address, token=token) as svc:
            assert {x.name for x in await svc.list_exchanges()} >= {"orders", "team-a.jobs"}
        return token

    token = asyncio.run(story())
    http = f"{router.http}"
    headers = {"authorization": f"Bearer {token}"}
    pull = "/v1/exchanges/{}/subscribers/svc-pull/events?from=earliest"
    denied = httpx.post(
        f"{http}/v1/events", json={"events": [{"type": "payment.made"}]}, headers=headers
    )
    assert denied.status_code == 403
    assert "events[0].type" in denied.json()["error"]["message"]
    assert httpx.get(http + pull.format("payments"), headers=headers).status_code == 403
    assert httpx.get(http + pull.format("orders"), headers=headers).status_code == 200
    assert httpx.get(f"{http}/v1/stats", headers=headers).status_code == 200  # monitor
    assert httpx.get(f"{http}/v1/users/svc", headers=headers).status_code == 403
    admin = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    shown = httpx.get(f"{http}/v1/users/svc", headers=admin).json()
    assert {"action": "monitor", "pattern": "*", "deny": False} in shown["grants"]
    taken = httpx.post(
        f"{http}/v1/users/svc/grants/revoke",
        json={"grants": [{"action": "monitor"}]},
        headers=admin,
    )
    assert taken.status_code == 200, taken.text
    assert httpx.get(f"{http}/v1/stats", headers=headers).status_code == 403
    bad = httpx.post(
        f"{http}/v1/users/svc/grants", json={"grants": [{"action": "x"}]}, headers=admin
    )
    assert bad.status_code == 400 and "grants[0].action" in bad.json()["error"]["message"]


def test_a_grant_taken_mid_stream_ends_the_stream_at_once(router: RouterProcess) -> None:
    async def story() -> None:
        async with RouterClient(router.address) as admin:
            await admin.create_exchange("orders", ["order.#"])
            await admin.publish([OutgoingEvent("order.created", b"1")])
            token = (await admin.add_user("svc", "consumer")).token.token
            await admin.add_grants("svc", [grant("consume", "orders")])
            ready = asyncio.Event()

            async def hold() -> GRPCError:
                async with RouterClient(router.address, token=token) as svc:
                    with pytest.raises(GRPCError) as raised:
                        async with svc.subscribe("orders", "svc", "earliest") as subscription:
                            ready.set()
                            async with asyncio.timeout(20):
                                async for batch in subscription:
                                    await subscription.ack(batch[-1].offset)
                    return raised.value

            stream = asyncio.ensure_future(hold())
            await asyncio.wait_for(ready.wait(), 20)
            await admin.revoke_grants("svc", [grant("consume", "*")])  # "orders" is still held
            await asyncio.sleep(0.3)
            assert not stream.done()
            began = time.monotonic()
            await admin.add_grants("svc", [grant("consume", "ord*", deny=True)])
            ended = await asyncio.wait_for(stream, 20)
            assert time.monotonic() - began < 1.0
            assert ended.status is Status.PERMISSION_DENIED
            assert "'svc' may not consume exchange 'orders'" in (ended.message or "")

    asyncio.run(story())


def test_the_cli_grants_shows_and_revokes(router: RouterProcess) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "router",
                "--server",
                router.address,
                "--token",
                ADMIN_TOKEN,
                *args,
            ],
            text=True,
            capture_output=True,
            timeout=60,
        )

    assert cli("user", "add", "svc", "--role", "publisher").returncode == 0
    given = cli("user", "grant", "svc", "--publish", "order.*", "--consume", "orders", "--monitor")
    assert given.returncode == 0, given.stderr
    assert "consume orders" in given.stdout and "publish order.*" in given.stdout
    denied = cli("user", "grant", "svc", "--deny", "--publish", "order.secret")
    assert "deny publish order.secret" in denied.stdout, denied.stderr
    shown = json.loads(cli("user", "show", "svc", "--json").stdout)
    assert shown["role"] == "publisher" and len(shown["grants"]) == 5
    assert cli("user", "revoke-grant", "svc", "--publish", "#").returncode == 0
    missing = cli("user", "revoke-grant", "svc", "--publish", "#")
    assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr
    nothing = cli("user", "grant", "svc")
    assert nothing.returncode != 0 and "--publish" in nothing.stderr
    bad = cli("user", "grant", "svc", "--publish", "order..x")
    assert bad.returncode == 1 and "grants[0].pattern" in bad.stderr
    audited = cli("audit", "--json").stdout.splitlines()
    assert [json.loads(line)["action"] for line in audited][-3:] == [
        "user.grant",
        "user.grant",
        "user.revoke_grant",
    ]
