"""Oversight through the API: responsible people per region, the task force whose members
see the case (and lose it when removed), supervision orders answered by their addressee and
escalated one level by the periodic sweep when late (Beijing days), warning talks and
accountability counted in the quarterly evaluation, and case officers reading the figures
of their own jurisdiction only."""

from __future__ import annotations

import datetime as dt

from mediation import clock
from mediation.departments.models import Handover
from mediation.extensions import db
from mediation.oversight import commands
from mediation.registry import registry
from mediation.users import User
from tests.factories import events

SWEEP = "oversight-order-escalation"


def _sweep(app) -> int:
    """The periodic job, as the embedded loop and the beat task run it."""
    with app.app_context():
        return registry(app).periodic_jobs.get(SWEEP)()


def _beijing(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=clock.zone()).astimezone(dt.UTC)


def _people(api):
    return {
        "officer": api.user("case_officer", "510104"),
        "supervisor": api.user("supervisor", "51"),
        "county": api.user("lead_official", "510104", "赵区长"),
        "city": api.user("lead_official", "510100", "刘副市长"),
        "other": api.user("lead_official", "520102", "外省领导"),
    }


def test_overdue_order_is_escalated_one_level_by_the_sweep(api, app):
    p = _people(api)
    case = api.case(p["officer"], region_code="510104")
    sup = p["supervisor"]
    # No one named yet: the order has nobody to go to (422 beside the region).
    orders = f"/api/cases/{case['id']}/orders"
    r = api.post(orders, sup, {"requirement": "限期化解",
                               "due_on": (clock.today() + dt.timedelta(days=3)).isoformat()})
    assert r.status_code == 422 and "region_code" in r.get_json()["errors"]
    named = "/api/regions/{}/responsibles/{}"
    assert api.put(named.format("510104", "direct"), sup, {"user_id": p["county"].id}).status_code == 200
    assert api.put(named.format("5101", "first"), sup, {"user_id": p["city"].id}).status_code == 200
    listed = api.get("/api/responsibles", sup).get_json()
    assert {(n["region_code"], n["kind"], n["user"]["id"]) for n in listed} == {
        ("510104", "direct", p["county"].id), ("510100", "first", p["city"].id)}
    # A provider is no responsible person; a region outside the supervisor's is refused.
    mediator = api.user("mediator")
    assert api.put(named.format("510104", "first"), sup, {"user_id": mediator.id}).status_code == 422
    assert api.put(named.format("520102", "first"), sup, {"user_id": p["other"].id}).status_code == 403

    # The addressee does not see the case before the order, and does after it.
    assert api.get(f"/api/cases/{case['id']}", p["county"]).status_code == 404
    today = clock.today()
    due = today + dt.timedelta(days=3)
    r = api.post(orders, sup, {"requirement": "限期化解并书面回复", "due_on": due.isoformat()})
    assert r.status_code == 201, r.get_json()
    order = r.get_json()
    assert order["addressee_id"] == p["county"].id and order["addressee_capacity"] == "direct"
    assert order["state"] == "open" and order["number"].startswith("督办〔")
    assert api.get(f"/api/cases/{case['id']}", p["county"]).status_code == 200
    # A deadline must be a day after today (the service's day).
    r = api.post(orders, sup, {"requirement": "x", "due_on": today.isoformat()})
    assert r.status_code == 422 and "due_on" in r.get_json()["errors"]

    # On the deadline's last minute (Beijing) nothing is late; a minute into the next day it is.
    with clock.frozen(_beijing(due, 23, 59)):
        assert _sweep(app) == 0
    with clock.frozen(_beijing(due + dt.timedelta(days=1), 0, 1)):
        assert _sweep(app) == 1
        assert _sweep(app) == 0  # a second run (another process) escalates nothing twice
    first = api.get(f"/api/orders/{order['id']}", sup).get_json()
    assert first["state"] == "escalated" and first["escalated_to"]
    up = api.get(f"/api/orders/{first['escalated_to']}", sup).get_json()
    # One level up: the city's named person (no 直接责任人 there: its 第一责任人), as many days.
    assert up["addressee_id"] == p["city"].id and up["addressee_capacity"] == "first"
    assert up["level"] == 1 and up["parent_id"] == order["id"] and up["state"] == "open"
    assert up["due_on"] == (due + dt.timedelta(days=1 + 3)).isoformat()
    assert [o["id"] for o in up["escalated_from"]] == [order["id"]]

    # The first addressee can no longer answer (409 with the state); the new one does, once.
    r = api.post(f"/api/orders/{order['id']}/answer", p["county"], {"answer": "已办"})
    assert r.status_code == 409 and r.get_json()["current_state"] == "escalated"
    assert api.get(f"/api/cases/{case['id']}", p["city"]).status_code == 200  # the addressee sees it
    r = api.post(f"/api/orders/{up['id']}/answer", p["city"], {"answer": "已约见信访人，补偿款本周发放"})
    assert r.status_code == 200 and r.get_json()["state"] == "answered"
    r = api.post(f"/api/orders/{up['id']}/answer", p["city"], {"answer": "再答"})
    assert r.status_code == 409 and r.get_json()["current_state"] == "answered"
    # The supervisor may read it but only the addressee answers; strangers do not see it.
    assert api.post(f"/api/orders/{up['id']}/answer", sup, {"answer": "代答"}).status_code == 403
    assert api.get(f"/api/orders/{up['id']}", p["other"]).status_code == 404
    assert api.get(f"/api/orders/{up['id']}", api.user("case_officer", "52")).status_code == 404

    # Every step is on the case's timeline, for officials.
    with app.app_context():
        kinds = [e.type for e in events(case["id"], "oversight.")]
    assert kinds == ["oversight.order_issued", "oversight.order_escalated", "oversight.order_answered"]
    timeline = api.get(f"/api/cases/{case['id']}/timeline", sup).get_json()
    assert any(e["type"] == "oversight.order_escalated" for e in timeline["events"])
    # The lists: the addressee's own, and the jurisdiction's for readers of figures.
    mine = api.get("/api/orders?mine=true", p["city"]).get_json()
    assert [o["id"] for o in mine] == [up["id"]]
    assert {o["id"] for o in api.get("/api/orders", p["officer"]).get_json()} == {order["id"], up["id"]}
    assert api.get("/api/orders", api.user("case_officer", "52")).get_json() == []


