"""The supervisors' pages with the Flask test client: KPI tiles equal the kpis module's
figures, the 息诉罢访 rate dated by the timeline, who sees which page, the bulletin (chart,
xlsx, print), the weekly list, the evaluation forms (inline 422s, records made), the
ledger's dry run (row and column, nothing written) and import, the evaluator's export."""

from __future__ import annotations

import datetime as dt
import io
import re
from functools import partial

import pytest
import sqlalchemy as sa
from openpyxl import Workbook, load_workbook

from mediation import clock, timeline
from mediation.cases.models import Case
from mediation.extensions import db
from mediation.supervision import kpis, reports
from mediation.supervision.ledger import HEADERS, KEYS
from mediation.supervision.models import Inspection, Rectification
from mediation.supervision.scope import report_scope
from mediation.users import User
from tests.factories import at, case_row
from tests.page_client import csrf_token, sign_in

UTC = dt.UTC
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def web(app, csrf_on):
    """A client that keeps cookies and posts forms with CSRF on, as a browser would."""
    return app.test_client()


def login(client, username: str) -> None:
    """Sign in through the login form (with its CSRF token), as a browser does."""
    assert sign_in(client, username).status_code == 302


# A case row dated in the past, as the pages' tests see it.
mk = partial(case_row, title="督查页面测试", departments=["区住建局"])


def event_at(monkeypatch, case_id: int, type_: str, day: str) -> None:
    """An event on the case's timeline as if written on `day` (the chain stays valid)."""
    with clock.frozen(at(day)):
        timeline.append(db.session, case_id, type_, {"basis": "test"}, None)
        db.session.commit()


def page(web, path: str, status: int = 200) -> str:
    r = web.get(path)
    assert r.status_code == status, (path, r.status_code)
    return r.get_data(as_text=True)


def tiles(html: str) -> dict[str, tuple]:
    """data-kpi -> (numerator, denominator, value) as the page shows them."""
    out = {}
    for key, body in re.findall(r'data-kpi="([a-z_]+)"(.*?)</section>', html, flags=re.S):
        value = re.search(r'data-value="([^"]*)"', body)[1]
        out[key] = (int(re.search(r"data-numerator>(\d+)<", body)[1]),
                    int(re.search(r"data-denominator>(\d+)<", body)[1]),
                    float(value) if value else None)
    return out


# --- KPIs ----------------------------------------------------------------------------------------

@pytest.fixture
def kpi_set(app):
    with app.app_context():
        mk(status="resolved", changed="2025-05-01", assessment="reasonable", flags=["petitioning_ceased"])
        mk(status="closed", changed="2025-05-02", assessment="reasonable", departments=["民政局", "住建局"])
        mk(assessment="reasonable")
        mk("510105", status="resolved", changed="2025-06-01", assessment="partly_reasonable")
        mk("510703", status="resolved", changed="2025-07-15", assessment="reasonable")
        mk("440103", status="resolved", changed="2025-03-01")
        mk(status="resolved", changed="2025-07-06", created="2025-07-05")
        db.session.remove()


def test_kpi_tiles_show_the_kpis_modules_figures_with_their_targets(app, api, web, kpi_set):
    sup = api.user("supervisor", "51")
    login(web, sup.username)
    for query, region in (("date=2025-06-30", None), ("date=2025-07-31&region=5101", "5101"),
                          ("date=2025-06-30&region=510104", "510104")):
        html = page(web, f"/supervision?{query}")
        with app.app_context():
            user = db.session.get(User, sup.id)
            want = kpis.report(report_scope(user, region), dt.date.fromisoformat(query[5:15]))["kpis"]
            db.session.remove()
        shown = tiles(html)
        assert set(shown) == set(kpis.KPI_KEYS)
        assert shown == {k: (v["numerator"], v["denominator"], v["value"]) for k, v in want.items()}
        assert "98.0%" in html and "100.0%" in html and "95.0%" in html  # the targets
        assert "分子" in html and "分母" in html and "统计日期" in html  # each with its definition
    # On 2025-06-30 in province 51: 5 cases in the action (one is in Guangdong, one came
    # later), 3 resolved or closed by then (one was resolved only in July).
    assert tiles(page(web, "/supervision?date=2025-06-30"))["resolution_rate"] == (3, 5, 0.6)


