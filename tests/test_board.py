"""Every case reachable, through the pages and the API, on SQLite
and (MEDIATION_TEST_DB=postgresql) PostgreSQL:

- the board pages through its cases with counts, sorts by its columns on the server (stable
  across pages), keeps its filters in the URL, and saves them as views a user names;
- GET /api/cases pages and sorts the same way, newest first by default as before;
- the header's search finds a case by reference, petitioner's name, respondent unit and
  words of the summary, among the cases the user may see only, and is no oracle for numbers;
- bulk actions: owner by name from a picker, the ticked rows as xlsx (read back), a list
  to print;
- triage: needs nobody is free to take (无人可接) apart from refused ones (已拒绝), and
  the counsellor's risk level and the mass organisations' support on the case page.
"""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from mediation.cases.models import Case, SavedView
from mediation.extensions import db
from referrals import lifecycle, products
from referrals.models import Provider, Referral
from tests.factories import make_case, make_provider, make_user, seq
from tests.page_client import PageClient

ROWS = 120


@pytest.fixture
def web(app, csrf_on) -> PageClient:
    return PageClient(app)


def many_cases(n: int, region: str = "510104") -> list[int]:
    """n case rows in one insert (a backlog as an imported ledger leaves it), with deadlines
    spread over days, some equal, some none; their ids, oldest first."""
    today = dt.date(2026, 11, 30)
    rows = [{"reference": f"B-{seq():06d}", "title": f"积案{i:04d}", "summary": "",
             "region_code": region, "status": "in_progress", "departments": [], "flags": [],
             "livelihood_fields": [], "last_seq": 0, "category_mask": 0,
             "next_deadline_on": None if i % 10 == 0 else today + dt.timedelta(days=i % 7),
             "received_on": today - dt.timedelta(days=i % 30)} for i in range(n)]
    db.session.execute(sa.insert(Case), rows)
    db.session.commit()
    return list(db.session.execute(sa.select(Case.id).where(Case.region_code == region)
                                   .order_by(Case.id)).scalars())


# --- the API ---------------------------------------------------------------------------------

def test_the_api_pages_and_sorts_and_stays_newest_first_by_default(api, app):
    officer = api.user("case_officer", "510104")
    with app.app_context():
        ids = many_cases(45)
    r = api.get("/api/cases?page_size=20", officer)
    body = r.get_json()
    assert r.status_code == 200 and body["total"] == 45 and body["pages"] == 3 and body["sort"] == "-id"
    assert [c["id"] for c in body["items"]] == sorted(ids, reverse=True)[:20]  # as before
    # every case reached exactly once over the pages, whatever the order
    for sort in ("deadline", "-deadline", "received", "title", "-status", "reference", "owner"):
        seen = []
        for page in (1, 2, 3):
            got = api.get(f"/api/cases?page_size=20&page={page}&sort={sort}", officer).get_json()
            seen += [c["id"] for c in got["items"]]
        assert sorted(seen) == sorted(ids), sort
    got = [c for p in (1, 2, 3) for c in api.get(f"/api/cases?page_size=20&page={p}&sort=deadline",
                                                   officer).get_json()["items"]]
    dated = [c["next_deadline_on"] for c in got if c["next_deadline_on"]]
    assert dated == sorted(dated) and all(c["next_deadline_on"] is None for c in got[len(dated):])
    titles = [c["title"] for c in api.get("/api/cases?page_size=50&sort=-title", officer).get_json()["items"]]
    assert titles == sorted(titles, reverse=True)
    # past the end: no items (unchanged), a sort that is no column: 422 naming the field
    assert api.get("/api/cases?page=9&page_size=20", officer).get_json()["items"] == []
    r = api.get("/api/cases?sort=password", officer)
    assert r.status_code == 422 and "sort" in str(r.get_json())


