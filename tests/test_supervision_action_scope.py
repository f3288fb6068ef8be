"""Who the KPIs count: cases in the special action by an explicit decision (纳入专项行动) with
the ledger's date, not the row's insert time; backlog (存量) and increment (增量) apart; an
uncategorised case only with the officer's reason; days are Beijing days. On SQLite and, with
MEDIATION_TEST_DB=postgresql, on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import sqlalchemy as sa
from openpyxl import Workbook

from mediation import clock as service_clock
from mediation.cases.models import Case
from mediation.extensions import db
from mediation.supervision import kpis
from mediation.supervision.ledger import HEADERS, KEYS, import_ledger
from mediation.supervision.scope import Scope
from tests.factories import events

UTC = dt.UTC


@pytest.fixture
def clock():
    def set_(moment: dt.datetime | None) -> None:
        if moment is None:
            service_clock.unfreeze()
        else:
            service_clock.freeze(moment)

    yield set_
    service_clock.unfreeze()


def workbook(rows: list[dict]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append([HEADERS[k] for k in KEYS])
    for row in rows:
        ws.append([row.get(k) for k in KEYS])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def figures(api, user, day: str, **extra) -> dict:
    query = "&".join(f"{k}={v}" for k, v in {"date": day, **extra}.items())
    r = api.get(f"/api/reports/kpis?{query}", user)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def resolution(body: dict) -> tuple[int, int]:
    k = body["kpis"]["resolution_rate"]
    return k["numerator"], k["denominator"]


def test_a_ledger_imported_today_counts_from_its_own_dates(api, app, clock):
    """The seen bug: a ledger imported in 2026 gave `?date=2025-12-31` no case at all, and an
    uncategorised row raised the denominator."""
    officer = api.user("case_officer", "510104")
    sup = api.user("supervisor", "51")
    clock(dt.datetime(2026, 11, 30, 2, 0, tzinfo=UTC))  # imported today
    rows = [
        # categorised (领导批示 -> category 6), backlog: listed 2025-03-20
        {"reference": "TZ-1", "title": "征地补偿", "region_code": "510104", "flags": "leader_instruction",
         "action_listed_on": "2025-03-20"},
        # categorised, increment: listed 2025-09-01
        {"reference": "TZ-2", "title": "欠薪", "region_code": "510104", "flags": "high_attention",
         "action_listed_on": "2025-09-01"},
        # no category, no reason: registered, not in the action
        {"reference": "TZ-3", "title": "咨询", "region_code": "510104", "action_listed_on": "2025-03-20"},
        # no category, with the officer's reason: in the action
        {"reference": "TZ-4", "title": "邻里纠纷", "region_code": "510104", "action_listed_on": "2025-10-10",
         "action_reason": "县领导小组研究决定纳入"},
        # no date on the row: the date given for the whole import
        {"reference": "TZ-5", "title": "物业", "region_code": "510104", "flags": "assigned_from_above"},
    ]
    with app.app_context():
        from mediation.users import User

        result = import_ledger(workbook(rows), db.session.get(User, officer.id),
                               listed_on=dt.date(2025, 3, 31))
        assert result.ok, result.errors
        assert result.unlisted == ["TZ-3"]
        ids = dict(db.session.execute(sa.select(Case.reference, Case.id)).all())
        listed = [e.payload for e in events(ids["TZ-1"], "case.action_listed")]
        assert listed == [{"listed_on": "2025-03-20", "reason": "", "source": "ledger"}]

    body = figures(api, sup, "2025-12-31")
    # TZ-1, TZ-2, TZ-4, TZ-5 (TZ-3 is not in the action): none resolved.
    assert body["cases"] == 4 and resolution(body) == (0, 4)
    assert body["backlog_until"] == "2025-03-31"
    # 存量: listed by 2025-03-31 (TZ-1, TZ-5); 增量: later (TZ-2, TZ-4).
    assert body["segments"]["stock"]["cases"] == 2
    assert body["segments"]["increment"]["cases"] == 2
    assert figures(api, sup, "2025-03-19")["cases"] == 0
    assert figures(api, sup, "2025-03-20")["cases"] == 1
    assert figures(api, sup, "2025-09-01")["segments"] == {
        "stock": {"cases": 2, "kpis": figures(api, sup, "2025-09-01")["segments"]["stock"]["kpis"]},
        "increment": {"cases": 1, "kpis": figures(api, sup, "2025-09-01")["segments"]["increment"]["kpis"]}}
    # The case shows its place in the action.
    one = api.get(f"/api/cases/{ids['TZ-3']}", officer).get_json()
    assert one["action"] == {"listed_on": None, "reason": "", "segment": None, "counted": False}
    four = api.get(f"/api/cases/{ids['TZ-4']}", officer).get_json()
    assert four["action"] == {"listed_on": "2025-10-10", "reason": "县领导小组研究决定纳入",
                              "segment": "increment", "counted": True}
    with app.app_context():  # the rollup and the base tables agree on every part
        for segment in (None, *kpis.SEGMENTS):
            for grouping in (None, *kpis.GROUPINGS):
                day = [dt.date(2025, 12, 31)]
                assert (kpis.counts_many(Scope("51"), day, grouping, segment)
                        == kpis.counts_many_live(Scope("51"), day, grouping, segment)), (segment, grouping)
        db.session.rollback()


def test_an_officer_lists_and_unlists_a_case_with_conditional_updates(api, app, clock):
    officer = api.user("case_officer", "510104")
    sup = api.user("supervisor", "51")
    clock(dt.datetime(2025, 6, 10, 4, 0, tzinfo=UTC))
    plain = api.post("/api/cases", officer, json={"title": "咨询", "region_code": "510104"})
    assert plain.status_code == 201, plain.get_json()
    case_id = plain.get_json()["id"]
    assert plain.get_json()["action"]["listed_on"] is None
    path = f"/api/cases/{case_id}/action-listing"
    # no category: the reason is required (422 naming the field); a future day is refused
    r = api.post(path, officer, json={"listed_on": "2025-06-01"})
    assert r.status_code == 422 and "action_reason" in r.get_json()["errors"]
    r = api.post(path, officer, json={"listed_on": "2025-06-11", "reason": "专班研究纳入"})
    assert r.status_code == 422 and "action_listed_on" in r.get_json()["errors"]
    assert figures(api, sup, "2025-06-10")["cases"] == 0
    r = api.post(path, officer, json={"listed_on": "2025-06-01", "reason": "专班研究纳入"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["action"] == {"listed_on": "2025-06-01", "reason": "专班研究纳入",
                                      "segment": "increment", "counted": True}
    again = api.post(path, officer, json={"listed_on": "2025-05-01", "reason": "重复"})
    assert again.status_code == 409
    assert again.get_json()["current_state"]["listed_on"] == "2025-06-01"
    assert figures(api, sup, "2025-05-31")["cases"] == 0
    assert figures(api, sup, "2025-06-01")["cases"] == 1
    # a supervisor may not decide it
    assert api.post(path, sup, json={"reason": "督查"}).status_code == 403
    # unlisted (made in error): it counts on no date; twice is a 409
    gone = api.call("DELETE", path, officer, json={"reason": "纳入有误"})
    assert gone.status_code == 200 and gone.get_json()["action"]["listed_on"] is None
    assert api.call("DELETE", path, officer, json={"reason": "纳入有误"}).status_code == 409
    assert figures(api, sup, "2025-06-10")["cases"] == 0
    with app.app_context():
        types = [e.type for e in events(case_id, "case.action_")]
        assert types == ["case.action_listed", "case.action_unlisted"]


def test_intake_lists_a_categorised_case_and_a_case_loses_its_count_without_category(api, app, clock):
    officer = api.user("case_officer", "510104")
    sup = api.user("supervisor", "51")
    clock(dt.datetime(2025, 6, 10, 4, 0, tzinfo=UTC))
    r = api.post("/api/cases", officer, json={
        "title": "领导批示件", "region_code": "510104", "flags": ["leader_instruction"],
        "action_listed_on": "2025-03-01"})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["action"] == {"listed_on": "2025-03-01", "reason": "", "segment": "stock", "counted": True}
    assert figures(api, sup, "2025-03-01")["segments"]["stock"]["cases"] == 1
    # An uncategorised intake asking to be listed without a reason: 422, nothing written.
    r = api.post("/api/cases", officer, json={"title": "x", "region_code": "510104",
                                              "action_listed_on": "2025-03-01"})
    assert r.status_code == 422 and "action_reason" in r.get_json()["errors"]
    # The flag removed: no category left and no reason given: no longer counted.
    r = api.patch(f"/api/cases/{body['id']}", officer, json={"flags": []})
    assert r.status_code == 200 and r.get_json()["action"]["counted"] is False
    assert figures(api, sup, "2025-06-10")["cases"] == 0


def test_days_are_beijing_days_at_2330_and_0030_utc(api, app, clock):
    """A case resolved at 23:30 UTC on 06-30 is resolved on Beijing's 07-01 (07:30); one
    resolved at 00:30 UTC on 06-30 is resolved on 06-30 (08:30). "Today" at 23:30 UTC is
    already the next Beijing day: the report's default date and the list date."""
    officer = api.user("case_officer", "510104")
    sup = api.user("supervisor", "51")
    clock(dt.datetime(2025, 6, 1, 4, 0, tzinfo=UTC))
    ids = []
    for title in ("早", "晚"):
        r = api.post("/api/cases", officer, json={"title": title, "region_code": "510104",
                                                  "flags": ["leader_instruction"],
                                                  "action_listed_on": "2025-06-01"})
        ids.append(r.get_json()["id"])
        assert api.post(f"/api/cases/{ids[-1]}/status", officer,
                        json={"status": "in_progress", "reason": "办理"}).status_code == 200
    early, late = ids
    clock(dt.datetime(2025, 6, 30, 0, 30, tzinfo=UTC))
    assert api.post(f"/api/cases/{early}/status", officer,
                    json={"status": "resolved", "reason": "化解"}).status_code == 200
    assert figures(api, sup, "2025-06-29")["kpis"]["resolution_rate"]["numerator"] == 0
    clock(dt.datetime(2025, 6, 30, 23, 30, tzinfo=UTC))
    assert api.post(f"/api/cases/{late}/status", officer,
                    json={"status": "resolved", "reason": "化解"}).status_code == 200
    assert resolution(figures(api, sup, "2025-06-30")) == (1, 2)
    assert resolution(figures(api, sup, "2025-07-01")) == (2, 2)
    # at 23:30 UTC the service's day is 07-01: the default date, and a list date of 07-01
    # is not "in the future"
    default = api.get("/api/reports/kpis", sup).get_json()
    assert default["as_of"] == "2025-07-01" and resolution(default) == (2, 2)
    r = api.post("/api/cases", officer, json={"title": "新", "region_code": "510104",
                                              "flags": ["leader_instruction"],
                                              "action_listed_on": "2025-07-01"})
    assert r.status_code == 201, r.get_json()
    assert figures(api, sup, "2025-07-01")["cases"] == 3
    assert figures(api, sup, "2025-06-30")["cases"] == 2


