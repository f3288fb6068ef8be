"""The providers' inbox, the legal opinion form and the lead official's duties in a real
browser (Playwright on Debian's Chromium) against `mediation serve` with the demo data.

The inbox is live: an offer made through the API by an officer appears in the demo
mediator's open inbox without a reload, a withdrawn one disappears, and accepting it in the
page lists the case under "my active cases". Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser import LIVE_WAIT_MS, nav_link, shot, sign_in, wait_live

pytestmark = pytest.mark.slow

LAND_CASE = "锦江区某村征地拆迁补偿款未足额发放"  # the demo's case owned by lead_county
WAGES_CASE = "青羊区某公司拖欠农民工工资"


def case_id(demo_server, title: str) -> int:
    r = demo_server.api("GET", "/api/cases?page_size=100", "officer")
    assert r.status_code == 200, r.text
    found = [c["id"] for c in r.json()["items"] if c["title"] == title]
    assert found, f"the demo has the case {title}"
    return found[0]


def provider_id(demo_server, kind: str) -> int:
    r = demo_server.api("GET", f"/api/providers?kind={kind}", "officer")
    assert r.status_code == 200, r.text
    items = [p for p in r.json()["items"] if p["user_ids"]]  # the one a demo user acts for
    assert len(items) == 1, items
    return items[0]["id"]


def request_referral(demo_server, case: int, need: str, provider: int) -> int:
    r = demo_server.api("POST", f"/api/cases/{case}/referrals", "officer",
                        {"need": need, "provider_id": provider})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def mark_page(page: Page) -> None:
    """A mark that survives only while the page is not reloaded."""
    page.evaluate("window.__notReloaded = true")


def still_same_page(page: Page) -> bool:
    return page.evaluate("window.__notReloaded === true")


def test_an_offer_appears_live_in_the_mediators_inbox_and_is_accepted_there(contexts, demo_server):
    base = demo_server.base
    mediator = provider_id(demo_server, "mediator")
    page = contexts().new_page()
    sign_in(page, base, "mediator")
    nav_link(page, "待办邀请").click()
    page.wait_for_url(base + "/inbox")
    wait_live(page)
    assert "暂无待答复的邀请" in page.inner_text("#part-inbox_offers")
    mark_page(page)

    land = request_referral(demo_server, case_id(demo_server, LAND_CASE), "economic_compensation",
                            mediator)
    wages = request_referral(demo_server, case_id(demo_server, WAGES_CASE), "economic_compensation",
                             mediator)
    offer = page.wait_for_selector(f'#part-inbox_offers [data-referral="{land}"]', timeout=LIVE_WAIT_MS)
    page.wait_for_selector(f'#part-inbox_offers [data-referral="{wages}"]', timeout=LIVE_WAIT_MS)
    assert still_same_page(page), "the offers arrived without a reload"
    text = offer.inner_text()
    assert LAND_CASE in text and "经济补偿、权益保障" in text
    countdown = page.locator(f"#offer-{land} time.countdown")
    page.wait_for_function("el => el.textContent.startsWith('剩余')", arg=countdown.element_handle())
    shot(page, "providers-01-inbox-offers")

    # the officer withdraws one offer: it leaves the open page, still without a reload
    r = demo_server.api("POST", f"/api/referrals/{wages}/withdraw", "officer", {"reason": "案件另行处理"})
    assert r.status_code == 200, r.text
    page.wait_for_selector(f'#part-inbox_offers [data-referral="{wages}"]', state="detached",
                           timeout=LIVE_WAIT_MS)
    assert still_same_page(page)

    # the mediator opens the reasons and accepts in the page
    page.locator(f"#offer-{land} details.why summary").click()
    assert "服务区域" in page.inner_text(f"#offer-{land} details.why")
    page.locator(f"#offer-{land} form.accept button").click()
    page.wait_for_url(base + "/inbox")
    active = page.wait_for_selector(f'#part-inbox_active [data-referral="{land}"]')
    assert LAND_CASE in active.inner_text()
    assert "已接受邀请" in page.inner_text("main")
    assert page.locator(f'#part-inbox_offers [data-referral="{land}"]').count() == 0
    status = demo_server.api("GET", f"/api/referrals/{land}", "officer").json()["status"]
    assert status == "accepted"
    shot(page, "providers-02-inbox-accepted")


def test_decline_other_without_a_note_shows_the_error_beside_the_field(contexts, demo_server):
    base = demo_server.base
    counsellor = provider_id(demo_server, "counsellor")
    rid = request_referral(demo_server, case_id(demo_server, LAND_CASE), "counselling", counsellor)
    page = contexts().new_page()
    sign_in(page, base, "counsellor")
    page.goto(base + "/inbox")
    form = page.locator(f"#offer-{rid} form.decline")
    form.get_by_label("拒绝原因").select_option("other")
    # (the page's Socket.IO client may POST too, while it polls before upgrading)
    with page.expect_response(lambda r: r.request.method == "POST" and r.url == base + "/inbox") as answer:
        form.get_by_role("button", name="拒绝").click()
    assert answer.value.status == 422
    note = page.locator(f"#decline-{rid}-note")
    assert note.get_attribute("aria-invalid") == "true"
    assert "选择“其他”时请写明原因" in page.inner_text(f"#decline-{rid}-note-error")
    assert page.locator(f"#decline-{rid}-reason").input_value() == "other"  # the choice is kept
    # the page rendered with the error is as alive as any: its countdown ticks
    page.wait_for_function(f"document.querySelector('#offer-{rid} time.countdown').textContent"
                           ".startsWith('剩余')")
    shot(page, "providers-03-decline-needs-a-note")
    note.fill("本周外出培训，无法承接")
    page.locator(f"#offer-{rid} form.decline button").click()
    page.wait_for_url(base + "/inbox")
    assert "已拒绝邀请" in page.inner_text("main")
    assert demo_server.api("GET", f"/api/referrals/{rid}", "officer").json()["status"] == "declined"


def test_a_lawyer_posts_a_legal_opinion_through_the_form(contexts, demo_server):
    base = demo_server.base
    land = case_id(demo_server, LAND_CASE)
    rid = request_referral(demo_server, land, "legal_opinion", provider_id(demo_server, "lawyer"))
    assert demo_server.api("POST", f"/api/referrals/{rid}/accept", "lawyer").status_code == 200
    page = contexts().new_page()
    sign_in(page, base, "lawyer")
    page.goto(base + "/inbox")
    page.locator(f'#active-{rid}').get_by_role("link", name="出具法律意见").click()
    page.wait_for_url(f"{base}/cases/{land}/opinion")
    page.get_by_label("案情与争议焦点摘要").fill("争议集中在地上附着物清点数量与补偿标准的适用。")
    page.fill("#f-legal_basis-0-law", "中华人民共和国土地管理法")
    page.fill("#f-legal_basis-0-article", "第四十八条")
    page.fill("#f-legal_basis-0-note", "征收土地应当给予公平、合理的补偿")
    page.get_by_label("处理建议").fill("按省定标准补足漏登12户的附着物补偿，并书面告知。")
    shot(page, "providers-04-opinion-form")
    page.get_by_role("button", name="提交法律意见").click()
    page.wait_for_url(f"{base}/cases/{land}/opinion")
    earlier = page.wait_for_selector("article.opinion")
    assert "《中华人民共和国土地管理法》第四十八条" in earlier.inner_text()
    assert "法律意见已提交" in page.inner_text("main")
    opinions = demo_server.api("GET", f"/api/cases/{land}/opinions", "officer").json()
    assert [o["legal_basis"][0]["article"] for o in opinions] == ["第四十八条"]
    shot(page, "providers-05-opinion-posted")


def test_the_lead_official_records_a_meeting_on_the_duties_page(contexts, demo_server):
    base = demo_server.base
    land = case_id(demo_server, LAND_CASE)
    page = contexts().new_page()
    sign_in(page, base, "lead_county")
    nav_link(page, "包案职责").click()
    page.wait_for_url(base + "/duties")
    meeting = page.locator(f'#case-{land} tr[data-duty="petitioner_meeting"]')
    assert meeting.get_attribute("data-state") == "overdue"  # last met 20 days ago, due every 15
    assert "已超期" in meeting.inner_text()
    shot(page, "providers-06-duties-overdue")
    meeting.get_by_label("备注（可选）").fill("约见信访人张建国，通报补偿核查进展")
    meeting.get_by_role("button", name="今日已接访约谈").click()
    page.wait_for_url(f"{base}/duties#case-{land}")
    meeting = page.locator(f'#case-{land} tr[data-duty="petitioner_meeting"]')
    assert meeting.get_attribute("data-state") == "running"
    assert "还剩 15 天" in meeting.inner_text()
    assert "已记录接访约谈" in page.inner_text("main")
    contacts = demo_server.api("GET", f"/api/cases/{land}", "officer").json()["dossier"]["contacts"]
    assert contacts[-1]["kind"] == "petitioner_meeting"
    assert contacts[-1]["note"] == "约见信访人张建国，通报补偿核查进展"
    shot(page, "providers-07-duties-recorded")
