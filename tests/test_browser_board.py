"""The board with a real backlog, in Chromium against `mediation serve` (demo data plus 2,000
cases in 锦江区): paging with counts, sorting by a column, a saved view, the header search,
the keyboard shortcuts with their `?` help, ticks kept across a live update, and the ticked
rows exported to xlsx (the file downloaded and read) — at desktop size in Chinese; and
paging, sorting, help and search at tablet and desktop sizes in both languages.

Screenshots kept: test-artifacts/screenshots/board-2000-cases.png (desktop, Chinese, whole
page) and board-2000-cases-<width>-<language>.png.
"""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from mediation.cases.models import Case
from tests.browser import DESKTOP, LIVE_WAIT_MS, TABLET, shot, sign_in, wait_live

pytestmark = pytest.mark.slow

BACKLOG = 2000


@pytest.fixture(scope="module")
def backlog(demo_server) -> int:
    """2,000 cases of 锦江区 written straight into the served database (a ledger's backlog);
    the number of cases the demo's 锦江区 officer sees in all."""
    engine = sa.create_engine(demo_server.live.env["MEDIATION_DATABASE_URL"])
    now = dt.datetime(2026, 11, 1, 4, 0, tzinfo=dt.UTC)
    day = dt.date(2026, 12, 1)
    rows = [{"reference": f"XF-2026-{i:05d}", "title": f"积案{i:04d} 物业纠纷", "summary": "小区物业费争议",
             "region_code": "510104", "status": "in_progress", "departments": ["锦江区住建局"], "flags": [],
             "livelihood_fields": [], "last_seq": 0, "category_mask": 1 << (i % 6),
             "next_deadline_on": None if i % 9 == 0 else day + dt.timedelta(days=i % 40),
             "received_on": day - dt.timedelta(days=400 + i % 300), "extension_days": 0,
             "times_handled": 1, "visits_in_person": 0, "online_complaints": 0, "petition_count": 1,
             "person_count": 1, "status_changed_at": now, "created_at": now, "updated_at": now,
             "background": "", "demand_basis": "", "focal_conflict": "", "strategy_note": ""}
            for i in range(BACKLOG)]
    with engine.begin() as conn:
        conn.execute(sa.insert(Case.__table__), rows)
        seen = conn.execute(sa.select(sa.func.count()).select_from(Case.__table__)
                            .where(Case.__table__.c.region_code.startswith("510104"))).scalar_one()
    engine.dispose()
    return seen


def row_titles(page: Page) -> list[str]:
    cells = page.locator("table[data-rows] tbody tr td:nth-child(3)").all_inner_texts()
    return [re.sub(r"\s+.*", "", t, flags=re.S) for t in cells]