def test_filters_refuse_a_region_outside_the_jurisdiction_beside_the_field(api, web, kpi_set):
    sup = api.user("supervisor", "5101")
    login(web, sup.username)
    html = page(web, "/supervision?date=2025-06-30&region=44", 422)
    assert 'aria-invalid="true"' in html and "该地区不在您的辖区内" in html
    assert tiles(html)["resolution_rate"][1] == 4  # its own jurisdiction (5101) instead
    assert "日期格式" in page(web, "/supervision?date=June", 422)


def test_the_ceased_rate_counts_cessations_as_of_the_date_from_the_timeline(app, api, monkeypatch):
    with app.app_context():
        a = mk(flags=["petitioning_ceased"], status="resolved")
        b = mk(status="resolved")
        mk(flags=["petitioning_ceased"], status="resolved")  # set by hand: no dated event
        d = mk(flags=["petitioning_ceased"], status="resolved")
        mk()
        event_at(monkeypatch, a, "case.petitioning_ceased", "2025-05-10")
        event_at(monkeypatch, b, "case.petitioning_ceased", "2025-05-10")
        event_at(monkeypatch, b, "case.petitioning_resumed", "2025-06-15")
        event_at(monkeypatch, d, "case.petitioning_ceased", "2025-07-05")
        assert timeline.verify()[1] == []
        db.session.remove()
    sup = api.user("supervisor", "51")

    def ceased(day: str) -> tuple:
        k = api.get(f"/api/reports/kpis?date={day}", sup).get_json()["kpis"]["ceased_petitioning_rate"]
        return k["numerator"], k["denominator"]

    assert ceased("2025-05-01") == (1, 5)  # the hand-set flag only
    assert ceased("2025-06-01") == (3, 5)  # a, b, the hand-set one
    assert ceased("2025-06-30") == (2, 5)  # b petitioned again on 06-15
    assert ceased("2025-07-10") == (3, 5)  # d ceased on 07-05


# --- who sees what -------------------------------------------------------------------------------

SUPERVISOR_PAGES = ["/supervision", "/supervision/bulletin", "/supervision/bulletin/print",
                    "/supervision/bulletin.xlsx", "/supervision/weekly", "/supervision/evaluation"]


def nav(html: str) -> str:
    return re.search(r'<nav class="menu".*?</nav>', html, flags=re.S)[0]


def test_supervisors_see_the_pages_and_others_are_told_there_are_none(api, web, app):
    sup = api.user("supervisor", "51")
    login(web, sup.username)
    for path in SUPERVISOR_PAGES + ["/supervision/ledger"]:
        assert web.get(path).status_code == 200, path
    menu = nav(page(web, "/"))
    assert "督查统计" in menu and "台账" in menu and "评估数据" not in menu
    assert web.get("/supervision/evaluation-data").status_code == 404
    assert web.get("/supervision/evaluation-data/export.xlsx").status_code == 404

    for role in ("mediator", "lead_official"):
        other = app.test_client()
        user = api.user(role, "510104" if role != "mediator" else None)
        login(other, user.username)
        for path in SUPERVISOR_PAGES + ["/supervision/evaluation-data"]:
            assert other.get(path).status_code == 404, (role, path)
        assert "督查统计" not in nav(other.get("/").get_data(as_text=True))