def test_the_supervision_page_says_what_is_counted_in_beijing_days(api, app, clock):
    """At 23:30 UTC the page's day is already the next Beijing day; it never says "UTC"; each
    tile shows the backlog and the increment; the scope is said in words."""
    from tests.page_client import sign_in

    officer = api.user("case_officer", "510104")
    sup = api.user("supervisor", "51")
    clock(dt.datetime(2025, 6, 30, 23, 30, tzinfo=UTC))  # 2025-07-01 07:30 in Beijing
    for title, listed in (("存量件", "2025-03-01"), ("增量件", "2025-07-01")):
        r = api.post("/api/cases", officer, json={"title": title, "region_code": "510104",
                                                  "flags": ["leader_instruction"],
                                                  "action_listed_on": listed})
        assert r.status_code == 201, r.get_json()
    client = app.test_client()
    assert sign_in(client, sup.username).status_code == 302
    html = client.get("/supervision").get_data(as_text=True)
    assert "UTC" not in html
    assert "截至 2025-07-01 日结束时" in html
    assert "存量 1 件，增量 1 件" in html
    assert 'data-segment="stock">存量 0/1' in html and 'data-segment="increment">增量 0/1' in html
    assert "统计口径" in html and "纳入日期在 2025-03-31 及以前" in html and "北京时间" in html


