"""One definition of overdue: a statutory clock ends when its matter is concluded (a resolved
or closed case is not overdue on the handling clock), and the board's filter, the case API,
the weekly report and the reminders all say the same of the same case."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from mediation import clock as service_clock
from mediation.cases.models import Case
from mediation.extensions import db
from mediation.supervision import reminders
from tests.factories import case_row
from tests.page_client import sign_in


def _ids(api, user, query: str) -> set[int]:
    r = api.get(f"/api/cases?{query}&page_size=200", user)
    assert r.status_code == 200, r.get_json()
    return {c["id"] for c in r.get_json()["items"]}


def test_a_concluded_case_is_overdue_nowhere(api, app):
    officer = api.user("case_officer", "510104")
    sup = api.user("supervisor", "51")
    accepted = (service_clock.today() - dt.timedelta(days=120)).isoformat()
    ids = []
    for title in ("仍在办理", "已化解", "已办结"):
        r = api.post("/api/cases", officer, json={"title": title, "region_code": "510104",
                                                  "received_on": accepted, "accepted_on": accepted})
        assert r.status_code == 201, r.get_json()
        ids.append(r.get_json()["id"])
    open_, resolved, closed = ids
    for case_id in (resolved, closed):
        for to in ("in_progress", "resolved"):
            assert api.post(f"/api/cases/{case_id}/status", officer,
                            json={"status": to, "reason": "办理"}).status_code == 200
    assert api.post(f"/api/cases/{closed}/status", officer,
                    json={"status": "closed", "reason": "办结"}).status_code == 200

    # The case API (and the board, which uses the same filter)
    assert _ids(api, officer, "overdue=true") == {open_}
    assert _ids(api, officer, "overdue=false") >= {resolved, closed}
    view = api.get(f"/api/cases/{closed}", officer).get_json()
    handling = next(c for c in view["clocks"] if c["name"] == "handling")
    assert view["overdue"] is False and handling["state"] == "ended" and view["next_deadline_on"] is None
    assert api.get(f"/api/cases/{open_}", officer).get_json()["overdue"] is True
    # The weekly report
    body = api.get("/api/reports/weekly", sup).get_json()
    assert body["overdue"]["total"] == 1
    assert [c["case_id"] for c in body["overdue"]["cases"]] == [open_]
    # The reminders
    with app.app_context():
        due = {d.case_id for d in reminders.due_items(db.session, service_clock.today())
               if d.kind == "statutory_clock"}
        db.session.rollback()
    assert due == {open_}


def test_a_stale_deadline_on_a_closed_row_is_not_overdue(api, app):
    """A row written as a ledger held it (closed, a deadline long past still on it): the SQL
    definition itself leaves it out, everywhere."""
    officer = api.user("case_officer", "510104")
    sup = api.user("supervisor", "51")
    with app.app_context():
        stale = case_row("510104", "closed")
        db.session.execute(sa.update(Case).where(Case.id == stale).values(
            next_deadline_on=service_clock.today() - dt.timedelta(days=30)))
        db.session.commit()
        db.session.remove()
    assert stale not in _ids(api, officer, "overdue=true")
    assert stale in _ids(api, officer, "overdue=false")
    assert api.get("/api/reports/weekly", sup).get_json()["overdue"]["total"] == 0


def test_the_board_filter_says_the_same(api, app):
    officer = api.user("case_officer", "510104")
    accepted = (service_clock.today() - dt.timedelta(days=120)).isoformat()
    r = api.post("/api/cases", officer, json={"title": "已办结超期件", "region_code": "510104",
                                              "received_on": accepted, "accepted_on": accepted})
    case_id = r.get_json()["id"]
    for to in ("in_progress", "resolved", "closed"):
        api.post(f"/api/cases/{case_id}/status", officer, json={"status": to, "reason": "办理"})
    client = app.test_client()
    assert sign_in(client, officer.username).status_code == 302
    html = client.get("/board?overdue=true").get_data(as_text=True)
    assert "已办结超期件" not in html
    html = client.get("/board?overdue=false").get_data(as_text=True)
    assert "已办结超期件" in html