def test_case_officers_read_their_jurisdictions_pages_without_the_supervisors_forms(api, app):
    """The plan's 领导小组办公室 sits in the petition department: officers read the figures of
    their own jurisdiction (a region outside it is refused beside the field), and act on
    none of them."""
    officer = api.user("case_officer", "510104")
    api.case(officer, region_code="510104")
    client = app.test_client()
    login(client, officer.username)
    for path in SUPERVISOR_PAGES:
        assert client.get(path).status_code == 200, path
    assert "督查统计" in nav(page(client, "/"))
    refused = client.get("/supervision?region=52")
    assert refused.status_code == 422 and "不在您的辖区内" in refused.get_data(as_text=True)
    assert client.get("/supervision/weekly?region=510104").status_code == 200
    evaluation = page(client, "/supervision/evaluation")
    assert 'id="inspection-form"' not in evaluation and 'id="deduction-form"' not in evaluation
    for path in ("/supervision/evaluation/inspections", "/supervision/evaluation/deductions",
                 "/supervision/evaluation/rectifications"):
        token = csrf_token(page(client, "/supervision/evaluation"))
        assert client.post(path, data={"csrf_token": token}).status_code == 404, path


def test_the_evaluator_sees_only_the_anonymised_export(api, web, kpi_set):
    ev = api.user("evaluator")
    login(web, ev.username)
    menu = nav(page(web, "/"))
    assert "评估数据" in menu and "督查统计" not in menu and "台账" not in menu
    for path in SUPERVISOR_PAGES + ["/supervision/ledger", "/supervision/ledger/export.xlsx",
                                    "/supervision/ledger/template.xlsx"]:
        assert web.get(path).status_code == 404, path
    html = page(web, "/supervision/evaluation-data")
    assert "export.xlsx" in html and "case_pseudonym" in html
    r = web.get("/supervision/evaluation-data/export.xlsx")
    assert r.status_code == 200 and r.mimetype == XLSX
    rows = list(load_workbook(io.BytesIO(r.data)).worksheets[0].iter_rows(values_only=True))
    assert rows[0][0] == "case_pseudonym" and len(rows) == 1 + 7  # every case, one row each
    assert all(str(r[0]).startswith("C") for r in rows[1:])
    csv = web.get("/supervision/evaluation-data/export.csv")
    assert csv.status_code == 200 and "督查页面测试" not in csv.get_data(as_text=True)  # no free text
    assert web.get("/supervision/evaluation-data/export.pdf").status_code == 404


# --- bulletin and weekly ---------------------------------------------------------------------------

def test_the_bulletin_has_its_tables_an_svg_chart_an_xlsx_and_a_print_version(app, api, web, kpi_set):
    sup = api.user("supervisor", "51")
    login(web, sup.username)
    html = page(web, "/supervision/bulletin?month=2025-06&level=city")
    assert re.search(r'<svg class="chart"[^>]*role="img"', html)
    bars = re.findall(r'<g class="chart-bar" data-key="(\d+)" data-rate="([\d.]+)">', html)
    with app.app_context():
        want = reports.monthly(report_scope(db.session.get(User, sup.id)), "2025-06", "city")
        db.session.remove()
    assert [(k, float(r)) for k, r in bars] == [(r["key"], r["rate"]) for r in want["regions"]]
    assert " style=" not in html and "<style" not in html  # the CSP forbids them
    assert re.search(r'data-table="departments"', html) and "民政局" in html
    assert 'href="/supervision/bulletin.xlsx?month=2025-06&amp;level=city"' in html

    r = web.get("/supervision/bulletin.xlsx?month=2025-06&level=city")
    assert r.status_code == 200 and r.mimetype == XLSX
    assert "bulletin-2025-06.xlsx" in r.headers["Content-Disposition"]
    sheet = list(load_workbook(io.BytesIO(r.data))["按地区"].iter_rows(values_only=True))
    assert [row[1] for row in sheet[1:]] == [r["key"] for r in want["regions"]]

    printed = page(web, "/supervision/bulletin/print?month=2025-06&level=city")
    assert "信访积案化解工作月通报" in printed and "<svg" in printed and "supervision.css" in printed
    assert 'id="print-button"' in printed and "js/supervision.js" in printed

    bad = page(web, "/supervision/bulletin?month=2025-13", 422)
    assert "月份格式" in bad and 'aria-invalid="true"' in bad