def test_the_api_search_finds_only_visible_cases_and_numbers_only_for_who_may(api):
    officer = api.user("case_officer", "510104")
    other = api.user("case_officer", "510105")
    supervisor = api.user("supervisor", "510104")
    mine = api.case(officer, title="物业费纠纷", summary="小区电梯长期停运", departments=["锦江区住建局"],
                    petitioners=[{"name": "欧阳明", "id_number": "510104198001011234",
                                  "phone": "13800138000"}])
    theirs = api.case(other, region_code="510105", title="物业费纠纷", summary="小区电梯长期停运",
                      petitioners=[{"name": "欧阳明", "phone": "13900139000"}])

    def found(user, q):
        return [c["id"] for c in api.get("/api/cases", user, query_string={"q": q}).get_json()["items"]]

    for q in ("欧阳明", "电梯 停运", "住建局", mine["reference"].lower(), mine["reference"]):
        assert found(officer, q) == [mine["id"]], q
        assert found(other, q) in ([theirs["id"]], []), q  # never the other county's case
    assert found(officer, "电梯 不存在的词") == []
    # by number: the officer (may reveal) through the blind index; the supervisor (may not)
    # only as text, so the number finds nothing for them
    assert found(officer, "13800138000") == [mine["id"]]
    assert found(supervisor, "13800138000") == []
    assert found(supervisor, "欧阳明") == [mine["id"]]


# --- the board's pages -------------------------------------------------------------------------

def test_the_board_pages_with_counts_and_sorts_on_the_server(web, ctx):
    officer = make_user("case_officer", "510104")
    many_cases(ROWS)
    web.sign_in(officer)
    html = web.text("/board")
    assert "第 1–50 件，共 120 件" in html and "第 1 / 3 页" in html
    assert len(re.findall(r'<tr class="[^"]*" data-case=', html)) == 50
    nxt = re.search(r'href="([^"]+)" rel="next"', html).group(1).replace("&amp;", "&")
    html2 = web.text(nxt)
    assert "第 51–100 件，共 120 件" in html2
    last = web.text("/board?page=3")
    assert "第 101–120 件，共 120 件" in last and 'rel="next"' not in last
    assert "第 101–120 件" in web.text("/board?page=99")  # past the end: the last page
    # sorting: header links keep the filters, the active column says its direction
    html = web.text("/board?status=in_progress&sort=-title")
    assert 'aria-sort="descending"' in html
    link = re.search(r'<a href="([^"]+)" data-sort="title"', html).group(1).replace("&amp;", "&")
    assert "status=in_progress" in link and "sort=title" in link
    titles = re.findall(r"<td>(积案\d{4})<br>", html)
    assert titles == sorted(titles, reverse=True) and titles[0] == "积案0119"
    # a filter is in the URL and narrows the count
    assert "共 0 件" in web.text("/board?status=closed")


def test_a_user_saves_names_and_deletes_their_views(web, ctx):
    officer = make_user("case_officer", "510104")
    colleague = make_user("case_officer", "510104")
    many_cases(3)
    web.sign_in(officer)
    r = web.post("/board/views", {"name": "我的超期案件", "query": "overdue=true&sort=-deadline&page=4&x=1"},
                 token_from="/board")
    assert r.status_code == 302 and r.location.endswith("/board?overdue=true&sort=-deadline")
    view = db.session.execute(sa.select(SavedView)).scalar_one()
    assert (view.user_id, view.name) == (officer.id, "我的超期案件")
    assert view.query == "overdue=true&sort=-deadline"
    html = web.text("/board?overdue=true&sort=-deadline")
    assert re.search(r'href="/board\?overdue=true&amp;sort=-deadline" aria-current="page">我的超期案件<',
                     html)
    # the same name again replaces the filters; an empty name is refused
    web.post("/board/views", {"name": "我的超期案件", "query": "status=intake"}, token_from="/board")
    db.session.expire_all()
    assert [v.query for v in db.session.execute(sa.select(SavedView)).scalars()] == ["status=intake"]
    refused = web.post("/board/views", {"name": "  ", "query": ""}, token_from="/board")
    assert "请给视图起一个名字" in web.client.get(refused.location).get_data(as_text=True)
    # someone else's view: not theirs to see or delete
    web.sign_in(colleague)
    assert f'data-view="{view.id}"' not in web.text("/board")
    assert web.post(f"/board/views/{view.id}/delete", token_from="/board").status_code == 404
    web.sign_in(officer)
    assert web.post(f"/board/views/{view.id}/delete", token_from="/board").status_code == 302
    db.session.expire_all()
    assert db.session.execute(sa.select(sa.func.count()).select_from(SavedView)).scalar_one() == 0


