"""Users, tokens and roles, and the Admin API for queues and subscribers: over real gRPC, both stores."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from router.client import OutgoingEvent, RouterClient
from tests.helpers.polling import until
from tests.helpers.server import ADMIN_TOKEN, RouterProcess, running_router


@pytest.fixture
def router(db_url: str, tmp_path: object) -> Iterator[RouterProcess]:
    with running_router(db_url, str(tmp_path)) as process:
        yield process


def run(coroutine: object) -> object:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


async def refused(call: object, status: Status, words: str = "") -> str:
    with pytest.raises(GRPCError) as raised:
        await call  # type: ignore[misc]
    assert raised.value.status is status, raised.value
    assert words in (raised.value.message or ""), raised.value.message
    return raised.value.message or ""


async def first_batch(client: RouterClient, exchange: str, name: str) -> None:
    async with client.subscribe(exchange, name, "earliest") as subscription:
        async for _ in subscription:
            return


def test_every_service_needs_a_known_token(router: RouterProcess) -> None:
    async def story() -> None:
        for token in ("", "rtr_nobody_" + "x" * 30):
            async with RouterClient(router.address, token=token) as stranger:
                await refused(stranger.list_exchanges(), Status.UNAUTHENTICATED, "authorization")
                await refused(
                    stranger.publish([OutgoingEvent("order.created")]), Status.UNAUTHENTICATED
                )
                await refused(first_batch(stranger, "orders", "x"), Status.UNAUTHENTICATED)
        async with RouterClient(router.address) as admin:
            assert await admin.list_exchanges() == []
            info = await admin.server_info()
            assert info.auth and info.last_seq == 0  # nothing was stored by the refused calls

    run(story())


def test_roles_allow_only_their_service(router: RouterProcess) -> None:
    async def story() -> None:
        async with RouterClient(router.address) as admin:
            await admin.create_exchange("orders", ["order.*"])
            publisher = (await admin.add_user("shop", "publisher")).token.token
            consumer = (await admin.add_user("billing", "consumer")).token.token
        async with RouterClient(router.address, token=publisher) as shop:
            (ack,) = await shop.publish([OutgoingEvent("order.created", b"1")])
            assert ack.offsets == {"orders": 1}
            await refused(first_batch(shop, "orders", "x"), Status.PERMISSION_DENIED, "consume")
            await refused(shop.list_exchanges(), Status.PERMISSION_DENIED, "admin")
        async with RouterClient(router.address, token=consumer) as billing:
            await first_batch(billing, "orders", "billing")
            await refused(
                billing.publish([OutgoingEvent("order.created")]),
                Status.PERMISSION_DENIED,
                "publish",
            )
            await refused(billing.add_user("mallory", "admin"), Status.PERMISSION_DENIED)

    run(story())


async def hold(router: RouterProcess, token: str, name: str, ready: asyncio.Event) -> GRPCError:
    """Subscribe to ``orders`` with ``token`` and read until the stream ends with an error."""
    async with RouterClient(router.address, token=token) as client:
        with pytest.raises(GRPCError) as raised:
            async with client.subscribe("orders", name, "earliest") as subscription:
                ready.set()
                async with asyncio.timeout(20):
                    async for batch in subscription:
                        await subscription.ack(batch[-1].offset)
        return raised.value


def test_removing_a_user_or_revoking_a_token_ends_its_streams(router: RouterProcess) -> None:
    async def story() -> None:
        async with RouterClient(router.address) as admin:
            await admin.create_exchange("orders", ["order.*"])
            await admin.publish([OutgoingEvent("order.created", b"1")])
            first = (await admin.add_user("billing", "consumer")).token
            second = await admin.issue_token("billing")
            other = (await admin.add_user("audit", "consumer")).token
            assert {u.name: len(u.token_ids) for u in await admin.list_users()} == {
                "admin": 1,
                "audit": 1,
                "billing": 2,
            }
            ready = [asyncio.Event() for _ in range(3)]
            streams = [
                asyncio.ensure_future(hold(router, first.token, "one", ready[0])),
                asyncio.ensure_future(hold(router, second.token, "two", ready[1])),
                asyncio.ensure_future(hold(router, other.token, "three", ready[2])),
            ]
            for event in ready:
                await asyncio.wait_for(event.wait(), 20)

            await admin.revoke_token(first.token_id)
            ended = await asyncio.wait_for(streams[0], 20)
            assert ended.status is Status.UNAUTHENTICATED and "revoked" in (ended.message or "")
            assert not streams[1].done()  # the user's other token still works
            async with RouterClient(router.address, token=first.token) as revoked:
                await refused(first_batch(revoked, "orders", "x"), Status.UNAUTHENTICATED)

            await admin.remove_user("billing")
            ended = await asyncio.wait_for(streams[1], 20)
            assert ended.status is Status.UNAUTHENTICATED and "removed" in (ended.message or "")
            assert not streams[2].done()  # another user's stream goes on
            streams[2].cancel()
            assert [u.name for u in await admin.list_users()] == ["admin", "audit"]

    run(story())


def test_an_expired_token_is_refused_and_the_streams_it_opened_end(router: RouterProcess) -> None:
    async def story() -> None:
        async with RouterClient(router.address) as admin:
            await admin.create_exchange("orders", ["order.*"])
            await admin.publish([OutgoingEvent("order.created", b"1")])
            await admin.add_user("billing", "consumer")
            short = await admin.issue_token("billing", expires_in_s=3)
            lasting = await admin.issue_token("billing", expires_in_s=3600)
            listed = {t.token_id: t for t in await admin.list_tokens("billing")}
            assert len(listed) == 3  # and the one the user was added with, which never expires
            assert listed[short.token_id].expires_at_us == short.expires_at_us > 0
            assert listed[short.token_id].last_used_us == 0
            ready = asyncio.Event()
            stream = asyncio.ensure_future(hold(router, short.token, "one", ready))
            await asyncio.wait_for(ready.wait(), 20)
            used = {t.token_id: t.last_used_us for t in await admin.list_tokens()}
            assert used[short.token_id] > 0 and used[lasting.token_id] == 0
            ended = await asyncio.wait_for(stream, 20)  # at its expiry
            assert ended.status is Status.UNAUTHENTICATED, ended
            async with RouterClient(router.address, token=short.token) as expired:
                await refused(
                    first_batch(expired, "orders", "x"), Status.UNAUTHENTICATED, "expired"
                )
            async with RouterClient(router.address, token=lasting.token) as valid:
                await first_batch(valid, "orders", "y")
            for bad in (-1, 10**10):
                await refused(
                    admin.issue_token("billing", expires_in_s=bad),
                    Status.INVALID_ARGUMENT,
                    "expires_in_s",
                )
            await refused(admin.list_tokens("nobody"), Status.NOT_FOUND, "user")
            assert len(await admin.list_tokens("billing")) == 3

    run(story())


def test_admin_changes_are_audited_and_failed_authentications_counted(
    router: RouterProcess,
) -> None:
    stranger_token = "rtr_wrong_" + "x" * 30

    async def story() -> tuple[str, str]:
        async with RouterClient(router.address) as admin:
            await admin.create_exchange("orders", ["order.*"])
            added = await admin.add_user("shop", "publisher")
            issued = await admin.issue_token("shop", expires_in_s=60)
            await admin.revoke_token(issued.token_id)
            await refused(admin.add_user("shop", "publisher"), Status.ALREADY_EXISTS)
            async with RouterClient(router.address, token=stranger_token) as stranger:
                for _ in range(3):
                    await refused(stranger.list_users(), Status.UNAUTHENTICATED)
            entries = await admin.list_audit()
            assert [(e.user, e.action, e.target) for e in entries] == [
                ("admin", "exchange.create", "orders"),
                ("admin", "user.add", "shop"),
                ("admin", "token.issue", "shop"),
                ("admin", "token.revoke", issued.token_id),
            ]  # the refused change is not there
            assert {e.source for e in entries} == {"127.0.0.1"}
            assert json.loads(entries[2].detail) == {"user": "shop", "expiresInS": "60"}
            since = await admin.list_audit(since_us=entries[-1].at_us)
            assert [e.action for e in since] == ["token.revoke"]
            await refused(admin.list_audit(max_entries=-1), Status.INVALID_ARGUMENT, "max")
            await refused(admin.list_audit(max_entries=10_001), Status.INVALID_ARGUMENT, "max")
            await refused(admin.list_audit(since_us=-5), Status.INVALID_ARGUMENT, "since_us")
            return added.token.token, issued.token

    secrets = run(story())
    admin = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=router.http, headers=admin, timeout=30) as http:
        made = http.post("/v1/exchanges", json={"name": "refunds", "patterns": ["refund.*"]})
        assert made.status_code == 200, made.text
        assert http.delete("/v1/users/shop").status_code == 200
        wrong = {"authorization": f"Bearer {stranger_token}"}
        assert httpx.get(f"{router.http}/v1/stats", headers=wrong).status_code == 401
        entries = http.get("/v1/audit").json()["entries"]
        assert [(e["user"], e["action"], e["target"]) for e in entries[-2:]] == [
            ("admin", "exchange.create", "refunds"),
            ("admin", "user.remove", "shop"),
        ]
        assert not any(secret in json.dumps(entries) for secret in secrets)
        bad = http.get("/v1/audit", params={"max": "0"})
        assert bad.status_code == 400 and "max" in bad.text
        unknown = http.get("/v1/audit", params={"since": "1"})
        assert unknown.status_code == 400 and "since: not a parameter" in unknown.text
        metrics = http.get("/metrics").text
    assert 'router_auth_failures_total{source="127.0.0.1"} 4.0' in metrics
    assert stranger_token not in metrics


def test_user_and_token_calls_refuse_bad_input_and_change_nothing(router: RouterProcess) -> None:
    async def story() -> None:
        async with RouterClient(router.address) as admin:
            await admin.add_user("shop", "publisher")
            await refused(admin.add_user("shop", "consumer"), Status.ALREADY_EXISTS, "name")
            await refused(admin.add_user("x", "root"), Status.INVALID_ARGUMENT, "role")
            await refused(admin.add_user("bad name!", "consumer"), Status.INVALID_ARGUMENT, "name")
            await refused(admin.remove_user("nobody"), Status.NOT_FOUND, "nobody")
            await refused(admin.issue_token("nobody"), Status.NOT_FOUND, "user")
            await refused(admin.revoke_token("00000000"), Status.NOT_FOUND, "token_id")
            users = await admin.list_users()
            assert [(u.name, u.role, len(u.token_ids)) for u in users] == [
                ("admin", "admin", 1),
                ("shop", "publisher", 1),
            ]

    run(story())


def test_subscribers_are_listed_reset_and_deleted(router: RouterProcess) -> None:
    async def story() -> None:
        async with RouterClient(router.address) as admin:
            await admin.create_exchange("orders", ["order.*"])
            await admin.publish([OutgoingEvent("order.created", b"%d" % i) for i in range(5)])
            async with admin.subscribe("orders", "billing", "earliest") as subscription:
                batch = await subscription.__anext__()
                await subscription.ack(batch[1].offset)
                stats = await admin.stats()
                assert [(e.name, e.events_in) for e in stats.exchanges] == [("orders", 5)]
                assert stats.published == 5 and stats.subscribers[0].events_out == len(batch)
                (active,) = await admin.list_subscribers("orders", "billing")
                assert active.state == "active" and active.fill == 0  # history is not buffered
                assert active.consumer.startswith("grpc 127.0.0.1:")
                await admin.publish([OutgoingEvent("order.paid", b"live") for _ in range(2)])

                async def buffered_both() -> bool:  # fan-out to the queue follows the ack
                    (active,) = await admin.list_subscribers("orders", "billing")
                    return active.fill >= 2e-4

                await until(buffered_both)
                (active,) = await admin.list_subscribers("orders", "billing")
                assert active.fill == 2 / 10_000  # two live events in a ring of 10,000
                described = await admin.describe_exchange("orders")
                assert (described.head_offset, described.events_in) == (7, 7)
                await refused(
                    admin.reset_subscriber("orders", "billing", "earliest"),
                    Status.FAILED_PRECONDITION,
                    "attached",
                )
            (sleeping,) = await admin.list_subscribers("orders")
            assert (sleeping.state, sleeping.acked_offset, sleeping.head_offset, sleeping.lag) == (
                "sleeping",
                2,
                7,
                5,
            )
            (queue,) = await admin.list_queues()
            assert (queue.exchange, queue.sleeping, queue.active, queue.head_offset) == (
                "orders",
                1,
                0,
                7,
            )

            await refused(
                admin.reset_subscriber("orders", "billing", "offset:9"), Status.OUT_OF_RANGE
            )
            await refused(admin.reset_subscriber("orders", "nobody", "earliest"), Status.NOT_FOUND)
            await refused(
                admin.reset_subscriber("orders", "billing", "stored"), Status.INVALID_ARGUMENT
            )
            assert (await admin.list_subscribers("orders"))[0].acked_offset == 2  # unchanged

            moved = await admin.reset_subscriber("orders", "billing", "offset:4")
            assert moved.acked_offset == 3
            async with admin.subscribe("orders", "billing") as again:
                assert again.start_offset == 4

            await admin.delete_subscriber("orders", "billing")
            assert await admin.list_subscribers("orders") == []
            await refused(admin.delete_subscriber("orders", "billing"), Status.NOT_FOUND)
            async with admin.subscribe("orders", "billing") as fresh:
                assert fresh.start_offset == 8  # a new subscriber starts at the head

    run(story())


def test_the_first_start_writes_a_token_to_a_private_file_and_dev_turns_auth_off(
    tmp_path: object,
) -> None:
    folder = str(tmp_path)
    url = f"sqlite:///{folder}/first.db"
    log = os.path.join(folder, "first.log")
    path = f"{folder}/first.db.admin-token"
    for _ in range(2):  # the same store started twice, no ROUTER_ADMIN_TOKEN given
        first = RouterProcess(url, log, None, admin_token=None).start()
        first.stop()
        if _ == 0:
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
            with open(path) as kept:
                token = kept.read().strip()
            os.unlink(path)  # the second start makes no token: the file stays away
    assert not os.path.exists(path)
    said = [line for line in first.log().splitlines() if "export ROUTER_TOKEN=" in line]
    assert len(said) == 1 and path in said[0], first.log()
    assert token.startswith("rtr_") and token not in first.log()

    async def story(address: str, token: str) -> None:
        async with RouterClient(address, token=token) as client:
            assert (await client.server_info()).auth

    again = RouterProcess(url, log, None, admin_token=None).start()
    try:
        run(story(again.address, token))  # the printed token is the admin's
    finally:
        again.stop()

    async def open_to_anyone(address: str) -> None:
        async with RouterClient(address, token="") as anyone:
            await anyone.create_exchange("open", ["#"])
            assert not (await anyone.server_info()).auth

    with running_router(f"sqlite:///{folder}/dev.db", folder, "--dev") as dev:
        run(open_to_anyone(dev.address))
        assert "AUTH IS OFF" in dev.log()


def test_cli_drives_users_tokens_and_subscribers(router: RouterProcess) -> None:
    def cli(*args: str, token: str = ADMIN_TOKEN) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "router", "--server", router.address, "--token", token, *args],
            text=True,
            capture_output=True,
            timeout=60,
        )

    added = cli("user", "add", "shop", "--role", "publisher", "--json")
    assert added.returncode == 0, added.stderr
    token = json.loads(added.stdout)["token"]
    assert cli("publish", "order.created", "--data", "1", token=token).returncode == 0
    denied = cli("exchange", "list", token=token)
    assert denied.returncode == 1 and "PERMISSION_DENIED" in denied.stderr
    listed = cli("user", "list")
    assert "shop" in listed.stdout and "publisher" in listed.stdout
    issued = cli("token", "issue", "shop", "--json")
    token_id = json.loads(issued.stdout)["token_id"]
    expiring = cli("token", "issue", "shop", "--expires", "30d")
    assert expiring.returncode == 0 and "it expires at" in expiring.stdout, expiring.stderr
    wrong = cli("token", "issue", "shop", "--expires", "soon")
    assert wrong.returncode == 2 and "duration" in wrong.stderr
    rows = [
        json.loads(line)
        for line in cli("token", "list", "--user", "shop", "--json").stdout.splitlines()
    ]
    assert sorted(r["expires"] == "never" for r in rows) == [False, True, True]
    assert {r["id"] for r in rows} >= {token_id}
    assert cli("token", "revoke", token_id).returncode == 0
    audited = cli("audit", "--since", "1h", "--json")
    assert audited.returncode == 0, audited.stderr
    actions = [json.loads(line)["action"] for line in audited.stdout.splitlines()]
    assert actions[-2:] == ["token.issue", "token.revoke"]
    assert cli("audit", "--since", "last week").returncode == 2
    assert cli("user", "remove", "shop").returncode == 0
    gone = cli("publish", "order.created", "--data", "1", token=token)
    assert gone.returncode == 1 and "UNAUTHENTICATED" in gone.stderr
    assert cli("exchange", "create", "orders", "--pattern", "#").returncode == 0
    described = cli("exchange", "describe", "orders", "--json")
    assert json.loads(described.stdout)["head"] == 1, described.stderr  # shop's event, indexed
    unknown = cli("exchange", "describe", "nope")
    assert unknown.returncode == 1 and "NOT_FOUND" in unknown.stderr
    replayed = cli("replay", "orders", "--from", "earliest", "--json")
    assert replayed.returncode == 0 and [
        json.loads(l)["offset"] for l in replayed.stdout.splitlines()
    ] == [1]
    assert cli("replay", "orders", "--from", "stored").returncode == 1  # a read has no cursor
    tail = cli("tail", "orders", "--name", "billing", "--from", "earliest", "--max", "1")
    assert tail.returncode == 0, tail.stderr
    subscribers = cli("subscriber", "list", "--json")
    assert '"name": "billing"' in subscribers.stdout and '"state": "sleeping"' in subscribers.stdout
    reset = cli("subscriber", "reset", "orders", "billing", "--to", "earliest")
    assert reset.returncode == 0 and "billing" in reset.stdout
    bad = cli("subscriber", "reset", "orders", "billing", "--to", "yesterday")
    assert bad.returncode == 2 and "start" in bad.stderr
    assert cli("subscriber", "delete", "orders", "billing").returncode == 0
    missing = cli("subscriber", "describe", "orders", "billing")
    assert missing.returncode == 1 and "no subscriber" in missing.stderr
    assert "sqlite" in cli("info").stdout or "postgresql" in cli("info").stdout
    frames = cli("stats", "--watch", "--interval", "0.2", "--count", "2", "--json")
    assert frames.returncode == 0, frames.stderr
    first, second = (json.loads(line) for line in frames.stdout.splitlines())
    assert first["exchanges"][0]["exchange"] == "orders" and first["exchanges"][0]["in/s"] == "-"
    assert second["exchanges"][0]["in/s"] == "0" and second["subscribers"] == []
    table = cli("stats")
    assert table.returncode == 0 and "published since start" in table.stdout


def test_a_token_given_in_the_environment_is_never_shown_or_written(tmp_path: object) -> None:
    folder = str(tmp_path)
    with running_router(f"sqlite:///{folder}/given.db", folder) as router:
        run(_signed_in(router.address, ADMIN_TOKEN))
        router.stop()
        assert ADMIN_TOKEN not in router.log()
        assert "created the first user: admin" in router.log()
    assert not os.path.exists(f"{folder}/given.db.admin-token")


def serve_without_http(
    db_url: str, env: dict[str, str], *flags: str
) -> subprocess.CompletedProcess[str]:
    """``router serve`` on ``db_url`` (gRPC on any port, no HTTP) in ``env``, to its end: for
    starts that are refused."""
    serve = [sys.executable, "-m", "router", "serve", "--db", db_url]
    return subprocess.run(
        [*serve, "--grpc", "127.0.0.1:0", "--http", "off", *flags],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_token_file_that_can_not_be_written_stops_the_first_start(tmp_path: object) -> None:
    folder = str(tmp_path)
    url = f"sqlite:///{folder}/nowhere.db"
    result = serve_without_http(
        url,
        {k: v for k, v in os.environ.items() if k != "ROUTER_ADMIN_TOKEN"},
        "--admin-token-file",
        f"{folder}/missing/dir/token",
    )
    assert result.returncode != 0
    assert "--admin-token-file: cannot write" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    # Nothing was stored: a later start, given a place to write, makes the admin afresh.
    again = RouterProcess(url, os.path.join(folder, "again.log"), None, admin_token=None).start()
    again.stop()
    assert os.path.exists(f"{folder}/nowhere.db.admin-token")


async def _signed_in(address: str, token: str) -> None:
    async with RouterClient(address, token=token) as client:
        assert (await client.server_info()).auth


def test_a_given_token_that_could_never_be_presented_is_refused(tmp_path: object) -> None:
    # 'Bearer <token>' is read without surrounding spaces: a trailing newline (a token read
    # from a file) would lock the admin out for good.
    result = serve_without_http(
        f"sqlite:///{tmp_path}/nl.db", {**os.environ, "ROUTER_ADMIN_TOKEN": ADMIN_TOKEN + "\n"}
    )
    assert result.returncode == 2, result.stderr
    assert "router: ROUTER_ADMIN_TOKEN: printable ASCII characters only" in result.stderr
    assert "Traceback" not in result.stderr and ADMIN_TOKEN not in result.stderr