def test_the_weekly_list_shows_stalled_cases_overdue_clocks_and_late_owners(app, api, web):
    with app.app_context():
        stalled = mk(title="停滞的案件", received_on=dt.date(2025, 3, 1), accepted_on=dt.date(2025, 3, 5),
                     next_deadline_on=dt.date(2025, 5, 4))
        db.session.remove()
    sup = api.user("supervisor", "51")
    login(web, sup.username)
    html = page(web, "/supervision/weekly")
    with app.app_context():
        ref = db.session.get(Case, stalled).reference
        db.session.remove()
    stalled_part = html.split('id="stalled"')[1].split("</section>")[0]
    overdue_part = html.split('id="overdue"')[1].split("</section>")[0]
    assert ref in stalled_part and ref in overdue_part
    assert "办理答复" in overdue_part  # the late clock named
    assert 'data-count="stalled">1<' in html
    assert "上一周" in page(web, "/supervision/weekly?week=2025-W10")
    assert "周格式" in page(web, "/supervision/weekly?week=2025-10", 422)


# --- the quarterly evaluation ----------------------------------------------------------------------

def quarter_now() -> str:
    today = clock.today()
    return f"{today.year}-Q{(today.month - 1) // 3 + 1}"


def form_token(web, path: str) -> str:
    return csrf_token(web.get(path).get_data(as_text=True))