def test_the_case_page_lists_and_unlists_with_the_reason(app, ctx, csrf_on):
    from tests.factories import make_case, make_user
    from tests.page_client import PageClient

    web = PageClient(app)
    officer = make_user("case_officer", "510104")
    case = make_case(officer, flags=[], livelihood_fields=[], accepted_on=None)
    web.sign_in(officer)
    page = web.text(f"/cases/{case.id}")
    assert 'id="case-action-list"' in page and "未纳入专项行动" in page
    # no category: the reason is required; refused with the words, nothing written
    r = web.post(f"/cases/{case.id}/do/listing", {"listed_on": service_clock.today().isoformat(),
                                                   "reason": ""}, token_from=f"/cases/{case.id}")
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(Case, case.id).action_listed_on is None
    assert "须填写纳入理由" in web.text(f"/cases/{case.id}")
    r = web.post(f"/cases/{case.id}/do/listing", {"listed_on": "2025-03-01", "reason": "县领导小组决定纳入"},
                 token_from=f"/cases/{case.id}")
    db.session.expire_all()
    assert db.session.get(Case, case.id).action_listed_on == dt.date(2025, 3, 1)
    page = web.text(f"/cases/{case.id}")
    assert "已于 2025-03-01 纳入专项行动（存量）" in page and 'id="case-action-unlist"' in page
    web.post(f"/cases/{case.id}/do/unlisting", {"reason": "纳入有误"}, token_from=f"/cases/{case.id}")
    db.session.expire_all()
    assert db.session.get(Case, case.id).action_listed_on is None
