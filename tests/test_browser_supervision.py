"""The supervisors' pages in Chromium against `mediation serve` with the demo data: the
overview's tiles (the API's figures) and signals, the bulletin's SVG chart and its xlsx
download, the printable bulletin, the weekly list, an inspection recorded through the form,
the ledger page, and the evaluator's export."""

from __future__ import annotations

import re

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from tests.browser import nav_link, shot, sign_in

pytestmark = pytest.mark.slow


def signed_in(contexts, demo_server, username: str = "supervisor"):
    page = contexts().new_page()
    sign_in(page, demo_server.base, username)
    return page


def test_overview_shows_the_kpi_tiles_against_their_targets_and_the_signals(contexts, demo_server):
    page = signed_in(contexts, demo_server)
    nav_link(page, "督查统计").click()
    page.wait_for_url(re.compile(r"/supervision$"))
    tiles = page.locator("[data-kpi]")
    expect(tiles).to_have_count(4)
    api = demo_server.api("GET", "/api/reports/kpis", "supervisor").json()
    for key, figure in api["kpis"].items():
        tile = page.locator(f'[data-kpi="{key}"]')
        expect(tile.locator("[data-numerator]")).to_have_text(str(figure["numerator"]))
        expect(tile.locator("[data-denominator]")).to_have_text(str(figure["denominator"]))
        expect(tile.locator("dl.definition")).to_contain_text("分母")
    expect(page.locator('[data-kpi="resolution_rate"] [data-target]')).to_have_text("98.0%")
    expect(page.locator("#signals")).to_contain_text("包案领导履职超期")
    expect(page.locator("#signals")).to_contain_text("疑似虚假化解")
    shot(page, "supervision-overview")
    # The filters offer the divisions of the jurisdiction by name; one outside it (a link
    # or a typed address) is refused beside its field.
    expect(page.locator("#f-region option").first).to_be_attached()
    assert "44" not in page.locator("#f-region option").evaluate_all("os => os.map(o => o.value)")
    page.goto(page.url.split("?")[0] + "?region=44")
    expect(page.locator("#region-error")).to_contain_text("不在您的辖区内")


def resolve_a_demo_case(demo_server) -> str:
    """Resolve the demo's wage-arrears case (青羊区, in progress): its county then leads."""
    found = demo_server.api("GET", "/api/cases?q=拖欠农民工工资", "officer").json()["items"]
    case = found[0]
    if case["status"] != "resolved":
        r = demo_server.api("POST", f"/api/cases/{case['id']}/status", "officer",
                            {"status": "resolved", "reason": "工资已全部支付"})
        assert r.status_code == 200, r.text
    return case["region_code"]


def test_the_bulletin_draws_its_chart_and_downloads_as_xlsx_and_prints(contexts, demo_server, tmp_path):
    region = resolve_a_demo_case(demo_server)
    page = signed_in(contexts, demo_server)
    page.goto(demo_server.base + "/supervision/bulletin?level=county")
    chart = page.locator("svg#bulletin-chart")
    expect(chart).to_be_visible()
    body = demo_server.api("GET", "/api/reports/monthly?level=county", "supervisor").json()
    rated = [r for r in body["regions"] if r["rate"] is not None]
    expect(chart.locator("g.chart-bar")).to_have_count(len(rated))
    leader = chart.locator("g.chart-bar").first
    expect(leader).to_have_attribute("data-key", region)  # 100 %: first, and a full bar
    assert float(leader.locator("rect").get_attribute("width")) > 0
    expect(page.locator('table[data-table="regions"] tbody tr')).to_have_count(len(body["regions"]))
    expect(page.locator('table[data-table="departments"] tbody tr')).to_have_count(len(body["departments"]))
    shot(page, "supervision-bulletin")

    with page.expect_download() as info:
        page.click("#bulletin-xlsx")
    download = info.value
    assert re.fullmatch(r"bulletin-\d{4}-\d{2}\.xlsx", download.suggested_filename)
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    book = load_workbook(saved)
    assert {"按地区", "按部门", "说明"} <= set(book.sheetnames)
    assert [row[1] for row in list(book["按地区"].iter_rows(values_only=True))[1:]] == [
        r["key"] for r in body["regions"]]

    page.click("#bulletin-print")
    expect(page.get_by_role("heading", name="信访积案化解工作月通报")).to_be_visible()
    expect(page.locator("svg#bulletin-chart")).to_be_visible()
    page.emulate_media(media="print")
    expect(page.locator("#print-button")).to_be_hidden()  # the print stylesheet hides the tools
    shot(page, "supervision-bulletin-print")


def test_the_weekly_list(contexts, demo_server):
    page = signed_in(contexts, demo_server)
    page.goto(demo_server.base + "/supervision/weekly")
    body = demo_server.api("GET", "/api/reports/weekly", "supervisor").json()
    expect(page.locator('[data-count="stalled"]')).to_have_text(str(body["stalled"]["total"]))
    expect(page.locator('[data-count="overdue"]')).to_have_text(str(body["overdue"]["total"]))
    for case in body["overdue"]["cases"]:
        expect(page.locator("#overdue")).to_contain_text(case["reference"])
    expect(page.locator("#owners")).to_contain_text("包案领导履职超期")
    shot(page, "supervision-weekly")
    page.get_by_role("link", name="上一周").click()
    expect(page.locator("h1")).to_contain_text(body["week"][:4])