def test_evaluation_forms_refuse_inline_and_record_through_the_commands(app, api, web):
    with app.app_context():
        case_id = mk(title="被检查的案件")
        far = mk("440103", title="外省案件")
        db.session.remove()
    sup = api.user("supervisor", "51")
    login(web, sup.username)
    token = form_token(web, "/supervision/evaluation")
    today = clock.today().isoformat()

    # Checks unanswered and no case: 422, every message beside its field; nothing written.
    r = web.post("/supervision/evaluation/inspections", data={"csrf_token": token, "inspected_on": today,
                                                              "responsibility_in_place": "1"})
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    for field in ("case_id", "truly_resolved", "procedure_regular", "file_complete"):
        assert f'aria-describedby="f-inspection-{field}-error"' in html, field
        assert f'id="f-inspection-{field}-error"' in html
    assert 'id="f-inspection-responsibility_in_place-error"' not in html
    assert 'id="f-deduction-case_id-error"' not in html  # only the refused form shows errors

    base = {"csrf_token": token, "responsibility_in_place": "1", "truly_resolved": "0",
            "procedure_regular": "1", "file_complete": "1", "findings": "化解协议未实际履行"}
    inspect = "/supervision/evaluation/inspections"
    r = web.post(inspect, data={**base, "case_id": str(far), "inspected_on": today})
    assert r.status_code == 422 and "案件不存在或不在您的辖区内" in r.get_data(as_text=True)
    future = (clock.today() + dt.timedelta(days=3)).isoformat()
    r = web.post(inspect, data={**base, "case_id": str(case_id), "inspected_on": future})
    assert r.status_code == 422 and "不能晚于今天" in r.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Inspection)).scalar_one() == 0
        db.session.remove()

    r = web.post(inspect, data={**base, "case_id": str(case_id), "inspected_on": today})
    assert r.status_code == 302 and f"quarter={quarter_now()}" in r.headers["Location"]
    html = page(web, r.headers["Location"])
    assert "检查记录已保存" in html and "化解协议未实际履行" in html

    # A deduction with a deadline orders a rectification; it is then marked done.
    r = web.post("/supervision/evaluation/deductions", data={
        "csrf_token": token, "case_id": str(case_id), "kind": "fake_resolution", "points": "abc",
        "reason": ""})
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert 'id="f-deduction-points-error"' in html and 'id="f-deduction-reason-error"' in html
    due = (clock.today() + dt.timedelta(days=30)).isoformat()
    r = web.post("/supervision/evaluation/deductions", data={
        "csrf_token": token, "case_id": str(case_id), "kind": "fake_resolution", "points": "2",
        "reason": "协议未履行即报化解", "rectify_by": due, "requirement": "督促履行协议"})
    assert r.status_code == 302
    with app.app_context():
        rect = db.session.execute(sa.select(Rectification)).scalar_one()
        rect_id = rect.id
        db.session.remove()
    html = page(web, f"/supervision/evaluation?quarter={reports_quarter(due)}")
    assert "督促履行协议" in html and 'data-state="open"' in html
    # Posted where the page's form posts: with the quarter it lists the rectification in
    # (its due date's: the next quarter from December on), the page an error is shown on.
    done = f"/supervision/evaluation/rectifications/{rect_id}/done?quarter={reports_quarter(due)}"
    r = web.post(done, data={"csrf_token": token, "done_on": future, "note": "x"})
    assert r.status_code == 422 and f'id="f-done-{rect_id}-done_on-error"' in r.get_data(as_text=True)
    r = web.post(done, data={"csrf_token": token, "done_on": today, "note": "已督促履行完毕"})
    assert r.status_code == 302
    assert 'data-state="done"' in page(web, r.headers["Location"])
    r = web.post(done, data={"csrf_token": token})
    assert r.status_code == 409 and "已按期整改" in r.get_data(as_text=True)

    # The scores come from the same report the API returns.
    with app.app_context():
        want = reports.quarterly(report_scope(db.session.get(User, sup.id)), quarter_now(), "county",
                                 clock.today())["scores"]["regions"]
        db.session.remove()
    html = page(web, "/supervision/evaluation")
    table = html.split('data-table="scores-regions"')[1].split("</table>")[0]
    assert re.findall(r"data-score>([\d.]+)<", table) == [str(r["score"]) for r in want]
    assert want[0]["score"] == 100 - 2 - 1  # two points, one failed check

    # An officer cannot post to these forms at all.
    officer = app.test_client()
    login(officer, api.user("case_officer", "510104").username)
    r = officer.post("/supervision/evaluation/inspections",
                     data={**base, "csrf_token": form_token(officer, "/"), "case_id": str(case_id)})
    assert r.status_code == 404


def reports_quarter(day: str) -> str:
    d = dt.date.fromisoformat(day)
    return f"{d.year}-Q{(d.month - 1) // 3 + 1}"


# --- the ledger ------------------------------------------------------------------------------------

def workbook(rows: list[dict]) -> io.BytesIO:
    wb = Workbook()
    ws = wb.active
    ws.append([HEADERS[k] for k in KEYS])
    for row in rows:
        ws.append([row.get(k) for k in KEYS])
    buf = io.BytesIO()
    wb.save(buf)
    buf.seek(0)
    return buf


GOOD = [{"reference": "YM-2025-001", "title": "征地补偿", "region_code": "510104",
         "received_on": "2025-03-01",
         "petitioner_name": "李四", "petitioner_phone": "13912345678"},
        {"reference": "YM-2025-002", "title": "欠薪", "region_code": "510104"}]


def count_cases(app) -> int:
    with app.app_context():
        n = db.session.execute(sa.select(sa.func.count()).select_from(Case)).scalar_one()
        db.session.remove()
        return n


