"""交办/转送 through the API: an officer hands a matter to departments, a department user
acknowledges and replies with documents, the officer sends it back and accepts; conditional
state changes (409 with the current state); the department sees only its own hand-over."""

from __future__ import annotations

import datetime as dt

import pytest

from mediation import clock
from mediation.extensions import db
from tests.factories import World, make_department, pdf_bytes, upload


def _day(offset: int) -> str:
    return (clock.today() + dt.timedelta(days=offset)).isoformat()


@pytest.fixture
def h(api, app):
    officer = api.user("case_officer", "510104")
    people = {"officer": officer, "other_officer": api.user("case_officer", "520102"),
              "supervisor": api.user("supervisor", "510100"), "mediator": api.user("mediator"),
              "mz": api.user("department", "510100"), "mz2": api.user("department", "510100"),
              "zj": api.user("department", "510104"), "gy": api.user("department", "520102")}
    with app.app_context():
        mz = make_department("civil_affairs", "510100", members=(people["mz"], people["mz2"]),
                             name="成都市民政局")
        zj = make_department("housing", "510104", members=(people["zj"],), name="锦江区住建局")
        gy = make_department("civil_affairs", "520102", members=(people["gy"],), name="贵阳市云岩区民政局")
        ids = {"mz": mz.id, "zj": zj.id, "gy": gy.id}
        db.session.remove()
    case = api.case(officer)
    return World(people, case=case, cid=case["id"], dep=ids)


def hand(api, h, *departments, **body):
    return api.post(f"/api/cases/{h.cid}/handovers", h.officer, {
        "department_ids": [h.dep[d] for d in departments], "matter": "低保申请",
        "ask": "核实家庭收入，依规办理低保", "due_on": _day(10), **body})


def test_the_whole_loop(api, h):
    r = hand(api, h, "mz", "zj")
    assert r.status_code == 201, r.get_json()
    mz, zj = r.get_json()
    assert mz["status"] == "sent" and mz["department"]["name"] == "成都市民政局" and mz["days_left"] == 10
    hid = mz["id"]
    # the department's inbox holds its own hand-over only
    inbox = api.get("/api/handovers", h.mz).get_json()
    assert [x["id"] for x in inbox] == [hid]
    assert inbox[0]["case_reference"] == h.case["reference"]
    assert api.get(f"/api/handovers/{zj['id']}", h.mz).status_code == 404
    assert api.get(f"/api/cases/{h.cid}", h.mz).status_code == 404
    assert api.get(f"/api/cases/{h.cid}/handovers", h.mz).status_code == 404
    # acknowledge; a second acknowledgement (the colleague's) is a 409 naming the state
    r = api.post(f"/api/handovers/{hid}/acknowledge", h.mz)
    assert r.status_code == 200 and r.get_json()["status"] == "acknowledged"
    r = api.post(f"/api/handovers/{hid}/acknowledge", h.mz2)
    assert r.status_code == 409 and r.get_json()["current_state"] == "acknowledged"
    # the officer may not accept before a reply
    r = api.post(f"/api/handovers/{hid}/accept", h.officer)
    assert r.status_code == 409 and r.get_json()["current_state"] == "acknowledged"
    # reply with a document attached to the reply
    r = api.post(f"/api/handovers/{hid}/replies", h.mz, {"result": "已纳入低保", "measures": "入户核查"})
    assert r.status_code == 201, r.get_json()
    reply_id = r.get_json()["replies"][0]["id"]
    r = upload(api, h.mz, h.cid, [("回复函.pdf", pdf_bytes())], attach_to=f"handover_reply:{reply_id}")
    assert r.status_code == 201, r.get_json()
    doc_id = r.get_json()[0]["id"]
    assert api.get(f"/api/documents/{doc_id}/content", h.mz).status_code == 200
    assert api.get(f"/api/documents/{doc_id}/content", h.officer).status_code == 200
    assert api.get(f"/api/documents/{doc_id}", h.zj).status_code == 404  # another department
    assert api.get(f"/api/documents/{doc_id}", h.mediator).status_code == 404
    # the department's other documents route stays shut: no case dossier for them
    assert upload(api, h.mz, h.cid, [("x.pdf", pdf_bytes())]).status_code == 404
    assert api.get(f"/api/cases/{h.cid}/documents", h.mz).status_code == 404
    got = api.get(f"/api/handovers/{hid}", h.officer).get_json()
    assert got["status"] == "replied" and got["replies"][0]["document_ids"] == [doc_id]
    # sent back with a reason; the department replies again
    assert api.post(f"/api/handovers/{hid}/return", h.officer, {"reason": ""}).status_code == 422
    r = api.post(f"/api/handovers/{hid}/return", h.officer, {"reason": "请附低保审批表"})
    assert r.status_code == 200 and r.get_json()["status"] == "returned" and r.get_json()["rounds"] == 1
    # a decided reply takes no more papers
    r = upload(api, h.mz, h.cid, [("补.pdf", pdf_bytes())], attach_to=f"handover_reply:{reply_id}")
    assert r.status_code == 409
    r = api.post(f"/api/handovers/{hid}/replies", h.mz2, {"result": "已附审批表"})
    assert r.status_code == 201
    r = api.post(f"/api/handovers/{hid}/accept", h.officer)
    assert r.status_code == 200 and r.get_json()["status"] == "accepted"
    assert [x["decision"] for x in r.get_json()["replies"]] == ["returned", "accepted"]
    r = api.post(f"/api/handovers/{hid}/replies", h.mz, {"result": "再回复"})
    assert r.status_code == 409 and r.get_json()["current_state"] == "accepted"
    # the department's view of the timeline: its hand-over's events only
    types = [e["type"] for e in api.get(f"/api/handovers/{hid}/events", h.mz).get_json()]
    assert types == ["handover.sent", "handover.acknowledged", "handover.replied", "handover.returned",
                     "handover.replied", "handover.accepted"]
    # the officer's case timeline has both hand-overs
    tl = api.get(f"/api/cases/{h.cid}/timeline", h.officer).get_json()
    items = tl["events"] if isinstance(tl, dict) else tl
    sent = [e for e in items if e["type"] == "handover.sent"]
    assert {e["data"]["department"] for e in sent} == {"成都市民政局", "锦江区住建局"}


