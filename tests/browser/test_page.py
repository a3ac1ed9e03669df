"""The monitoring page in headless Chromium (Debian's), driven by Playwright.

Screenshots go to $ROUTER_SCREENSHOTS when set (``just screenshots`` sets docs/screenshots).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from router._proto.router.v1 import router_pb2 as pb
from router.client import OutgoingEvent, RouterClient
from tests.helpers.server import ADMIN_TOKEN, RouterProcess, running_router
from tests.helpers.server import router_cli as cli

CHROMIUM = os.environ.get("ROUTER_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing under CI (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} not installed (Debian package chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs its own asyncio loop; give it the standard policy (trio-asyncio,
    # imported by other tests, installs its own) and leave no loop behind for the next tests.
    policy = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())
    try:
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=FLAGS
            )
            yield launched
            launched.close()
    finally:
        asyncio.set_event_loop(None)
        asyncio.set_event_loop_policy(policy)


@pytest.fixture
def router(sqlite_url: str, tmp_path: object) -> Iterator[RouterProcess]:
    with running_router(sqlite_url, str(tmp_path)) as process:
        yield process


def shoot(page: Any, name: str) -> None:
    folder = os.environ.get("ROUTER_SCREENSHOTS")
    if folder:
        os.makedirs(folder, exist_ok=True)
        page.screenshot(path=os.path.join(folder, name), full_page=True)


def csp_refusals(page: Any) -> list[str]:
    """What Chromium refuses under the Content-Security-Policy on ``page``, as it happens."""
    refused: list[str] = []
    page.on(
        "console",
        lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return refused


def sign_in(page: Any, router: RouterProcess, token: str = ADMIN_TOKEN) -> None:
    page.goto(f"{router.http}/")
    page.wait_for_selector("#login:not([hidden])")
    page.fill("#token", token)
    page.click("#login-form button")


def test_the_page_shows_the_router_live(browser: Any, router: RouterProcess) -> None:
    # Playwright's wait_for_function evaluates its text in the page, which the page's
    # Content-Security-Policy refuses; the next test runs the page under it.
    page = browser.new_page(viewport={"width": 1280, "height": 860}, bypass_csp=True)
    sign_in(page, router, "rtr_wrong_" + "x" * 30)
    page.wait_for_selector("#login-message:has-text('not accepted')")
    sign_in(page, router)
    page.wait_for_selector("#app:not([hidden])")
    page.wait_for_selector("#status:has-text('live')")

    # Create an exchange through the form; bad input shows the server's message.
    page.fill("#exchange-name", "orders")
    page.fill("#exchange-patterns", "order.* refund.#")
    page.click("#exchange-form button")
    page.wait_for_selector("tr[data-exchange='orders']")
    for name, patterns, words in [
        ("", "order.*", "name"),
        ("bad", "a..b", "patterns[0]"),
        ("orders", "order.*", "already exists"),
    ]:
        page.fill("#exchange-name", name)
        page.fill("#exchange-patterns", patterns)
        page.click("#exchange-form button")
        page.wait_for_selector(f"#exchange-message.error:has-text('{words}')")

    # A consumer attaches: active. Published events move the rates.
    tail = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "router",
            "--server",
            router.address,
            "tail",
            "orders",
            "--name",
            "billing",
            "--from",
            "earliest",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        page.wait_for_selector("tr[data-subscriber='orders/billing'] .badge.active", timeout=10_000)
        lines = "".join(f'{{"type": "order.created", "data": {{"n": {n}}}}}\n' for n in range(200))
        published = subprocess.run(
            [
                sys.executable,
                "-m",
                "router",
                "--server",
                router.address,
                "publish",
                "--stdin",
                "--batch",
                "20",
            ],
            input=lines,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert published.returncode == 0, published.stderr
        page.wait_for_function("Number(document.getElementById('pub-1m').textContent) > 0")
        page.wait_for_function(
            "document.querySelector(\"tr[data-exchange='orders'] td:nth-child(3)\").textContent === '200'"
        )
        shoot(page, "overview.png")
        # The consumer dies without a word: the subscriber shows sleeping within 2 seconds.
        tail.send_signal(signal.SIGKILL)
        tail.wait(10)
        page.wait_for_selector(
            "tr[data-subscriber='orders/billing'] .badge.sleeping", timeout=2_000
        )
    finally:
        if tail.poll() is None:
            tail.kill()

    # Users: add one (its token shown once), then remove it.
    page.fill("#user-name", "shop")
    page.select_option("#user-role", "publisher")
    page.click("#user-form button")
    page.wait_for_selector("#new-token")
    assert page.inner_text("#new-token").startswith("rtr_")
    page.wait_for_selector("tr[data-user='shop']")
    page.fill("#user-name", "shop")
    page.click("#user-form button")
    page.wait_for_selector("#user-message.error:has-text('already exists')")
    page.click("button[data-remove='shop']")
    page.wait_for_selector("tr[data-user='shop']", state="detached")
    page.click("button[data-remove='admin']")
    page.wait_for_selector("#user-message.error:has-text('last admin')")
    # The audit section shows those changes, newest first, and not the refused ones.
    page.wait_for_selector("#audit tr[data-audit='user.remove']")
    actions = page.eval_on_selector_all("#audit tr", "rows => rows.map(r => r.dataset.audit)")
    assert actions == ["user.remove", "user.add", "exchange.create"], actions
    assert "admin" in page.inner_text("#audit tr:first-child")

    phone = browser.new_page(viewport={"width": 390, "height": 844}, bypass_csp=True)
    sign_in(phone, router)
    phone.wait_for_selector("tr[data-subscriber='orders/billing']")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide on a 390px screen"
    shoot(phone, "phone.png")


def test_the_page_runs_under_its_content_security_policy(
    browser: Any, router: RouterProcess
) -> None:
    """No inline script or style: signed in, with an exchange and a subscriber on it, the page
    works and Chromium reports nothing refused."""
    page = browser.new_page()
    refused = csp_refusals(page)
    sign_in(page, router)
    page.wait_for_selector("#status:has-text('live')")
    page.fill("#exchange-name", "orders")
    page.fill("#exchange-patterns", "order.*")
    page.click("#exchange-form button")
    page.wait_for_selector("tr[data-exchange='orders']")
    tail = subprocess.Popen(
        [sys.executable, "-m", "router", "--server", router.address, "tail", "orders", "--name=b"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        bar = "tr[data-subscriber='orders/b'] .bar span"
        page.wait_for_selector(bar, state="attached", timeout=10_000)
        assert page.eval_on_selector(bar, "e => e.style.width") == "0%"  # set by the script
    finally:
        tail.kill()
        tail.wait(10)
    assert refused == []


def new_user_token(router: RouterProcess, name: str, role: str) -> str:
    """Adds user ``name`` with ``role`` through the CLI: its first token."""
    added = cli(router, "user", "add", name, "--role", role, "--json")
    token: str = json.loads(added.stdout)["token"]
    return token


def test_a_missing_or_revoked_token_shows_the_login_prompt(
    browser: Any, router: RouterProcess
) -> None:
    token = new_user_token(router, "ops", "admin")
    page = browser.new_page()
    page.goto(f"{router.http}/")
    page.wait_for_selector("#login:not([hidden])")
    sign_in(page, router, token)
    page.wait_for_selector("#status:has-text('live')")
    assert cli(router, "user", "remove", "ops").returncode == 0
    page.wait_for_selector("#login:not([hidden])", timeout=5_000)
    assert "sign in again" in page.inner_text("#login-message")


def test_a_page_whose_monitor_grant_is_taken_stops_polling_and_says_why(
    browser: Any, router: RouterProcess
) -> None:
    token = new_user_token(router, "watcher", "consumer")
    assert cli(router, "user", "grant", "watcher", "--monitor").returncode == 0
    page = browser.new_page()
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if r.url.endswith("/v1/stats") else None)
    sign_in(page, router, token)
    page.wait_for_selector("#status:has-text('live')")
    assert cli(router, "user", "revoke-grant", "watcher", "--monitor").returncode == 0
    page.wait_for_selector("#login:not([hidden])", timeout=5_000)
    assert "may not monitor" in page.inner_text("#login-message")
    stopped = len(polls)
    page.wait_for_timeout(2_500)  # the page polls every second: two and a half periods
    assert len(polls) == stopped


def test_a_monitor_sees_the_router_but_not_users_and_admins_see_grants(
    browser: Any, router: RouterProcess
) -> None:
    token = new_user_token(router, "watcher", "consumer")
    page = browser.new_page()
    sign_in(page, router, token)  # consume * only: it may not monitor
    page.wait_for_selector("#login-message:has-text('may not monitor')")
    assert cli(router, "user", "grant", "watcher", "--monitor").returncode == 0
    assert cli(router, "user", "quotas", "watcher", "--streams", "2").returncode == 0
    sign_in(page, router, token)
    page.wait_for_selector("#status:has-text('live')")
    page.wait_for_selector("#users-section", state="hidden")
    page.wait_for_selector("#audit-section", state="hidden")
    assert page.is_visible("#exchanges") or page.query_selector("#exchanges") is not None

    admin = browser.new_page()
    sign_in(admin, router)
    admin.wait_for_selector("tr[data-user='watcher']")
    assert admin.inner_text("tr[data-user='watcher'] .grants") == "consume *; monitor"
    assert admin.inner_text("tr[data-user='watcher'] .quotas") == "2 streams"
    assert admin.inner_text("tr[data-user='admin'] .grants") == "everything"
    assert admin.is_visible("#audit-section")


def test_a_stalled_subscriber_and_its_parked_events_show_and_can_be_re_driven(
    browser: Any, router: RouterProcess
) -> None:
    """A consumer parks one event and leaves the rest unsettled: the page shows the subscriber
    stalled at the offset it is stuck at, the parked count, and a button that re-drives it."""
    ready, got, done = threading.Event(), threading.Event(), threading.Event()
    redelivered: list[tuple[int, int]] = []

    async def hold() -> None:
        async with RouterClient(router.address) as client:
            await client.create_exchange("orders", ["order.*"])
            await client.publish([OutgoingEvent("order.created", b"{}") for _ in range(3)])
            settings = pb.SubscriberSettings(stall_after_s=1, ack_wait_s=600)
            async with client.subscribe(
                "orders", "billing", "earliest", settings=settings
            ) as subscription:
                batch = await subscription.__anext__()
                await subscription.park(batch[0].offset, "no such account")
                ready.set()
                again = await subscription.__anext__()  # the re-driven event
                redelivered.extend((e.offset, e.delivery_count) for e in again)
                got.set()
                await asyncio.to_thread(done.wait, 30)

    holder = threading.Thread(target=lambda: asyncio.run(hold()))
    holder.start()
    try:
        assert ready.wait(30)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        sign_in(page, router)
        row = "tr[data-subscriber='orders/billing']"
        page.wait_for_selector(f"{row} .badge.stalled", timeout=10_000)
        assert "stuck at 2" in page.inner_text(row)
        assert page.inner_text(f"{row} td.unsettled") == "2"
        page.wait_for_selector(f"{row} td.parked-count:has-text('1')")
        shoot(page, "stalled.png")
        page.click(f"{row} button[data-redrive]")
        page.wait_for_selector("#subscriber-message:has-text('re-driving 1 parked event')")
        assert got.wait(30)
        assert redelivered == [(1, 1)]
    finally:
        done.set()
        holder.join(timeout=30)


def test_registered_event_types_show_with_their_counts(
    browser: Any, router: RouterProcess, tmp_path: object
) -> None:
    schema = f"{tmp_path}/order.json"
    with open(schema, "w") as out:
        json.dump({"type": "object", "required": ["id"]}, out)
    made = cli(
        router,
        "type",
        "register",
        "order.created",
        "--schema",
        schema,
        "--mode",
        "warn",
        "--owner",
        "shop",
        "--description",
        "An order was placed",
    )
    assert made.returncode == 0, made.stderr
    assert "type order.created version 1 (warn)" in made.stdout

    published = cli(router, "publish", "order.created", "--data", '{"total": 3}')
    assert published.returncode == 0, published.stderr
    page = browser.new_page(viewport={"width": 1280, "height": 860}, bypass_csp=True)
    sign_in(page, router)
    page.wait_for_selector("tr[data-type='order.created'] .badge.warn")
    page.wait_for_function(
        "document.querySelector(\"tr[data-type='order.created'] .warned\").textContent === '1'"
    )
    assert "An order was placed" in page.inner_text("tr[data-type='order.created']")
    assert cli(router, "exchange", "create", "orders", "--pattern", "order.*").returncode == 0

    # The AsyncAPI rendering, under the Content-Security-Policy, reached from the page's link.
    strict = browser.new_page(viewport={"width": 1280, "height": 860})
    refused = csp_refusals(strict)
    sign_in(strict, router)
    strict.wait_for_selector("#status:has-text('live')")
    strict.click("#asyncapi-link")
    strict.wait_for_selector("#status:has-text('loaded')")
    assert "order.created" in strict.inner_text("article[data-channel='orders']")
    schema = strict.inner_text("article[data-message='order.created'] pre")
    assert '"required"' in schema and '"id"' in schema
    assert "version 1 · warn · owner shop" in strict.inner_text(
        "article[data-message='order.created']"
    )
    assert strict.inner_text("tr[data-server='grpc']").count(router.address) == 1
    shoot(strict, "asyncapi.png")
    assert refused == []