def test_ledger_dry_run_lists_errors_by_row_and_column_and_writes_nothing_then_imports(app, api, web):
    officer = api.user("case_officer", "510104")
    login(web, officer.username)
    html = page(web, "/supervision/ledger")
    token = csrf_token(html)
    assert "上传并检查" in html and "ledger/template.xlsx" in html

    bad = workbook([GOOD[0], {"reference": "YM-BAD-1", "title": "", "region_code": "51A"},
                    {"reference": "YM-2025-001", "title": "重复", "region_code": "110101"}])
    r = web.post("/supervision/ledger/check", data={"csrf_token": token, "file": (bad, "bad.xlsx")},
                 content_type="multipart/form-data")
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "未导入任何数据" in html
    errors = re.findall(r"<td data-row>(\d+)</td><td data-column>([^<]*)</td>", html)
    assert ("3", HEADERS["title"]) in errors and ("3", HEADERS["region_code"]) in errors
    assert ("4", HEADERS["reference"]) in errors and ("4", HEADERS["region_code"]) in errors
    assert 'id="ledger-import"' not in html
    assert count_cases(app) == 0

    r = web.post("/supervision/ledger/check", content_type="multipart/form-data",
                 data={"csrf_token": token, "file": (io.BytesIO(b"not a workbook"), "x.xlsx")})
    assert r.status_code == 422 and "不是有效的 xlsx 文件" in r.get_data(as_text=True)

    r = web.post("/supervision/ledger/check", content_type="multipart/form-data",
                 data={"csrf_token": token, "file": (workbook(GOOD), "good.xlsx")})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "可导入 2 件" in html
    assert count_cases(app) == 0  # the dry run wrote nothing
    upload = re.search(r'name="token" value="([^"]+)"', html)[1]
    forged = web.post("/supervision/ledger/import", data={"csrf_token": token, "token": "forged"})
    assert forged.status_code == 409
    r = web.post("/supervision/ledger/import", data={"csrf_token": token, "token": upload})
    assert r.status_code == 302
    assert "已导入 2 件" in page(web, r.headers["Location"])
    with app.app_context():
        refs = set(db.session.execute(sa.select(Case.reference)).scalars())
        db.session.remove()
    assert refs == {"YM-2025-001", "YM-2025-002"}
    # The file is gone once imported: the same token imports nothing twice.
    twice = web.post("/supervision/ledger/import", data={"csrf_token": token, "token": upload})
    assert twice.status_code == 409

    r = web.get("/supervision/ledger/export.xlsx")
    rows = list(load_workbook(io.BytesIO(r.data)).worksheets[0].iter_rows(values_only=True))
    assert r.status_code == 200 and len(rows) == 3 and "13912345678" not in str(rows)
    template = web.get("/supervision/ledger/template.xlsx")
    header = next(load_workbook(io.BytesIO(template.data)).worksheets[0].iter_rows(values_only=True))
    assert list(header) == [HEADERS[k] for k in KEYS]


def test_supervisors_download_but_do_not_import_the_ledger(app, api, web):
    sup = api.user("supervisor", "51")
    login(web, sup.username)
    html = page(web, "/supervision/ledger")
    assert "台账导入由案件专员办理" in html and 'action="/supervision/ledger/check"' not in html
    r = web.post("/supervision/ledger/check", content_type="multipart/form-data",
                 data={"csrf_token": csrf_token(html), "file": (workbook(GOOD), "g.xlsx")})
    assert r.status_code == 403 and count_cases(app) == 0
    assert web.get("/supervision/ledger/export.xlsx").status_code == 200


def test_the_printed_bulletin_carries_the_latest_checkpoints_digest(app, api, web, tmp_path,
                                                                   monkeypatch):
    from mediation import checkpoints

    monkeypatch.setitem(app.config, "MEDIATION_CHECKPOINT_DIR", str(tmp_path))
    login(web, api.user("supervisor", "51").username)
    assert "尚无时间线校验点" in page(web, "/supervision/bulletin/print?month=2025-06")
    with app.app_context():
        api.case(api.user("case_officer", "510104"))
        older = checkpoints.write()
        newest = checkpoints.write()
    printed = page(web, "/supervision/bulletin/print?month=2025-06")
    assert f'<code class="checkpoint-digest">{checkpoints.digest(newest)}</code>' in printed
    assert newest.name in printed and older.name not in printed