def test_an_inspection_is_recorded_through_the_evaluation_form(contexts, demo_server):
    page = signed_in(contexts, demo_server)
    page.goto(demo_server.base + "/supervision/evaluation")
    form = page.locator("#inspection-form")
    form.get_by_role("button", name="保存检查记录").click()  # nothing filled in: refused beside the fields
    expect(page.locator("#f-inspection-case_id")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-inspection-truly_resolved-error")).to_be_visible()
    shot(page, "supervision-evaluation-refused")

    case_id = page.locator("#case-options option").first.get_attribute("value")
    form = page.locator("#inspection-form")
    form.locator("#f-inspection-case_id").fill(case_id)
    for check, answer in (("responsibility_in_place", "1"), ("truly_resolved", "0"),
                          ("procedure_regular", "1"), ("file_complete", "1")):
        form.locator(f"#f-inspection-{check}").select_option(answer)
    form.locator("#f-inspection-findings").fill("实地核查发现补偿款尚未到账")
    form.get_by_role("button", name="保存检查记录").click()
    expect(page.locator(".flash.ok")).to_contain_text("检查记录已保存")
    rows = page.locator('table[data-table="inspections"] tbody tr')
    row = rows.filter(has_text="实地核查发现补偿款尚未到账")
    expect(row).to_have_count(1)
    expect(row.locator("td.fail")).to_have_count(1)
    expect(page.locator('table[data-table="scores-regions"] [data-score]').first).to_have_text("99.0")
    shot(page, "supervision-evaluation")


def test_the_ledger_page_downloads_the_template_and_an_officer_checks_then_imports(
        contexts, demo_server, tmp_path):
    from openpyxl import Workbook

    from mediation.supervision.ledger import HEADERS, KEYS

    page = signed_in(contexts, demo_server)
    page.goto(demo_server.base + "/supervision/ledger")
    expect(page.locator("#upload")).to_contain_text("台账导入由案件专员办理")
    with page.expect_download() as info:
        page.click("#ledger-template")
    saved = tmp_path / "template.xlsx"
    info.value.save_as(saved)
    header = next(load_workbook(saved).worksheets[0].iter_rows(values_only=True))
    assert list(header) == [HEADERS[k] for k in KEYS]
    shot(page, "supervision-ledger")

    def workbook(name: str, rows: list[dict]) -> str:
        wb = Workbook()
        ws = wb.active
        ws.append([HEADERS[k] for k in KEYS])
        for row in rows:
            ws.append([row.get(k) for k in KEYS])
        wb.save(tmp_path / name)
        return str(tmp_path / name)

    officer = signed_in(contexts, demo_server, "officer")
    officer.goto(demo_server.base + "/supervision/ledger")
    officer.set_input_files("#f-file", workbook("bad.xlsx", [
        {"reference": "BR-2025-001", "title": "", "region_code": "510104"}]))
    officer.get_by_role("button", name="上传并检查").click()
    errors = officer.locator('table[data-table="ledger-errors"] tbody tr')
    expect(errors).to_have_count(1)
    expect(errors.first.locator("[data-row]")).to_have_text("2")
    expect(errors.first.locator("[data-column]")).to_have_text(HEADERS["title"])
    shot(officer, "supervision-ledger-errors")

    officer.set_input_files("#f-file", workbook("good.xlsx", [
        {"reference": "BR-2025-001", "title": "浏览器导入的案件", "region_code": "510104"}]))
    officer.get_by_role("button", name="上传并检查").click()
    expect(officer.locator("#ledger-result")).to_contain_text("可导入 1 件")
    officer.click("#ledger-import")
    expect(officer.locator(".flash.ok")).to_contain_text("已导入 1 件")
    found = demo_server.api("GET", "/api/cases?q=浏览器导入的案件", "officer")
    assert found.status_code == 200 and "BR-2025-001" in found.text


def test_the_evaluator_sees_the_export_and_nothing_else(contexts, demo_server, tmp_path):
    page = signed_in(contexts, demo_server, "evaluator")
    menu = page.get_by_role("navigation", name="主菜单")
    expect(nav_link(page, "评估数据")).to_be_visible()
    expect(menu.get_by_role("link", name="督查统计")).to_have_count(0)
    menu.get_by_role("link", name="评估数据").click()
    with page.expect_download() as info:
        page.click("#export-xlsx")
    saved = tmp_path / "evaluation.xlsx"
    info.value.save_as(saved)
    rows = list(load_workbook(saved).worksheets[0].iter_rows(values_only=True))
    assert rows[0][0] == "case_pseudonym" and len(rows) > 1
    shot(page, "supervision-evaluator")
    assert page.goto(demo_server.base + "/supervision").status == 404
