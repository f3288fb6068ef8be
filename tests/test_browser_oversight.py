"""A supervision order (督办单) in Chromium against `mediation serve` with the demo data: the
supervisor issues it from the case page's form, the addressee (the county's 直接责任人)
finds it under 督办单 and answers it, and the supervisor's open order page shows the
answer live; the printable order is an A4 paper in Chinese."""

from __future__ import annotations

import datetime as dt
import re

from playwright.sync_api import expect

from tests.browser import LIVE_WAIT_MS, nav_link, shot, sign_in, wait_live


def test_a_supervisor_issues_an_order_and_the_addressee_answers_it(contexts, demo_server):
    base = demo_server.base
    county = demo_server.api("GET", "/api/auth/me", "lead_county").json()
    r = demo_server.api("PUT", "/api/regions/510104/responsibles/direct", "supervisor",
                        {"user_id": county["id"]})
    assert r.status_code == 200, r.text
    cases = demo_server.api("GET", "/api/cases?page_size=100", "supervisor").json()["items"]
    case = next(c for c in cases
                if c["region_code"] == "510104" and c.get("lead_official_id") != county["id"])

    boss = contexts().new_page()
    sign_in(boss, base, "supervisor")
    boss.goto(f"{base}/cases/{case['id']}")
    form = boss.locator("#order-form")
    expect(form).to_contain_text("赵区长")  # who it will go to, before it goes
    form.locator("#order-requirement").fill("请于期限内约见信访人，落实补偿款并书面回复")
    due = dt.date.today() + dt.timedelta(days=7)
    form.locator("#order-due").fill(due.isoformat())
    form.get_by_role("button", name="下发督办单").click()
    boss.wait_for_url(re.compile(r"/oversight/orders/\d+$"))
    order_url = boss.url
    expect(boss.locator("#order-state")).to_have_text("待回复")
    wait_live(boss)
    shot(boss, "oversight-01-order-issued")

    # The printable order: Chinese, A4, the print tools hidden on paper.
    sheet = contexts().new_page()
    sign_in(sheet, base, "supervisor")
    sheet.goto(order_url + "/print")
    expect(sheet.locator("h1")).to_have_text("督办单")
    expect(sheet.locator("table.order")).to_contain_text("赵区长（四川省成都市锦江区直接责任人）")
    expect(sheet.locator("table.order")).to_contain_text(f"请于{due.year}年{due.month}月{due.day}日前办结")
    sheet.emulate_media(media="print")
    expect(sheet.locator(".no-print")).to_be_hidden()
    pdf = sheet.pdf(prefer_css_page_size=True)
    # One A4 sheet (595 x 842 points): the order fits on a page.
    pages = re.findall(rb"/Type\s*/Page[^s]", pdf)
    assert pdf.startswith(b"%PDF") and len(pages) == 1, len(pages)
    assert re.search(rb"/MediaBox\s*\[\s*0 0 59[45]\.?\d* 84[12]\.?\d*\]", pdf)
    shot(sheet, "oversight-02-order-print")

    # The addressee finds it in the top bar's 督办单 and answers.
    them = contexts().new_page()
    sign_in(them, base, "lead_county")
    nav_link(them, "督办单").click()
    them.wait_for_url(re.compile(r"/oversight/orders$"))
    them.locator(f'a[href$="{order_url.removeprefix(base)}"]').click()
    them.locator("#answer").fill("已于本周约见信访人，补偿款已拨付到位")
    them.get_by_role("button", name="回复督办单").click()
    expect(them.locator("#order-state")).to_have_text("已回复")
    expect(them.locator("#answer-form")).to_have_count(0)

    # The supervisor's page, never reloaded, shows the answer.
    expect(boss.locator("#order-state")).to_have_text("已回复", timeout=LIVE_WAIT_MS)
    expect(boss.locator("#order-answer")).to_contain_text("补偿款已拨付到位", timeout=LIVE_WAIT_MS)
    shot(boss, "oversight-03-order-answered-live")