def test_an_officer_works_a_backlog_of_2000_cases(contexts, demo_server, backlog, tmp_path):
    base = demo_server.base
    page = contexts().new_page()
    sign_in(page, base, "officer_jj")
    page.goto(base + "/board")
    count = page.locator("[data-count]").first
    expect(count).to_have_text(f"第 1–50 件，共 {backlog} 件")
    assert page.locator("table[data-rows] tbody tr[data-case]").count() == 50
    shot(page, "board-2000-cases")

    # the next page, and the last
    page.locator("a[rel=next]").first.click()
    expect(count).to_have_text(f"第 51–100 件，共 {backlog} 件")
    assert "page=2" in page.url
    page.locator("a[rel=last]").first.click()
    last = -(-backlog // 50)
    expect(count).to_contain_text(f"共 {backlog} 件")
    assert f"page={last}" in page.url and page.locator("a[rel=next]").count() == 0

    # sorted by title on the server, both ways; the filters stay in the URL
    page.goto(base + "/board?category=1")
    page.click("a[data-sort=title]")
    expect(page.locator("th[aria-sort=ascending] a[data-sort=title]")).to_be_visible()
    assert "category=1" in page.url and "sort=title" in page.url
    titles = row_titles(page)
    assert titles == sorted(titles)
    page.click("a[data-sort=title]")
    expect(page.locator("th[aria-sort=descending] a[data-sort=title]")).to_be_visible()
    assert row_titles(page) == sorted(row_titles(page), reverse=True)
    filtered = page.locator("[data-count]").first.inner_text()

    # saved as a view with a name, listed, opened again from the list, deleted
    page.fill("#f-view-name", "我的超期案件")
    page.click(".save-view button[type=submit]")
    expect(page.locator(".flash.ok")).to_contain_text("我的超期案件")
    page.goto(base + "/board")
    page.click(".saved-view a:has-text('我的超期案件')")
    assert "category=1" in page.url and "sort=-title" in page.url
    expect(page.locator("[data-count]").first).to_have_text(filtered)
    expect(page.locator(".saved-view a[aria-current=page]")).to_have_text("我的超期案件")
    page.click(".saved-view button[aria-label*='我的超期案件']")
    expect(page.locator(".saved-view")).to_have_count(0)

    # keyboard: j/j/k moves through the rows, x ticks, ? shows the help, g b the board
    page.goto(base + "/board")
    rows = page.locator("table[data-rows] tbody tr[data-case]")
    page.locator("h1").click()
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(rows.nth(1)).to_have_class(re.compile(r"\bcurrent\b"))
    page.keyboard.press("x")
    page.keyboard.press("k")
    expect(rows.nth(0)).to_have_class(re.compile(r"\bcurrent\b"))
    page.keyboard.press("x")
    expect(page.locator("[data-bulk-count]")).to_have_text("已选 2 件")
    ticked = [rows.nth(i).get_attribute("data-case") for i in (0, 1)]
    shown = [rows.nth(i).locator("td:nth-child(2) a").inner_text() for i in (0, 1)]
    page.keyboard.press("?")
    expect(page.locator("#shortcuts-help")).to_be_visible()
    expect(page.locator("#shortcuts-help")).to_contain_text("转到案件看板")
    page.keyboard.press("Escape")
    expect(page.locator("#shortcuts-help")).to_be_hidden()

    # a change on a shown case re-renders the rows live: the ticks stay
    wait_live(page)
    other = rows.nth(2).get_attribute("data-case")
    r = demo_server.api("PATCH", f"/api/cases/{other}", "officer_jj", {"summary": "物业费已部分退还"})
    assert r.status_code == 200, r.text
    expect(page.locator("[data-part=board_cases][data-refreshed]")).to_have_count(1, timeout=LIVE_WAIT_MS)
    expect(page.locator("[data-bulk-count]")).to_have_text("已选 2 件")
    for case_id in ticked:
        expect(page.locator(f"tr[data-case='{case_id}'] input[name=case]")).to_be_checked()

    # the ticked rows to xlsx: downloaded and read
    with page.expect_download() as download:
        page.click("#bulk button[value=export]")
    path = tmp_path / "cases.xlsx"
    download.value.save_as(path)
    sheet = load_workbook(io.BytesIO(path.read_bytes())).active
    refs = [r[0].value for r in sheet.iter_rows(min_row=2)]
    assert sorted(refs) == sorted(shown) and len(ticked) == 2
    assert sheet.cell(1, 1).value == "编号"

    # / searches from any page: by petitioner's name, then a reference opens its case
    page.goto(base + "/")
    page.locator("h1").click()
    page.keyboard.press("/")
    expect(page.locator("#site-search")).to_be_focused()
    page.keyboard.type("张建国")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/search\?q="))
    expect(page.locator("[data-count]")).to_contain_text("找到 1 件")
    page.locator("#site-search").fill("XF-2026-01234")
    page.locator("#site-search").press("Enter")
    page.wait_for_url(re.compile(r"/cases/\d+$"))
    expect(page.locator("h1")).to_contain_text("积案1234")
    page.locator("h1").click()
    page.keyboard.press("g")
    page.keyboard.press("b")
    page.wait_for_url(base + "/board")


WORDS = {
    "en": {"lang": "en", "count": "Cases {a}–{b} of {n}", "help": "Keyboard shortcuts", "found": "1 found"},
    "zh-CN": {"lang": "zh_CN", "count": "第 {a}–{b} 件，共 {n} 件", "help": "键盘快捷键",
              "found": "找到 1 件"},
}


@pytest.mark.parametrize("viewport,locale", [(TABLET, "en"), (TABLET, "zh-CN"), (DESKTOP, "en")],
                         ids=["tablet-en", "tablet-zh", "desktop-en"])
def test_the_board_at_each_size_in_each_language(contexts, demo_server, backlog, viewport, locale):
    base, words = demo_server.base, WORDS[locale]
    page = contexts(locale=locale, viewport=viewport).new_page()
    sign_in(page, base, "officer_jj")
    page.goto(base + f"/lang/{words['lang']}?next=/board")
    count = page.locator("[data-count]").first
    expect(count).to_have_text(words["count"].format(a=1, b=50, n=backlog))
    page.locator("a[rel=next]").first.click()
    expect(count).to_have_text(words["count"].format(a=51, b=100, n=backlog))
    page.click("a[data-sort=deadline]")
    expect(page.locator("th[aria-sort] a[data-sort=deadline]")).to_be_visible()
    shot(page, f"board-2000-cases-{viewport['width']}-{locale}", full_page=False)
    page.locator("h1").click()
    page.keyboard.press("?")
    expect(page.locator("#shortcuts-help")).to_contain_text(words["help"])
    page.keyboard.press("Escape")
    page.keyboard.press("/")
    page.keyboard.type("物业 积案0007")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/search\?q="))
    expect(page.locator("[data-count]")).to_contain_text(words["found"])
    expect(page.locator("table[data-rows] tbody tr[data-case]")).to_have_count(1)
