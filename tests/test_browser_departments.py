"""The whole hand-over loop (交办) in a real browser (Playwright on Debian's Chromium)
against `mediation serve` with the demo data: the demo officer hands a matter of a case to
成都市民政局 from the case page; the demo department user (minzheng) sees it arrive in the
open inbox without a reload, acknowledges it, replies with a PDF attached; the officer sends
the reply back with a reason, which the department's open page shows live; the department
replies again and the officer accepts. The department user never sees the case (404).
Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import Page

from mediation import clock
from mediation.demo import DEMO_PASSWORD
from tests.browser import LIVE_WAIT_MS, shot, sign_in, wait_live
from tests.factories import pdf_bytes

pytestmark = pytest.mark.slow

LAND_CASE = "锦江区某村征地拆迁补偿款未足额发放"


def case_id(demo_server, title: str) -> int:
    r = demo_server.api("GET", "/api/cases?page_size=100", "officer")
    found = [c["id"] for c in r.json()["items"] if c["title"] == title]
    assert found, f"the demo has the case {title}"
    return found[0]


def sign_in_department(page: Page, base: str) -> None:
    page.goto(base + "/login")
    page.fill("#username", "minzheng")
    page.fill("#password", DEMO_PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(base + "/handovers")  # a department's start page: its hand-overs


def test_the_whole_hand_over_loop_with_a_department_user(contexts, demo_server, tmp_path):
    base = demo_server.base
    cid = case_id(demo_server, LAND_CASE)
    dept = contexts().new_page()
    sign_in_department(dept, base)
    wait_live(dept)
    assert "暂无交办事项" in dept.inner_text("#part-handover_list")
    assert dept.get_by_role("link", name="我的案件").count() == 0
    dept.evaluate("window.__notReloaded = true")

    # the officer hands the matter over from the case page
    officer = contexts().new_page()
    sign_in(officer, base, "officer")
    officer.goto(f"{base}/cases/{cid}")
    form = officer.locator("#handover-form")
    officer.eval_on_selector("details.handover-create", "d => { d.open = true; }")
    form.get_by_label("成都市民政局", exact=False).check()
    form.locator("#f-matter").fill("困难家庭救助")
    form.locator("#f-ask").fill("请核实信访人家庭收入，依规落实临时救助")
    due = (clock.today() + dt.timedelta(days=10)).isoformat()
    form.locator("#f-due_on").fill(due)
    form.locator("button[type=submit]").click()
    officer.wait_for_selector("#part-case_handovers [data-status=sent]")
    shot(officer, "departments-01-case-handed-over")

    # it arrives in the department's open inbox, without a reload
    row = dept.wait_for_selector("#part-handover_list tr[data-status=sent]", timeout=LIVE_WAIT_MS)
    assert dept.evaluate("window.__notReloaded === true"), "the hand-over arrived live"
    assert "困难家庭救助" in row.inner_text() and due in row.inner_text()
    shot(dept, "departments-02-inbox")
    row.query_selector("a").click()
    dept.wait_for_selector("#handover-facts")
    hid = int(dept.url.rsplit("/", 1)[1])
    dept.click("#acknowledge")
    dept.wait_for_selector("#handover-facts[data-status=acknowledged]")
    # reply with a PDF attached
    pdf = tmp_path / "救助审批表.pdf"
    pdf.write_bytes(pdf_bytes())
    dept.fill("#f-result", "已为信访人办理临时救助 3000 元")
    dept.fill("#f-measures", "入户核查家庭收入")
    dept.set_input_files("#f-files", str(pdf))
    dept.click("#submit-reply")
    dept.wait_for_selector("#handover-facts[data-status=replied]")
    assert "救助审批表.pdf" in dept.inner_text("#replies-title + article, .reply")
    shot(dept, "departments-03-replied")
    dept.evaluate("window.__notReloaded = true")
    wait_live(dept)

    # the officer reads the reply with its paper and sends it back with a reason
    officer.goto(f"{base}/handovers/{hid}")
    assert "已为信访人办理临时救助" in officer.inner_text(".reply")
    link = officer.locator(".reply a[data-document]")
    assert link.inner_text() == "救助审批表.pdf"
    assert officer.request.get(base + link.get_attribute("href")).status == 200
    officer.fill("#return-form textarea[name=reason]", "请补充救助金发放凭证")
    officer.click("#return-reply")
    officer.wait_for_selector("#handover-facts[data-status=returned]")

    # the department's open page shows it, without a reload
    dept.wait_for_selector("#handover-facts[data-status=returned]", timeout=LIVE_WAIT_MS)
    assert dept.evaluate("window.__notReloaded === true")
    assert "请补充救助金发放凭证" in dept.inner_text("#handover-facts")
    dept.fill("#f-result", "已补充发放凭证")
    dept.click("#submit-reply")
    dept.wait_for_selector("#handover-facts[data-status=replied]")

    officer.reload()
    officer.click("#accept-reply")
    officer.wait_for_selector("#handover-facts[data-status=accepted]")
    shot(officer, "departments-04-accepted")
    dept.wait_for_selector("#handover-facts[data-status=accepted]", timeout=LIVE_WAIT_MS)
    steps = dept.inner_text("#handover-events")
    for words in ("交办责任单位", "责任单位签收", "责任单位办理回复", "办理回复退回重办", "办理回复已采纳"):
        assert words in steps

    # the department never sees the case itself
    r = dept.goto(f"{base}/cases/{cid}")
    assert r.status == 404
