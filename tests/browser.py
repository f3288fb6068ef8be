"""Browser-test fixtures shared by every page test: Playwright (sync API) on Debian's
Chromium, against `mediation serve` started as a real process.

- `browser`: one Chromium for the whole run. Missing Chromium is a failure, never a skip.
- `demo_server`: per test module, a server on a fresh SQLite database with the demo data
  (`mediation demo --no-serve`: a user per role, password DEMO_PASSWORD, providers linked to
  the demo mediator, lawyer, counsellor and union users, eight cases).
- `new_context(browser, server)`: a fresh profile that records every request and console
  error; `check_context` asserts every request went to the app itself.
- `shot(page, name)`: a screenshot under test-artifacts/screenshots/ (named in the output).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from mediation.demo import DEMO_PASSWORD
from tests.test_realtime_live import LiveServer
from tests.test_serve_process import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SHOTS = ROOT / "test-artifacts" / "screenshots"
LIVE_WAIT_MS = 15_000  # how long a page may take to show something pushed to it


class DemoServer:
    """A served app with the demo data; `token(user)` gets an API token for a demo user."""

    def __init__(self, live: LiveServer):
        self.live, self.base = live, live.base
        self._tokens: dict[str, str] = {}

    def token(self, username: str, password: str = DEMO_PASSWORD) -> str:
        if username not in self._tokens:
            r = requests.post(self.base + "/api/auth/tokens",
                              json={"username": username, "password": password}, timeout=20)
            assert r.status_code == 201, r.text
            self._tokens[username] = r.json()["token"]
        return self._tokens[username]

    def api(self, method: str, path: str, username: str, json: dict | None = None) -> requests.Response:
        return requests.request(method, self.base + path, json=json, timeout=30,
                                headers={"Authorization": f"Bearer {self.token(username)}"})


@pytest.fixture(scope="session")
def browser(request) -> Iterator[Browser]:
    if not (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)) and not shutil.which(CHROMIUM):
        pytest.fail(f"Chromium is required for the browser tests and is not installed at {CHROMIUM} "
                    "(Debian: apt-get install chromium)", pytrace=False)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
    # Named in the output whatever pytest captures, so that CI logs say where to look.
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\nbrowser screenshots: {SHOTS}")


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory) -> Iterator[DemoServer]:
    tmp = tmp_path_factory.mktemp("browser-demo")
    live = LiveServer(tmp, f"sqlite:///{tmp / 'serve.db'}")
    loaded = live.cli("demo", "--no-serve")
    assert loaded.returncode == 0, loaded.stderr
    live.start()
    try:
        yield DemoServer(live)
    finally:
        live.stop()


DESKTOP = {"width": 1280, "height": 800}
TABLET = {"width": 768, "height": 1024}  # an iPad held upright


def new_context(browser: Browser, base: str, locale: str = "zh-CN",
                viewport: dict | None = None) -> BrowserContext:
    """A fresh browser profile recording every request and console error."""
    ctx = browser.new_context(viewport=viewport or DESKTOP, locale=locale)
    ctx.base = base
    ctx.requested, ctx.errors = [], []
    ctx.on("request", lambda r: ctx.requested.append(r.url))
    ctx.on("console", lambda m: ctx.errors.append(m.text) if m.type == "error" else None)
    return ctx


def check_context(ctx: BrowserContext) -> None:
    """Every request went to the app itself, and the policy refused nothing."""
    outside = [u for u in ctx.requested if not u.startswith(ctx.base + "/")]
    assert ctx.requested and not outside, f"requests outside the app: {outside}"
    assert not [e for e in ctx.errors if "Content Security Policy" in e], ctx.errors


@pytest.fixture
def contexts(browser: Browser, demo_server: DemoServer) -> Iterator:
    """`contexts()` opens a fresh profile; all are checked and closed after the test."""
    made: list[BrowserContext] = []

    def make(locale: str = "zh-CN", viewport: dict | None = None) -> BrowserContext:
        made.append(new_context(browser, demo_server.base, locale, viewport))
        return made[-1]

    yield make
    for ctx in made:
        ctx.close()
    for ctx in made:
        check_context(ctx)


def shot(page: Page, name: str, full_page: bool = True) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def nav_link(page: Page, words: str):
    """The top bar's link of these words; when it is under "更多" (web.nav_groups), the menu
    is opened first, as a user would."""
    menu = page.get_by_role("navigation", name="主菜单")
    link = menu.get_by_role("link", name=words, exact=True)
    if not link.count() and menu.locator("details.more").count():
        menu.locator("details.more > summary").click()
    return link


def sign_in(page: Page, base: str, username: str, password: str = DEMO_PASSWORD) -> None:
    page.goto(base + "/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("form button[type=submit]")
    page.wait_for_url(base + "/")


def wait_live(page: Page) -> None:
    """Until the page's live connection is up (pages.js sets body[data-live])."""
    page.wait_for_selector("body[data-live=connected]", timeout=LIVE_WAIT_MS)
