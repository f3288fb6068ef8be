"""The session room in Chromium against the served demo: the demo mediator and the demo
lawyer open the room of a session in progress in two browser profiles; each sees the other
present, the mediator types a message and the lawyer sees it without reloading, and answers.
Screenshots of the room, the scheduling form and the agreement page (test-artifacts/)."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from tests.browser import LIVE_WAIT_MS, DemoServer, shot, sign_in, wait_live

pytestmark = pytest.mark.slow

CASE_TITLE = "锦江区某村征地拆迁补偿款未足额发放"


def ok(r, status: int = 200) -> dict:
    assert r.status_code == status, r.text
    return r.json() if r.content else {}


def accept_referral(demo: DemoServer, case_id: int, need: str, kind: str, username: str) -> None:
    """The officer offers the need to the demo provider of that kind; its user accepts."""
    providers = ok(demo.api("GET", "/api/providers?page_size=100", "officer"))
    items = providers["items"] if isinstance(providers, dict) else providers
    provider = next(p for p in items if p["kind"] == kind)
    referral = ok(demo.api("POST", f"/api/cases/{case_id}/referrals", "officer",
                           {"need": need, "provider_id": provider["id"]}), 201)
    ok(demo.api("POST", f"/api/referrals/{referral['id']}/accept", username, {}))


@pytest.fixture(scope="module")
def room(demo_server: DemoServer) -> dict:
    """A demo case with the mediator's and the lawyer's referrals accepted and a session
    scheduled (with the lawyer invited) and started."""
    demo = demo_server
    cases = ok(demo.api("GET", "/api/cases?page_size=100", "officer"))
    items = cases["items"] if isinstance(cases, dict) else cases
    case = next(c for c in items if c["title"] == CASE_TITLE)
    accept_referral(demo, case["id"], "economic_compensation", "mediator", "mediator")
    accept_referral(demo, case["id"], "legal_opinion", "lawyer", "lawyer")
    lawyer = ok(demo.api("GET", "/api/auth/me", "lawyer"))
    mediator = ok(demo.api("GET", "/api/auth/me", "mediator"))
    when = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).isoformat()
    session = ok(demo.api("POST", f"/api/cases/{case['id']}/sessions", "mediator", {
        "scheduled_at": when, "place": "锦江区人民调解委员会第一调解室", "topic": "附着物补偿款差额",
        "petitioner_ids": [p["id"] for p in case.get("petitioners", [])][:1],
        "respondents": [{"name": "李科长", "unit": "区自然资源局"}],
        "user_ids": [lawyer["id"]]}), 201)
    for p in case.get("petitioners", [])[:1]:  # people's mediation: the petitioner's consent first
        ok(demo.api("POST", f"/api/cases/{case['id']}/consents", "officer",
                    {"petitioner_id": p["id"], "method": "written"}), 201)
    ok(demo.api("POST", f"/api/sessions/{session['id']}/start", "mediator", {}))
    return {"case_id": case["id"], "session_id": session["id"], "lawyer_id": lawyer["id"],
            "mediator_id": mediator["id"]}


def test_two_participants_see_each_other_and_talk_live(contexts, demo_server, room):
    base = demo_server.base
    url = f"{base}/sessions/{room['session_id']}"
    # The case officer watches the board: sessions in progress, who is in, the latest words.
    board = contexts().new_page()
    sign_in(board, base, "officer")
    board.goto(base + "/board")
    wait_live(board)
    board.evaluate("window.__untouched = true")
    panel = board.locator(f'#part-board_sessions [data-session="{room["session_id"]}"]')
    expect(panel).to_contain_text("暂无人在线")
    pages = {}
    for who in ("mediator", "lawyer"):
        page = contexts().new_page()
        sign_in(page, base, who)
        page.goto(url)
        wait_live(page)
        pages[who] = page
    m, lw = pages["mediator"], pages["lawyer"]
    # Each sees the other present (and themselves), live.
    m.wait_for_selector(f'#present-list .person[data-user-id="{room["lawyer_id"]}"]', timeout=LIVE_WAIT_MS)
    lw.wait_for_selector(f'#present-list .person[data-user-id="{room["mediator_id"]}"]', timeout=LIVE_WAIT_MS)
    assert lw.locator('[data-session-room]').get_attribute("data-present") == "joined"
    # The mediator speaks; the lawyer sees it without reloading.
    m.fill("#f-body", "各位好，调解会现在开始，请信访人先陈述诉求。")
    m.click("#chat-form button[type=submit]")
    lw.wait_for_selector('#part-session_chat .msg:has-text("调解会现在开始")', timeout=LIVE_WAIT_MS)
    assert m.input_value("#f-body") == ""  # sent through the socket, box cleared
    # The lawyer answers; the mediator sees it.
    lw.fill("#f-body", "律师意见：依省征地补偿标准，附着物应按实补偿。")
    lw.click("#chat-form button[type=submit]")
    m.wait_for_selector('#part-session_chat .msg:has-text("附着物应按实补偿")', timeout=LIVE_WAIT_MS)
    assert lw.url == url and m.url == url  # nobody reloaded or navigated
    expect(panel.locator(".person")).to_have_count(2, timeout=LIVE_WAIT_MS)
    expect(panel).to_contain_text("附着物应按实补偿", timeout=LIVE_WAIT_MS)
    assert board.evaluate("window.__untouched === true")
    shot(board, "session-board-officer")
    shot(m, "session-room-mediator")
    shot(lw, "session-room-lawyer")
    # The lawyer leaves: the mediator's room shows them gone.
    lw.close()
    m.wait_for_selector(f'#present-list .person[data-user-id="{room["lawyer_id"]}"]', state="detached",
                        timeout=LIVE_WAIT_MS)


def test_the_schedule_form_and_the_agreement_page(contexts, demo_server, room):
    base = demo_server.base
    page = contexts().new_page()
    sign_in(page, base, "mediator")
    page.goto(f"{base}/cases/{room['case_id']}/sessions/new")
    assert page.locator("h1").inner_text() == "安排调解会"
    assert page.locator('input[name="user_ids"]').count() == 1  # the lawyer, with an accepted referral
    page.click("form.schedule-form button[type=submit]")  # empty: refused inline
    page.wait_for_selector("#scheduled_at-error")
    shot(page, "session-schedule-form")
    # A draft with gaps: finalising names them beside their fields.
    page.goto(f"{base}/cases/{room['case_id']}/agreements/new?session_id={room['session_id']}")
    page.fill("#f-parties-0-name", "张建国")
    page.fill("#f-parties-0-details", "男，1968年生，汉族，锦江区某村村民")
    page.fill("#f-parties-1-name", "锦江区自然资源局")
    page.fill("#f-facts", "2019年片区开发征收集体土地，附着物补偿款未足额发放。")
    page.click("form.agreement-form button[type=submit]")
    page.wait_for_url(f"{base}/agreements/*")
    page.click("text=定稿，进入签署")
    page.wait_for_selector("#agreement-refusal")
    assert "协议缺少法定内容" in page.inner_text("#agreement-refusal")
    assert page.locator('#f-terms[aria-invalid="true"]').count() == 1
    assert page.input_value("#f-facts").startswith("2019年")  # what was saved is still there
    shot(page, "agreement-page")
    # Completed and finalised: the text is fixed, the mediator may sign through the account.
    page.fill("#f-parties-1-details", "法定代表人：李四")
    for field, words in (("matters_in_dispute", "附着物补偿款差额"),
                         ("responsibilities", "区自然资源局负主要责任"),
                         ("terms", "补发补偿款人民币五万元"), ("performance_manner", "银行转账"),
                         ("performance_time_limit", "协议生效之日起三十日内")):
        page.fill(f"#f-{field}", words)
    page.click("form.agreement-form button[type=submit]")
    page.wait_for_selector("text=草稿已保存")
    page.click("text=定稿，进入签署")
    page.wait_for_selector("text=本人签署")
    assert page.inner_text("#agreement-status") == "待签署"
    shot(page, "agreement-final")
