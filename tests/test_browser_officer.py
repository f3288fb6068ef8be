"""The case officer's day in a real browser (Chromium) against `mediation serve` with the demo
data: take a case in through the form (errors shown beside their fields first), route it
from the case page, watch the board and the case page change as the providers answer —
without reloading — and read it all in English too."""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.browser import LIVE_WAIT_MS, TABLET, shot, sign_in, wait_live

pytestmark = pytest.mark.slow


def take_case_in(page: Page, base: str, title: str) -> int:
    page.goto(base + "/cases/new")
    page.select_option("#f-region_code", "510104")
    page.fill("#f-petitioners-0-name", "赵大爷")
    page.fill("#f-petitioners-0-id_number", "12345")  # not an identity number
    page.click("#intake-form button[type=submit]")
    # refused: each message beside its field, what was typed kept
    expect(page.locator("#title-error")).to_have_text("必填项")
    expect(page.locator("#petitioners-0-id_number-error")).to_contain_text("18位")
    assert page.get_attribute("#f-title", "aria-invalid") == "true"
    assert page.input_value("#f-petitioners-0-name") == "赵大爷"
    shot(page, "officer-01-intake-errors")
    page.fill("#f-title", title)
    page.fill("#f-petitioners-0-id_number", "510104195501011234")
    page.fill("#f-petitioners-0-phone", "13700001111")
    page.check("input[name=livelihood_fields][value=land_demolition]")
    page.check("input[name=needs][value=economic_compensation]")
    page.check("input[name=needs][value=legal_opinion]")
    page.click("#intake-form button[type=submit]")
    page.wait_for_url(f"{base}/cases/*")
    expect(page.locator("h1")).to_contain_text(title)
    return int(page.url.rsplit("/", 1)[1])


def referrals_of(server, case_id: int) -> dict[str, dict]:
    r = server.api("GET", f"/api/cases/{case_id}/referrals", "officer_jj")
    assert r.status_code == 200, r.text
    return {x["need"]: x for x in r.json()}


