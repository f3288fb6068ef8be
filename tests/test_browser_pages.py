"""The pages in a real browser: Playwright (sync API) on Debian's Chromium, against
`mediation serve` started as a real process on a free port with a fresh SQLite database.

Screenshots of every page visited go to test-artifacts/screenshots/ under the project root;
the folder is named in the test output. Chromium missing is a failure, never a skip.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.browser import check_context, new_context, shot
from tests.test_realtime_live import LiveServer
from tests.test_serve_process import http_json, mediation_script

pytestmark = pytest.mark.slow

OFFICER, PASSWORD = "browser_officer", "officer-pass-123"


class Server:
    def __init__(self, base: str, case: dict):
        self.base, self.case = base, case


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    """`mediation serve` on a fresh SQLite database, an officer from the CLI, one case."""
    tmp = tmp_path_factory.mktemp("browser-serve")
    live = LiveServer(tmp, f"sqlite:///{tmp / 'serve.db'}").start()
    try:
        made = subprocess.run(
            [mediation_script(), "users", "create", OFFICER, "--role", "case_officer", "--region",
             "510104", "--password-stdin"], input=PASSWORD + "\n", env=live.env,
            capture_output=True, text=True, timeout=120)
        assert made.returncode == 0, made.stderr
        status, body = http_json("POST", f"{live.base}/api/auth/tokens",
                                 {"username": OFFICER, "password": PASSWORD})
        assert status == 201, body
        status, case = http_json("POST", f"{live.base}/api/cases", {
            "title": "物业维修基金使用纠纷", "summary": "业主反映维修基金被挪用", "region_code": "510104",
            "received_on": "2025-06-01", "livelihood_fields": ["property_management"],
            "petitioners": [{"name": "刘女士", "id_number": "510104198512120021",
                             "phone": "13911112222", "groups": ["woman"]}]}, body["token"])
        assert status == 201, case
        yield Server(live.base, case)
    finally:
        live.stop()


@pytest.fixture
def context(browser: Browser, server: Server) -> Iterator[BrowserContext]:
    """A fresh browser profile that records every request and every console error."""
    ctx = new_context(browser, server.base)
    yield ctx
    ctx.close()
    check_context(ctx)


def sign_in(page: Page, server: Server) -> None:
    page.goto(server.base + "/login")
    page.fill("#username", OFFICER)
    page.fill("#password", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(server.base + "/")


def test_officer_signs_in_sees_the_case_and_opens_it(context, server):
    page = context.new_page()
    page.goto(server.base + "/login")
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert page.locator("label[for=username]").inner_text() == "用户名"
    shot(page, "01-login-zh")
    sign_in(page, server)
    ref = server.case["reference"]
    link = page.get_by_role("link", name=ref)
    assert link.is_visible()
    assert "我的案件" in page.inner_text("h1")
    shot(page, "02-home-zh")
    link.click()
    page.wait_for_url(f"{server.base}/cases/{server.case['id']}")
    body = page.inner_text("main")
    assert ref in body and "一案一档" in body and "案件登记" in body
    assert "case.created" not in body  # the event said in words, not its type code
    assert "510104198512120021" not in body  # masked on the page
    shot(page, "03-case-zh")
    assert not [e for e in context.errors if "Content Security Policy" in e], context.errors


def test_the_language_switch_changes_the_words(context, server):
    page = context.new_page()
    sign_in(page, server)
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert page.inner_text("h1") == "我的案件"
    page.get_by_role("link", name="English").click()
    page.wait_for_selector("html[lang=en]")
    assert page.url == server.base + "/"  # back where the switch was clicked
    assert page.inner_text("h1") == "My cases"
    assert page.get_by_role("button", name="Sign out").is_visible()
    shot(page, "04-home-en")
    page.get_by_role("link", name=server.case["reference"]).click()
    page.wait_for_url(f"{server.base}/cases/{server.case['id']}")
    assert "Case file" in page.inner_text("main")  # remembered in the session
    shot(page, "05-case-en")
    page.get_by_role("link", name="中文").click()
    page.wait_for_selector("html[lang=zh-CN]")
    assert page.url == f"{server.base}/cases/{server.case['id']}"
    assert "一案一档" in page.inner_text("main") and "Case file" not in page.inner_text("main")
    shot(page, "06-case-zh-again")


def test_a_form_posted_without_its_csrf_token_is_refused(context, server):
    page = context.new_page()
    page.goto(server.base + "/login")
    page.evaluate("document.querySelector('input[name=csrf_token]').remove()")
    page.fill("#username", OFFICER)
    page.fill("#password", PASSWORD)
    with page.expect_response(lambda r: r.request.method == "POST" and "/login" in r.url) as answer:
        page.click("form button[type=submit]")
    assert answer.value.status == 400
    shot(page, "07-login-without-csrf-refused")
    page.goto(server.base + "/")
    assert page.url.startswith(server.base + "/login")  # not signed in


def test_the_api_docs_render_under_the_policy(context, server):
    page = context.new_page()
    response = page.goto(server.base + "/api/docs/")
    assert response.status == 200
    assert "'self'" in response.headers["content-security-policy"]
    page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
    assert "/api/cases" in page.inner_text("#swagger-ui")
    shot(page, "08-api-docs", full_page=False)  # the whole spec is ~12000px tall


def test_signing_in_and_reaching_a_case_with_the_keyboard_alone(context, server):
    page = context.new_page()
    page.goto(server.base + "/login")
    assert page.evaluate("document.activeElement.id") == "username"  # focused on arrival
    first = page.evaluate("""[...document.querySelectorAll('a[href], button, input, select, textarea')]
        .find((el) => el.tabIndex >= 0 && el.type !== 'hidden').className""")
    assert first == "skip"  # the first stop in tab order skips the header
    page.focus("a.skip")
    page.keyboard.press("Enter")
    # Following a link is a task the browser runs after the key's events: wait for it (a
    # TimeoutError if it never happens), as CI's run once read the URL before it moved.
    page.wait_for_function("location.hash === '#main'", timeout=5_000)
    assert page.url.endswith("#main")
    page.focus("#username")
    page.keyboard.type(OFFICER)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    # (the browser keeps the #main fragment across the redirect)
    page.wait_for_url(lambda url: url.split("#")[0] == server.base + "/")
    # Tab through the page until the case's link has the focus, then follow it with Enter.
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == server.case["reference"]:
            break
    else:
        raise AssertionError("the case link is not reachable with Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.base}/cases/{server.case['id']}")