def test_the_search_box_is_on_every_page_and_finds_only_what_the_user_sees(web, ctx):
    officer = make_user("case_officer", "510104")
    mediator = make_user("mediator")
    case = make_case(officer, title="拆迁补偿", summary="补偿款迟迟未到位", departments=["锦江区征收办"],
                     petitioners=[{"name": "司马光", "phone": "13800138000"}])
    make_case(make_user("case_officer", "510105"), region_code="510105", title="拆迁补偿",
              petitioners=[{"name": "司马光"}])
    web.sign_in(officer)
    for page in ("/", "/board", f"/cases/{case.id}", "/search"):
        assert 'id="site-search"' in web.text(page), page
    r = web.get(f"/search?q={case.reference}")
    assert r.status_code == 302 and r.location.endswith(f"/cases/{case.id}")
    for q in ("司马光", "征收办", "迟迟 未到位"):
        html = web.text(f"/search?q={q}")
        assert "找到 1 件" in html and f'data-case="{case.id}"' in html, q
    # the mediator sees no case yet: the box is there, the search finds nothing
    web.sign_in(mediator)
    html = web.text("/search?q=司马光")
    assert "找到 0 件" in html and case.reference not in html
    assert web.get(f"/search?q={case.reference}").status_code == 200  # no redirect: not theirs
    web.sign_in(make_user("evaluator"))
    assert web.get("/search?q=x").status_code == 404


def test_bulk_owner_export_and_print(web, ctx):
    officer = make_user("case_officer", "510104")
    lead = make_user("lead_official", "510104", name="王区长")
    far = make_user("lead_official", "510105", name="李区长")
    a = make_case(officer, title="=HYPERLINK(\"x\")", received_on="2025-03-01")
    b = make_case(officer, title="第二件", petitioners=[{"name": "赵六"}])
    hidden = make_case(make_user("case_officer", "510105"), region_code="510105", title="别县")
    web.sign_in(officer)
    board = web.text("/board")
    assert "王区长" in board and "李区长" not in board  # the picker: officials of one's own area
    r = web.post("/board/bulk", {"do": "export", "case": [str(a.id), str(b.id), str(hidden.id)]},
                 token_from="/board")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(r.data)).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0][:3] == ["编号", "标题", "行政区划"]
    assert [row[0] for row in rows[1:]] == [a.reference, b.reference]  # the hidden one left out
    assert rows[1][1] == '=HYPERLINK("x")' and sheet.cell(2, 2).data_type == "s"  # text, not a formula
    html = web.post("/board/bulk", {"do": "print", "case": [str(b.id)]},
                    token_from="/board").get_data(as_text=True)
    assert "案件清单" in html and b.reference in html and a.reference not in html and "data-print" in html
    r = web.post("/board/bulk", {"do": "owner", "lead_official_id": str(lead.id),
                                 "case": [str(a.id), str(b.id)]}, token_from="/board")
    assert r.status_code == 302
    db.session.expire_all()
    assert {db.session.get(Case, i).lead_official_id for i in (a.id, b.id)} == {lead.id}
    assert "已为 2 件案件确定包案领导：王区长" in web.text("/board")
    web.post("/board/bulk", {"do": "owner", "lead_official_id": str(far.id), "case": [str(a.id)]},
             token_from="/board")
    assert "以下案件未能确定" in web.text("/board")
    db.session.expire_all()
    assert db.session.get(Case, a.id).lead_official_id == lead.id
    assert "请先勾选案件" in web.client.get(web.post("/board/bulk", {"do": "export"}, token_from="/board")
                                        .location).get_data(as_text=True)