def test_an_order_with_no_one_above_stays_open_and_overdue(api, app):
    p = _people(api)
    case = api.case(p["officer"], region_code="510104")
    api.put("/api/regions/510104/responsibles/first", p["supervisor"], {"user_id": p["county"].id})
    due = clock.today() + dt.timedelta(days=1)
    order = api.post(f"/api/cases/{case['id']}/orders", p["supervisor"],
                     {"requirement": "限期化解", "due_on": due.isoformat()}).get_json()
    with clock.frozen(_beijing(due + dt.timedelta(days=2), 10)), app.app_context():
        assert _sweep(app) == 0
        # (read in the app: the API tokens made before do not live two days)
        reader = db.session.get(User, p["supervisor"].id)
        seen = commands.get_order(reader, order["id"])
        assert seen["state"] == "open" and seen["overdue"] and seen["days_overdue"] == 2
        assert [o["id"] for o in commands.orders(reader, "overdue")] == [order["id"]]


def test_a_task_force_member_sees_the_case_and_loses_it_when_removed(api, app):
    p = _people(api)
    case = api.case(p["officer"], region_code="510104")
    outsider = p["other"]  # a lead official of another province: sees nothing of 510104
    assert api.get(f"/api/cases/{case['id']}", outsider).status_code == 404
    assert not any(c["id"] == case["id"] for c in api.get("/api/cases", outsider).get_json()["items"])
    tf = f"/api/cases/{case['id']}/task-force"
    r = api.post(tf, p["officer"], {"user_id": outsider.id, "role": "leader"})
    assert r.status_code == 201, r.get_json()
    assert api.get(f"/api/cases/{case['id']}", outsider).status_code == 200
    assert any(c["id"] == case["id"] for c in api.get("/api/cases", outsider).get_json()["items"])
    # Twice is a conflict with the role held; a provider or an unknown user is no member.
    r = api.post(tf, p["officer"], {"user_id": outsider.id, "role": "backbone"})
    assert r.status_code == 409 and r.get_json()["current_state"] == "leader"
    assert api.post(tf, p["officer"],
                    {"user_id": api.user("mediator").id, "role": "backbone"}).status_code == 422
    assert api.post(tf, p["officer"],
                    {"user_id": 10**6, "role": "backbone"}).status_code == 422
    assert api.post(tf, p["officer"],
                    {"user_id": p["city"].id, "role": "chief"}).status_code == 422
    # A member does not manage the task force; the list shows members and roles.
    assert api.post(tf, outsider,
                    {"user_id": p["city"].id, "role": "backbone"}).status_code == 403
    members = api.get(f"/api/cases/{case['id']}/task-force", outsider).get_json()
    assert [(m["user_id"], m["role"]) for m in members] == [(outsider.id, "leader")]
    assert api.call("DELETE", f"{tf}/{outsider.id}", p["officer"]).status_code == 204
    assert api.get(f"/api/cases/{case['id']}", outsider).status_code == 404
    assert api.call("DELETE", f"{tf}/{outsider.id}", p["officer"]).status_code == 404
    with app.app_context():
        found = [(e.type, e.payload["user_id"]) for e in events(case["id"], "taskforce.")]
    assert found == [("taskforce.member_added", outsider.id), ("taskforce.member_removed", outsider.id)]
    with app.app_context():
        assert registry(app).event_types.get("taskforce.member_removed").changes_access


