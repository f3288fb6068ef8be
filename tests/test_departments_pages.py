"""The departments' pages with CSRF on: a department user's inbox and hand-over page
(acknowledge, reply with a file, a lost race in words), the case page's hand-over section
and form, the officer's decisions, the directory page — and 404 for everyone else."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from mediation import clock
from mediation.departments import commands
from mediation.departments.models import Handover
from mediation.extensions import db
from mediation.users import User
from tests.factories import World, make_case, make_department, make_user, pdf_bytes
from tests.page_client import PageClient


@pytest.fixture
def w(app, csrf_on) -> World:
    with app.app_context():
        people = {"officer": make_user("case_officer", "510104"), "sup": make_user("supervisor", "510100"),
                  "mz": make_user("department", "510100"), "zj": make_user("department", "510104"),
                  "mediator": make_user("mediator"), "free": make_user("department", "510104")}
        mz = make_department("civil_affairs", "510100", members=(people["mz"],), name="成都市民政局")
        zj = make_department("housing", "510104", members=(people["zj"],), name="锦江区住建局")
        case = make_case(people["officer"], region_code="510104")
        ids = {"mz_id": mz.id, "zj_id": zj.id, "case": case.id, "ref": case.reference}
        for u in people.values():
            db.session.expunge(u)
        db.session.remove()
    return World(people, **ids)


def browser(app, user: User) -> PageClient:
    return PageClient(app).sign_in(user)


def due(days: int) -> str:
    return (clock.today() + dt.timedelta(days=days)).isoformat()


def handed(app, w) -> int:
    with app.app_context():
        officer = db.session.get(User, w.officer.id)
        hid = commands.create(officer, w.case, {
            "department_ids": [w.mz_id], "matter": "低保申请", "ask": "核实家庭收入",
            "due_on": dt.date.fromisoformat(due(7))})[0].id
        db.session.remove()
    return hid


def status(app, hid: int) -> str:
    with app.app_context():
        return db.session.get(Handover, hid).status


def test_the_officer_hands_over_from_the_case_page(app, w):
    me = browser(app, w.officer)
    page = me.text(f"/cases/{w.case}")
    assert 'data-part="case_handovers"' in page and "成都市民政局" in page and "锦江区住建局" in page
    r = me.post(f"/cases/{w.case}/handovers", {
        "department_ids": [str(w.mz_id), str(w.zj_id)], "matter": "住房安置", "ask": "请核实",
        "due_on": due(5)}, f"/cases/{w.case}")
    assert r.status_code == 302
    part = me.text(f"/cases/{w.case}?part=case_handovers")
    assert part.count("data-handover=") == 2 and "已交办" in part
    # a refused form says why, and nothing is made
    r = me.post(f"/cases/{w.case}/handovers", {"department_ids": [str(w.mz_id)], "matter": "x", "ask": "y",
                                                "due_on": due(-1)}, f"/cases/{w.case}")
    assert "due_on" in me.text(f"/cases/{w.case}")
    assert me.text(f"/cases/{w.case}?part=case_handovers").count("data-handover=") == 2


def test_the_department_acknowledges_and_replies_with_a_file(app, w):
    hid = handed(app, w)
    me = browser(app, w.mz)
    r = me.get("/")
    assert r.status_code == 302 and r.headers["Location"].endswith("/handovers")
    inbox = me.text("/handovers")
    assert f'data-handover="{hid}"' in inbox and "低保申请" in inbox and w.ref in inbox
    assert "我的案件" not in inbox  # no cases for a department
    assert me.get(f"/cases/{w.case}").status_code == 404
    page = f"/handovers/{hid}"
    assert "交办成都市民政局：低保申请" in me.text(page)  # the steps said as sentences
    # the notification leads to the hand-over's page
    with app.app_context():
        from mediation.notifications.models import Notification

        nid = db.session.query(Notification.id).filter_by(user_id=w.mz.id).scalar()
    r = me.post(f"/notifications/{nid}/open", {}, "/notifications")
    assert r.status_code == 302 and r.headers["Location"].endswith(page), r.headers.get("Location")
    assert me.post(page, {"action": "acknowledge"}).status_code == 302
    assert status(app, hid) == "acknowledged"
    # a second click (another tab) loses the race: 409 in words, with the state now
    r = me.post(page, {"action": "acknowledge"})
    body = r.get_data(as_text=True)
    assert r.status_code == 409 and "无法签收" in body and "已签收" in body
    # an empty result is refused beside the field
    r = me.post(page, {"action": "reply", "result": "", "measures": ""})
    assert r.status_code == 422 and 'id="result-error"' in r.get_data(as_text=True)
    r = me.post(page, {"action": "reply", "result": "已纳入低保", "measures": "入户核查", "kind": "other",
                       "files": (io.BytesIO(pdf_bytes()), "回复函.pdf")})
    assert r.status_code == 302, r.get_data(as_text=True)
    assert status(app, hid) == "replied"
    text = me.text(page)
    assert "已纳入低保" in text and "回复函.pdf" in text
    doc_url = text.split('data-document="')[0].rsplit('href="', 1)[1].split('"')[0]
    assert me.get(doc_url).status_code == 200
    # the officer reads the same page and sends the reply back, then accepts the next one
    officer = browser(app, w.officer)
    assert "回复函.pdf" in officer.text(page)
    assert officer.post(page, {"action": "return", "reason": "请附审批表"}).status_code == 302
    assert status(app, hid) == "returned"
    assert "请附审批表" in me.text(page)
    me.post(page, {"action": "reply", "result": "已附审批表"})
    assert officer.post(page, {"action": "accept"}).status_code == 302
    assert status(app, hid) == "accepted" and "已办结" in me.text("/handovers")


def test_other_users_get_404(app, w):
    hid = handed(app, w)
    for user in (w.zj, w.mediator):
        assert browser(app, user).get(f"/handovers/{hid}").status_code == 404
    assert browser(app, w.mediator).get("/handovers").status_code == 404
    assert browser(app, w.mediator).get("/departments").status_code == 404
    # the department may not decide on its own hand-over
    r = browser(app, w.mz).post(f"/handovers/{hid}", {"action": "withdraw", "reason": "x"})
    assert r.status_code == 403


def test_the_directory_page(app, w):
    sup = browser(app, w.sup)
    page = sup.text("/departments")
    assert "成都市民政局" in page and 'id="department-form"' in page
    r = sup.post("/departments", {"action": "create", "name": "成都市司法局", "kind": "policy",
                                  "region_code": "510100", "user_ids": [str(w.free.id)]})
    assert r.status_code == 302
    assert "成都市司法局" in sup.text("/departments")
    r = sup.post("/departments", {"action": "create", "name": "成都市司法局", "kind": "policy",
                                  "region_code": "510100"})
    assert r.status_code == 422 and 'id="name-error"' in r.get_data(as_text=True)
    # officials read it, without the form
    page = browser(app, w.officer).text("/departments")
    assert "成都市司法局" in page and 'id="department-form"' not in page


def test_overdue_hand_overs_beside_the_board_and_in_the_weekly_page(app, w):
    hid = handed(app, w)
    with app.app_context():  # its due day two days past (the commands refuse a past day)
        db.session.get(Handover, hid).due_on = clock.today() - dt.timedelta(days=2)
        db.session.commit()
    me = browser(app, w.officer)
    board = me.text("/board")
    assert 'data-part="board_handovers"' in board and "低保申请" in board and "已超期 2 天" in board
    listed = me.text("/handovers?overdue=1")
    assert f'data-handover="{hid}"' in listed
    weekly = browser(app, w.sup).text("/supervision/weekly")
    assert 'id="handovers-overdue"' in weekly and "成都市民政局" in weekly