def test_triage_tells_nobody_free_from_refused_and_officials_see_risk_and_support(web, ctx):
    officer = make_user("case_officer", "510104")
    mediator = make_user("mediator")
    counsellor = make_user("counsellor")
    unionist = make_user("mass_org")
    make_provider("mediator", members=(mediator,), capacity=1, name="锦江调解室")
    make_provider("counsellor", members=(counsellor,), name="心语工作室")
    make_provider("trade_union", members=(unionist,), name="区总工会")
    declined = make_case(officer, title="有人拒绝", needs=["economic_compensation"])
    lifecycle.confirm(officer, declined.id)
    offer = db.session.execute(sa.select(Referral).where(Referral.case_id == declined.id)).scalar_one()
    lifecycle.decline(mediator, offer.id, "outside_expertise")
    waiting = make_case(officer, title="无人可接", needs=["economic_compensation"])
    # every mediator away: nobody free to take it (no one refused it)
    db.session.execute(sa.update(Provider).where(Provider.kind == "mediator").values(available=False))
    db.session.commit()
    lifecycle.confirm(officer, waiting.id)
    cared = make_case(officer, title="疏导帮扶", needs=["counselling", "group_support"])
    lifecycle.confirm(officer, cared.id)
    members = {counsellor.id: counsellor, unionist.id: unionist}
    for r in db.session.execute(sa.select(Referral).where(
            Referral.case_id == cared.id, Referral.status == "offered")).scalars().all():
        lifecycle.accept(members[r.provider.members[0].user_id], r.id)
    products.record_counselling(counsellor, cared.id, {
        "session_on": dt.date(2026, 11, 1), "risk_level": "high", "content": "保密内容"})
    products.record_support(unionist, cared.id, {
        "kind": "financial_assistance", "given_on": dt.date(2026, 11, 2),
        "description": "发放困难补助2000元"})
    web.sign_in(officer)
    html = web.text("/board?triage=waiting")
    assert f'data-case="{waiting.id}"' in html and f'data-case="{cared.id}"' not in html
    assert 'data-need-state="waiting"' in html and "无人可接" in html
    html = web.text("/board?triage=declined")
    assert f'data-case="{declined.id}"' in html and f'data-case="{waiting.id}"' not in html
    assert 'data-triage="waiting"' in web.text("/board")  # the panel beside the board
    page = web.text(f"/cases/{cared.id}")
    assert 'data-part="case_care"' in page and 'data-risk="high"' in page and "高风险" in page
    assert "发放困难补助2000元" in page and "区总工会" in page and "保密内容" not in page
    # a provider on the case does not get the officials' section
    web.sign_in(unionist)
    assert web.get(f"/cases/{cared.id}?part=case_care").status_code == 404


def test_my_cases_pages_too(web, ctx):
    lead = make_user("lead_official", "510104")
    ids = many_cases(60)
    db.session.execute(sa.update(Case).values(lead_official_id=lead.id))
    db.session.commit()
    web.sign_in(lead)
    html = web.text("/")
    assert "第 1–50 件，共 60 件" in html and f'data-case="{ids[-1]}"' in html
    html = web.text("/?page=2")
    assert "第 51–60 件，共 60 件" in html and f'data-case="{ids[0]}"' in html


def test_the_category_filter_names_each_category_and_the_bar_groups_less_used_links(web, ctx):
    """The filter says what each category is, its number first; the bar shows
    the first three links and the rest under "更多" (tests/test_browser_header.py measures it)."""
    web.sign_in(make_user("supervisor", "510000"))
    html = web.text("/board")
    select = html.split('id="f-category"')[1].split("</select>")[0]
    options = re.findall(r'<option value="(\d)"[^>]*>([^<]*)</option>', select)
    assert [v for v, _ in options] == ["1", "2", "3", "4", "5", "6"]
    assert options[1][1] == "第2类：征地拆迁、劳动保障、教育、医疗、物业管理等民生领域复杂疑难", options
    bar = html.split('class="menu"')[1].split("</nav>")[0]
    shown, more = bar.split('<details class="more">')
    assert shown.count("<a ") == 3 and "更多" in more and more.count("<a ") >= 3