def _quarter_of(day: dt.date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def test_warning_talks_and_accountability_count_in_the_quarterly_evaluation(api):
    p = _people(api)
    sup = p["supervisor"]
    a = api.case(p["officer"], region_code="510104")
    b = api.case(p["officer"], region_code="510104")
    today = clock.today()
    r = api.post("/api/accountability", sup, {
        "kind": "warning_talk", "subject_kind": "person", "user_id": p["county"].id,
        "decided_on": today.isoformat(), "reason": "化解进度滞后", "case_ids": [a["id"], b["id"]]})
    assert r.status_code == 201, r.get_json()
    talk = r.get_json()
    assert talk["region_code"] == "510104" and [c["id"] for c in talk["cases"]] == sorted([a["id"], b["id"]])
    r = api.post("/api/accountability", sup, {
        "kind": "accountability", "subject_kind": "department", "department": "区住建局",
        "region_code": "510104", "decided_on": today.isoformat(), "reason": "推诿扯皮",
        "measures": "通报批评", "case_ids": [a["id"]]})
    assert r.status_code == 201, r.get_json()
    # Outside the jurisdiction, a case not theirs, a missing subject: field errors.
    bad = api.post("/api/accountability", sup, {"kind": "accountability", "subject_kind": "region",
                                                 "region_code": "52", "decided_on": today.isoformat(),
                                                 "reason": "x"})
    assert bad.status_code == 422 and "region_code" in bad.get_json()["errors"]
    bad = api.post("/api/accountability", sup, {"kind": "warning_talk", "subject_kind": "department",
                                                 "region_code": "510104", "decided_on": today.isoformat(),
                                                 "reason": "x"})
    assert bad.status_code == 422 and "department" in bad.get_json()["errors"]
    assert api.post("/api/accountability", p["officer"], {
        "kind": "warning_talk", "subject_kind": "region", "region_code": "510104",
        "decided_on": today.isoformat(), "reason": "x"}).status_code == 403

    report = api.get(f"/api/reports/quarterly?quarter={_quarter_of(today)}&level=county", sup).get_json()
    row = next(r for r in report["scores"]["regions"] if r["key"] == "510104")
    assert (row["warning_talks"], row["accountabilities"]) == (1, 1)
    assert row["score"] == 100 - 1 - 3
    dept = next(r for r in report["scores"]["departments"] if r["key"] == "区住建局")
    assert (dept["warning_talks"], dept["accountabilities"], dept["score"]) == (0, 1, 97)
    assert report["scoring"]["per_warning_talk"] == 1 and report["scoring"]["per_accountability"] == 3
    assert [(x["kind"], x["subject_name"] or x["department"]) for x in report["accountability"]] == [
        ("warning_talk", "赵区长"), ("accountability", "区住建局")]
    # Another quarter holds none of them.
    earlier = today - dt.timedelta(days=120)
    other = api.get(f"/api/reports/quarterly?quarter={_quarter_of(earlier)}", sup).get_json()
    assert other["accountability"] == []
    listed = api.get("/api/accountability", p["officer"]).get_json()
    assert len(listed) == 2
    # On the timeline of each case concerned.
    kinds = [e["type"] for e in api.get(f"/api/cases/{a['id']}/timeline", sup).get_json()["events"]]
    assert kinds.count("oversight.accountability_recorded") == 2


def test_case_officers_read_the_figures_of_their_own_jurisdiction(api):
    officer = api.user("case_officer", "510104")
    city_officer = api.user("case_officer", "5101")
    api.case(officer, region_code="510104")
    for path in ("/api/reports/kpis", "/api/reports/weekly", "/api/reports/monthly",
                 "/api/reports/quarterly", "/api/accountability", "/api/responsibles"):
        r = api.get(path, officer)
        assert r.status_code == 200, (path, r.get_json())
        assert api.get(path + "?region=510104", officer).status_code == 200
        # A region outside: refused; the city officer reads the county too.
        assert api.get(path + "?region=5101", officer).status_code == 403, path
        assert api.get(path + "?region=52", officer).status_code == 403, path
        assert api.get(path + "?region=510104", city_officer).status_code == 200, path
    kpis = api.get("/api/reports/kpis", officer).get_json()
    assert kpis["region"] == "510104"  # their own jurisdiction, without asking
    # Reading is not acting: inspections, deductions and rectifications stay with supervision.
    case_id = api.get("/api/cases", officer).get_json()["items"][0]["id"]
    assert api.post("/api/reports/inspections", officer, {
        "case_id": case_id, "inspected_on": clock.today().isoformat(), "responsibility_in_place": True,
        "truly_resolved": True, "procedure_regular": True, "file_complete": True}).status_code == 403
    assert api.post("/api/reports/deductions", officer, {
        "case_id": case_id, "kind": "idle_handling", "points": 1, "reason": "空转"}).status_code == 403
    # Other roles still read nothing.
    assert api.get("/api/reports/kpis", api.user("lead_official", "510104")).status_code == 403


def test_an_order_on_an_overdue_hand_over_goes_to_the_department_then_up(api, app):
    p = _people(api)
    sup = p["supervisor"]
    case = api.case(p["officer"], region_code="510104")
    clerk = api.user("department", "510104", "住建局办事员")
    other_clerk = api.user("department", "510104", "民政局办事员")
    dept = api.post("/api/departments", sup, {"name": "区住建局", "kind": "housing",
                                              "region_code": "510104", "user_ids": [clerk.id]}).get_json()
    api.post("/api/departments", sup, {"name": "区民政局", "kind": "civil_affairs",
                                       "region_code": "510104", "user_ids": [other_clerk.id]})
    today = clock.today()
    with app.app_context():
        late = Handover(case_id=case["id"], department_id=dept["id"], matter="核实补偿标准",
                        due_on=today - dt.timedelta(days=1), status="acknowledged")
        early = Handover(case_id=case["id"], department_id=dept["id"], matter="出具意见",
                         due_on=today + dt.timedelta(days=3), status="sent")
        db.session.add_all([late, early])
        db.session.commit()
        late_id, early_id = late.id, early.id
    due = today + dt.timedelta(days=2)
    body = {"requirement": "请立即核实并答复", "due_on": due.isoformat()}
    # Not late yet: 409 with the hand-over's state; an officer does not issue orders.
    r = api.post(f"/api/handovers/{early_id}/orders", sup, body)
    assert r.status_code == 409 and r.get_json()["current_state"] == "sent"
    assert api.post(f"/api/handovers/{late_id}/orders", p["officer"], body).status_code == 403
    assert api.post(f"/api/handovers/{late_id}/orders", p["other"], body).status_code == 404
    r = api.post(f"/api/handovers/{late_id}/orders", sup, body)
    assert r.status_code == 201, r.get_json()
    order = r.get_json()
    assert order["department_id"] == dept["id"] and order["addressee_id"] is None
    assert order["addressee_name"] == "区住建局" and order["addressee_capacity"] == "department"
    assert order["subject"] == "handover" and order["handover_id"] == late_id
    # The department's users read it (they still see no case) and have it in their list;
    # another department's do not.
    assert api.get(f"/api/orders/{order['id']}", clerk).get_json()["sees_case"] is False
    assert api.get(f"/api/cases/{case['id']}", clerk).status_code == 404
    assert [o["id"] for o in api.get("/api/orders", clerk).get_json()] == [order["id"]]
    assert api.get(f"/api/orders/{order['id']}", other_clerk).status_code == 404
    assert api.post(f"/api/orders/{order['id']}/answer", other_clerk, {"answer": "x"}).status_code == 404
    # Late again: up to the person responsible for the department's region.
    api.put("/api/regions/510104/responsibles/first", sup, {"user_id": p["county"].id})
    with clock.frozen(_beijing(due + dt.timedelta(days=1), 9)):
        assert _sweep(app) == 1
    escalated = api.get(f"/api/orders/{order['id']}", sup).get_json()
    assert escalated["state"] == "escalated"
    up = api.get(f"/api/orders/{escalated['escalated_to']}", sup).get_json()
    assert up["addressee_id"] == p["county"].id and up["department_id"] is None and up["level"] == 1
    assert api.post(f"/api/orders/{order['id']}/answer", clerk, {"answer": "已答复"}).status_code == 409
    r = api.post(f"/api/orders/{up['id']}/answer", p["county"], {"answer": "已督促住建局办结"})
    assert r.status_code == 200


def test_overdue_orders_in_the_weekly_report_by_beijing_day_and_jurisdiction(api, app):
    """An open order is overdue from the first minute of the Beijing day after its deadline;
    an answered one is not; another province's reader sees none of it."""
    p = _people(api)
    case = api.case(p["officer"], region_code="510104")
    sup = p["supervisor"]
    api.put("/api/regions/510104/responsibles/direct", sup, {"user_id": p["county"].id})
    due = clock.today() + dt.timedelta(days=2)
    orders = f"/api/cases/{case['id']}/orders"
    late = api.post(orders, sup, {"requirement": "限期化解", "due_on": due.isoformat()}).get_json()
    done = api.post(orders, sup, {"requirement": "书面说明", "due_on": due.isoformat()}).get_json()
    assert api.post(f"/api/orders/{done['id']}/answer", p["county"], {"answer": "已说明"}).status_code == 200
    # (readers made inside each frozen moment: their API tokens are of that moment)
    with clock.frozen(_beijing(due, 23, 59)):
        sup_now = api.user("supervisor", "51")
        got = api.get("/api/reports/weekly", sup_now).get_json()["orders_overdue"]
        assert got == {"total": 0, "orders": []}
    with clock.frozen(_beijing(due + dt.timedelta(days=1), 0, 1)):
        sup_now, other_now = api.user("supervisor", "51"), api.user("supervisor", "520000")
        got = api.get("/api/reports/weekly", sup_now).get_json()["orders_overdue"]
        assert got["total"] == 1 and [o["id"] for o in got["orders"]] == [late["id"]]
        first = got["orders"][0]
        assert first["reference"] == case["reference"] and first["addressee_name"] == "赵区长"
        assert first["addressee_capacity"] == "direct" and first["due_on"] == due.isoformat()
        assert first["days_overdue"] == 1 and first["number"] == late["number"]
        assert api.get("/api/reports/weekly", other_now).get_json()["orders_overdue"]["total"] == 0
        # the county officer reads the figures of the county (case officers read their jurisdiction's figures)
        officer = api.user("case_officer", "510104")
        assert api.get("/api/reports/weekly", officer).get_json()["orders_overdue"]["total"] == 1