def test_officer_takes_in_routes_and_watches_providers_answer_live(contexts, demo_server):
    base = demo_server.base
    officer = contexts()
    case_page = officer.new_page()
    sign_in(case_page, base, "officer_jj")
    case_id = take_case_in(case_page, base, "村民征地补偿款未足额发放")
    body = case_page.inner_text("main")
    assert "510104195501011234" not in body and "赵大爷" in body  # masked
    shot(case_page, "officer-02-case-new")

    board = officer.new_page()
    board.goto(base + "/board")
    wait_live(board)
    # In a second browser, the demo mediator has the inbox open.
    inbox = contexts().new_page()
    sign_in(inbox, base, "mediator")
    inbox.goto(base + "/inbox")
    wait_live(inbox)
    inbox.evaluate("window.__untouched = true")  # gone if the page reloads
    row = board.locator(f"tr[data-case='{case_id}']")
    expect(row).to_be_visible()
    assert row.locator("[data-referral]").count() == 0

    # Route from the case page: each need goes to its best candidate.
    wait_live(case_page)
    case_page.click("#confirm-routing")
    case_page.wait_for_load_state()
    expect(case_page.locator(".flash.ok")).to_be_visible()
    offered = referrals_of(demo_server, case_id)
    assert set(offered) == {"economic_compensation", "legal_opinion"}
    # The board, untouched, shows both offers with their countdowns.
    expect(row.locator("[data-referral] [data-status=offered]")).to_have_count(2, timeout=LIVE_WAIT_MS)
    expect(row.locator("time[data-countdown]").first).to_contain_text("剩余")
    shot(board, "officer-03-board-offered")

    # The offer appears in the mediator's inbox without a reload; accepted there, the
    # officer's board — still not reloaded — shows it accepted.
    mediation = offered["economic_compensation"]
    offer = inbox.locator(f"#part-inbox_offers [data-referral='{mediation['id']}']")
    expect(offer).to_be_visible(timeout=LIVE_WAIT_MS)
    assert inbox.evaluate("window.__untouched === true")
    expect(offer).to_contain_text("村民征地补偿款未足额发放")
    shot(inbox, "officer-03b-mediator-inbox-offer")
    board.evaluate("window.__untouched = true")
    offer.locator("form.accept button").click()
    inbox.wait_for_url(base + "/inbox")
    expect(inbox.locator(f"#part-inbox_active [data-referral='{mediation['id']}']")).to_be_visible()
    expect(row.locator(f"[data-referral='{mediation['id']}'] [data-status=accepted]")).to_be_visible(
        timeout=LIVE_WAIT_MS)
    assert board.evaluate("window.__untouched === true")
    shot(board, "officer-03c-board-accepted")

    # The lawyer accepts (through the API, as another program would): the board changes.
    legal = offered["legal_opinion"]
    r = demo_server.api("POST", f"/api/referrals/{legal['id']}/accept", "lawyer")
    assert r.status_code == 200, r.text
    expect(row.locator(f"[data-referral='{legal['id']}'] [data-status=accepted]")).to_be_visible(
        timeout=LIVE_WAIT_MS)

    # The lawyer's opinion appears on the officer's open case page, unreloaded.
    case_page.goto(f"{base}/cases/{case_id}")
    wait_live(case_page)
    case_page.evaluate("window.__untouched = true")
    r = demo_server.api("POST", f"/api/cases/{case_id}/opinions", "lawyer", {
        "summary": "补偿标准应按征收时公布的标准执行，差额部分应予补发。",
        "legal_basis": [{"law": "土地管理法", "article": "第四十八条"}],
        "recommendation": "建议由区自然资源局核算差额并限期补发。"})
    assert r.status_code == 201, r.text
    opinions = case_page.locator("#part-case_opinions")
    expect(opinions).to_contain_text("第四十八条", timeout=LIVE_WAIT_MS)
    expect(case_page.locator("#part-case_timeline")).to_contain_text("发表法律意见")
    assert case_page.evaluate("window.__untouched === true")  # arrived without a reload
    shot(case_page, "officer-04-case-opinion-live")

    # A message in the case's thread from the lawyer reaches the officer's page too.
    r = demo_server.api("POST", f"/api/cases/{case_id}/messages", "lawyer",
                        {"body": "已与当事人沟通，材料齐全。", "channel": "case"})
    assert r.status_code == 201, r.text
    expect(case_page.locator("#part-case_thread")).to_contain_text("材料齐全", timeout=LIVE_WAIT_MS)


def test_board_filters_and_english(contexts, demo_server):
    base = demo_server.base
    page = contexts().new_page()
    sign_in(page, base, "officer")
    page.goto(base + "/board")
    total = page.locator("table.board-table tbody tr[data-case]").count()
    assert total >= 1
    page.select_option("#f-category", "2")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/board?*category=2*")
    filtered = page.locator("table.board-table tbody tr[data-case]").count()
    assert 0 < filtered <= total
    shot(page, "officer-05-board-filtered")
    page.get_by_role("link", name="English").click()
    page.wait_for_selector("html[lang=en]")
    assert "category=2" in page.url  # the switch comes back to the same filtered board
    expect(page.locator("h1")).to_have_text("Case board")
    shot(page, "officer-06-board-en")
    page.locator("table.board-table tbody tr[data-case] a").first.click()
    page.wait_for_url(f"{base}/cases/*")
    main = page.inner_text("main")
    assert "Case file" in main and "Referrals" in main
    shot(page, "officer-07-case-en")
    assert requests.get(base + "/healthz", timeout=10).status_code == 200


@pytest.mark.parametrize("who, paths", [
    ("officer", ["/board", "/cases/new", "/cases/1"]),
    ("mediator", ["/inbox"]),
    ("lead_county", ["/duties"]),
    ("supervisor", ["/supervision", "/supervision/bulletin"]),
])
def test_pages_fit_a_tablet(contexts, demo_server, who, paths):
    """On a tablet held upright nothing spills sideways: wide tables scroll inside their box."""
    page = contexts(viewport=TABLET).new_page()
    sign_in(page, demo_server.base, who)
    for path in paths:
        page.goto(demo_server.base + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than the tablet"
        shot(page, f"tablet-{who}-{path.strip('/').replace('/', '-') or 'home'}")