def test_notifications_reach_the_department_and_the_officer(api, h):
    hid = hand(api, h, "mz").get_json()[0]["id"]
    types = [n["type"] for n in api.get("/api/notifications", h.mz).get_json()["items"]]
    assert types == ["handover.sent"]
    assert api.get("/api/notifications", h.zj).get_json()["items"] == []
    api.post(f"/api/handovers/{hid}/replies", h.mz, {"result": "已办理"})
    types = [n["type"] for n in api.get("/api/notifications", h.officer).get_json()["items"]]
    assert "handover.replied" in types
    # the colleague of the department is told of the reply too, the replier not
    assert "handover.replied" in [n["type"] for n in api.get("/api/notifications", h.mz2).get_json()["items"]]
    mine = api.get("/api/notifications", h.mz).get_json()["items"]
    assert "handover.replied" not in [n["type"] for n in mine]


def test_refusals(api, h):
    r = hand(api, h, "gy")  # a department of another province
    assert r.status_code == 422 and "department_ids" in r.get_json()["errors"]
    r = hand(api, h, "mz", due_on=_day(-1))
    assert r.status_code == 422 and r.get_json()["errors"]["due_on"] == ["cannot be before today"]
    assert hand(api, h, "mz", matter="  ").status_code == 422
    r = api.post(f"/api/cases/{h.cid}/handovers", h.other_officer, {
        "department_ids": [h.dep["mz"]], "matter": "x", "ask": "y", "due_on": _day(3)})
    assert r.status_code == 404
    r = api.post(f"/api/cases/{h.cid}/handovers", h.supervisor, {
        "department_ids": [h.dep["mz"]], "matter": "x", "ask": "y", "due_on": _day(3)})
    assert r.status_code == 403
    hid = hand(api, h, "mz").get_json()[0]["id"]
    # only the department acknowledges and replies; the officer decides
    assert api.post(f"/api/handovers/{hid}/acknowledge", h.officer).status_code == 403
    assert api.post(f"/api/handovers/{hid}/acknowledge", h.zj).status_code == 404
    assert api.post(f"/api/handovers/{hid}/replies", h.mz, {"result": " "}).status_code == 422
    assert api.post(f"/api/handovers/{hid}/withdraw", h.mz, {"reason": "x"}).status_code == 403
    r = api.post(f"/api/handovers/{hid}/withdraw", h.officer, {"reason": "当事人撤诉"})
    assert r.status_code == 200 and r.get_json()["status"] == "withdrawn"
    r = api.post(f"/api/handovers/{hid}/acknowledge", h.mz)
    assert r.status_code == 409 and r.get_json()["current_state"] == "withdrawn"


def test_overdue_is_a_beijing_day_past_the_due_day(api, h):
    """Due yesterday (Beijing): 23:30 yesterday it is not overdue, 00:30 today (16:30 UTC the
    day before) it is; a reply ends what the department owes."""
    today = clock.today()
    midnight = clock.day_start(today)  # 00:00 Beijing, in UTC
    with clock.frozen(midnight - dt.timedelta(minutes=30)):
        assert clock.today() == today - dt.timedelta(days=1)
        hid = hand(api, h, "mz", due_on=clock.today().isoformat()).get_json()[0]["id"]
        assert api.get("/api/handovers?overdue=true", h.officer).get_json() == []
    with clock.frozen(midnight + dt.timedelta(minutes=30)):
        got = api.get("/api/handovers?overdue=true", h.officer).get_json()
        assert [x["id"] for x in got] == [hid] and got[0]["overdue"] is True
        assert api.get("/api/handovers?overdue=true", h.mz).get_json()[0]["id"] == hid
        api.post(f"/api/handovers/{hid}/replies", h.mz, {"result": "已办理"})
        assert api.get("/api/handovers?overdue=true", h.officer).get_json() == []


def test_overdue_hand_overs_in_the_weekly_report_and_beside_the_board(api, app, h):
    today = clock.today()
    midnight = clock.day_start(today)
    with clock.frozen(midnight - dt.timedelta(hours=2)):
        late = hand(api, h, "mz", due_on=clock.today().isoformat()).get_json()[0]["id"]
        answered = hand(api, h, "zj", due_on=clock.today().isoformat()).get_json()[0]["id"]
        api.post(f"/api/handovers/{answered}/replies", h.zj, {"result": "已办理"})
    with clock.frozen(midnight + dt.timedelta(hours=1)):
        report = api.get("/api/reports/weekly", h.supervisor).get_json()
        got = report["handovers_overdue"]
        assert got["total"] == 1 and [x["id"] for x in got["handovers"]] == [late]
        first = got["handovers"][0]
        assert first["department"] == "成都市民政局" and first["days_overdue"] == 1
        # another province's supervisor reads none of it
        other = api.user("supervisor", "520000")
        assert api.get("/api/reports/weekly", other).get_json()["handovers_overdue"]["total"] == 0
