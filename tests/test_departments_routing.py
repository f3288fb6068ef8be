"""Strategy routes that end at a department: 社会救助 → 民政, 涉法涉诉 → the court (else the
procuratorate), 政策缺失 → the policy department. A suggested hand-over, officials only,
which the officer sends with the ask and a deadline; then a tracked reply."""

from __future__ import annotations

import datetime as dt

import pytest

from mediation import clock, timeline
from mediation.departments import routing
from mediation.extensions import db
from tests.factories import World, make_department


@pytest.fixture
def r(api, app):
    people = {"officer": api.user("case_officer", "510104"), "mz": api.user("department", "510100"),
              "court": api.user("department", "510100")}
    with app.app_context():
        ids = {"mz": make_department("civil_affairs", "510100", members=(people["mz"],),
                                     name="成都市民政局").id,
               "mz_sc": make_department("civil_affairs", "510000", name="四川省民政厅").id,
               "court": make_department("court", "510100", members=(people["court"],), name="成都中院").id,
               "proc": make_department("procuratorate", "510104", name="锦江区检察院").id,
               "wh": make_department("civil_affairs", "510107", name="武侯区民政局").id}
        db.session.remove()
    return World(people, dep=ids)


def suggested(api, r, cid):
    return [h for h in api.get(f"/api/cases/{cid}/handovers", r.officer).get_json()
            if h["status"] == "suggested"]


def test_hardship_suggests_civil_affairs_nearest_the_case_and_the_officer_sends_it(api, r):
    case = api.case(r.officer, assessment="unreasonable_hardship")
    got = suggested(api, r, case["id"])
    assert [(h["department"]["name"], h["source"]) for h in got] == [
        ("成都市民政局", "assistance_and_counselling")]
    hid = got[0]["id"]
    assert got[0]["due_on"] is None and got[0]["matter"] == "落实社会救助"
    # the department is told nothing of a suggestion
    assert api.get("/api/handovers", r.mz).get_json() == []
    assert api.get(f"/api/handovers/{hid}", r.mz).status_code == 404
    assert api.get("/api/notifications", r.mz).get_json()["items"] == []
    # sent with the ask and a deadline: now the department's, and tracked
    due = (clock.today() + dt.timedelta(days=15)).isoformat()
    res = api.post(f"/api/handovers/{hid}/send", r.officer, {"ask": "请核实并落实低保", "due_on": due})
    assert res.status_code == 200 and res.get_json()["status"] == "sent", res.get_json()
    assert [h["id"] for h in api.get("/api/handovers", r.mz).get_json()] == [hid]
    events = [e["type"] for e in api.get(f"/api/handovers/{hid}/events", r.mz).get_json()]
    assert events == ["handover.sent"]
    # sending twice is the state's 409
    res = api.post(f"/api/handovers/{hid}/send", r.officer, {"ask": "x", "due_on": due})
    assert res.status_code == 409 and res.get_json()["current_state"] == "sent"
    # the same assessment saved again suggests nothing more while it is open
    api.patch(f"/api/cases/{case['id']}", r.officer, {"assessment": "reasonable"})
    api.patch(f"/api/cases/{case['id']}", r.officer, {"assessment": "unreasonable_hardship"})
    assert suggested(api, r, case["id"]) == []


def test_law_related_goes_to_the_court_first_and_a_suggestion_may_be_cancelled(api, r):
    case = api.case(r.officer)
    assert suggested(api, r, case["id"]) == []
    res = api.patch(f"/api/cases/{case['id']}", r.officer, {"assessment": "law_related"})
    assert res.status_code == 200, res.get_json()
    got = suggested(api, r, case["id"])
    # the county has a procuratorate, the city a court: the court comes first by kind
    assert [h["department"]["name"] for h in got] == ["成都中院"]
    res = api.post(f"/api/handovers/{got[0]['id']}/withdraw", r.officer, {"reason": "已由法院立案"})
    assert res.status_code == 200 and res.get_json()["status"] == "withdrawn"
    assert api.get("/api/notifications", r.court).get_json()["items"] == []


def test_policy_gap_without_a_policy_department_suggests_nothing(api, r):
    case = api.case(r.officer, assessment="policy_gap")
    assert api.get(f"/api/cases/{case['id']}/handovers", r.officer).get_json() == []


@pytest.mark.parametrize("assessment", [*routing.ROUTES, None, "reasonable", "law_related_x",
                                        "policy", "unreasonable_hardship "])
@pytest.mark.parametrize("summary", ["", '"assessment":"law_related"', "assessment:policy_gap"])
def test_a_created_case_is_decoded_for_its_route_only_when_its_text_may_name_one(assessment, summary):
    # on_append's substring test must let through every case.created whose data names a
    # route (else its suggestion is lost), and spares the decoding of the others
    data = timeline.canonical_json({"reference": "XF-2025-000001", "fields": {
        "assessment": assessment, "summary": summary, "title": "同一诉求"}, "petitioners": []})
    ev = timeline.StoredEvent(1, 1, "case.created", 1, dt.datetime(2025, 3, 1, tzinfo=dt.UTC), data)
    named = routing._assessment(ev) in routing.ROUTES
    assert routing._may_name_a_route(ev) == named
