"""Follow-up visits (回访): scheduled 30 and 90 Beijing days after an agreement takes effect
(a setting), recorded by officials and the agreement's mediator — even after their referral
ended, until the case is closed — reminded daily, listed on the weekly report when missed."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from mediation import clock
from mediation.extensions import db
from mediation.sessions.models import FollowupVisit
from mediation.supervision import reminders
from mediation.supervision.models import Reminder
from mediation.timeline import Event
from referrals.models import ProviderMember, Referral
from tests.factories import call, complete_content
from tests.page_client import PageClient


def in_effect(w) -> dict:
    a = call(w, "POST", f"/api/cases/{w.case_id}/agreements", "mediator", complete_content(w)).get_json()
    call(w, "POST", f"/api/agreements/{a['id']}/finalise", "mediator")
    for who, body in (("officer", {"signer": "party", "party_index": 0, "method": "hand"}),
                      ("officer", {"signer": "party", "party_index": 1, "method": "seal"}),
                      ("mediator", {"signer": "mediator", "method": "account"})):
        r = call(w, "POST", f"/api/agreements/{a['id']}/sign", who, body)
        assert r.status_code == 200, r.get_json()
    return r.get_json()


def visit_body(**kw) -> dict:
    return {"visited_on": clock.today().isoformat(), "method": "phone", "visited_whom": "信访人张三",
            "findings": "补偿款已到账", "honoured": "yes", "satisfaction": 5, **kw}


@pytest.fixture
def effect(app, w):
    return in_effect(w)


def test_an_agreement_in_effect_schedules_visits_at_30_and_90_days(app, w, effect):
    r = call(w, "GET", f"/api/cases/{w.case_id}/visits", "officer")
    assert r.status_code == 200, r.get_json()
    visits = r.get_json()
    start = clock.today()
    assert [(v["offset_days"], v["due_on"]) for v in visits] == [
        (30, (start + dt.timedelta(days=30)).isoformat()), (90, (start + dt.timedelta(days=90)).isoformat())]
    assert all(v["basis"] == f"agreement:{effect['id']}" and not v["done"] for v in visits)


def test_the_offsets_are_a_setting(app, w):
    old = app.config["MEDIATION_FOLLOWUP_VISIT_DAYS"]
    app.config["MEDIATION_FOLLOWUP_VISIT_DAYS"] = (7,)
    try:
        in_effect(w)
        assert [v["offset_days"] for v in call(w, "GET", f"/api/cases/{w.case_id}/visits", "officer")
                .get_json()] == [7]
    finally:
        app.config["MEDIATION_FOLLOWUP_VISIT_DAYS"] = old


def test_recording_a_visit_once_with_validation(app, w, effect):
    first = call(w, "GET", f"/api/cases/{w.case_id}/visits", "officer").get_json()[0]
    bad = call(w, "POST", f"/api/visits/{first['id']}/record", "officer",
               visit_body(satisfaction=9, visited_on=(clock.today() + dt.timedelta(days=1)).isoformat()))
    assert bad.status_code == 422 and "satisfaction" in str(bad.get_json())
    no_honoured = call(w, "POST", f"/api/visits/{first['id']}/record", "officer", visit_body(honoured=None))
    assert no_honoured.status_code == 422 and "honoured" in str(no_honoured.get_json())
    ok = call(w, "POST", f"/api/visits/{first['id']}/record", "officer", visit_body())
    assert ok.status_code == 200, ok.get_json()
    assert ok.get_json()["done"] and ok.get_json()["satisfaction"] == 5
    again = call(w, "POST", f"/api/visits/{first['id']}/record", "mediator", visit_body(satisfaction=1))
    assert again.status_code == 409
    with app.app_context():
        events = db.session.execute(sa.select(Event).where(
            Event.case_id == w.case_id, Event.type == "followup.visit_recorded")).scalars().all()
        assert [e.payload["satisfaction"] for e in events] == [5]
    # Who reads and records: officials and the mediator; the lawyer sees the case but not
    # the visits (403); the other mediator does not see the case (404).
    assert call(w, "GET", f"/api/cases/{w.case_id}/visits", "lawyer").status_code == 403
    assert call(w, "GET", f"/api/cases/{w.case_id}/visits", "other_mediator").status_code == 404
    stranger = call(w, "POST", f"/api/visits/{first['id']}/record", "other_mediator", visit_body())
    assert stranger.status_code == 404
    assert call(w, "GET", f"/api/cases/{w.case_id}/visits", "supervisor").status_code == 200
    # The officials-only event stays off the lawyer's timeline.
    lawyer_tl = call(w, "GET", f"/api/cases/{w.case_id}/timeline", "lawyer").get_json()["events"]
    assert "followup.visit_recorded" not in {e["type"] for e in lawyer_tl}


def test_the_mediator_records_visits_after_the_referral_is_completed(app, w, effect):
    with app.app_context():
        rid = db.session.execute(sa.select(Referral.id).join(
            ProviderMember, ProviderMember.provider_id == Referral.provider_id).where(
            Referral.case_id == w.case_id, ProviderMember.user_id == w.users["mediator"].id)).scalar_one()
    assert call(w, "POST", f"/api/referrals/{rid}/complete", "mediator",
                {"outcome": "agreement_reached"}).status_code == 200
    assert call(w, "GET", f"/api/cases/{w.case_id}", "mediator").status_code == 404
    visits = call(w, "GET", f"/api/cases/{w.case_id}/visits", "mediator")
    assert visits.status_code == 200
    second = visits.get_json()[1]
    r = call(w, "POST", f"/api/visits/{second['id']}/record", "mediator", visit_body(honoured="partly"))
    assert r.status_code == 200, r.get_json()
    unscheduled = call(w, "POST", f"/api/cases/{w.case_id}/visits", "mediator", visit_body(method="home"))
    assert unscheduled.status_code == 201 and unscheduled.get_json()["basis"] == "unscheduled"
    # Closed: the mediator's part is over.
    with app.app_context():
        from mediation.cases.models import Case

        db.session.execute(sa.update(Case).where(Case.id == w.case_id).values(status="closed"))
        db.session.commit()
    assert call(w, "GET", f"/api/cases/{w.case_id}/visits", "mediator").status_code == 404


def test_missed_visits_are_reminded_and_on_the_weekly_report(app, w, effect):
    with app.app_context():
        first = db.session.execute(sa.select(FollowupVisit).where(
            FollowupVisit.case_id == w.case_id).order_by(FollowupVisit.due_on)).scalars().first()
        first.due_on = clock.today() - dt.timedelta(days=3)
        visit_id = first.id
        db.session.commit()
        reminders.send()
        rows = db.session.execute(sa.select(Reminder.user_id).where(
            Reminder.kind == "followup_visit", Reminder.case_id == w.case_id)).scalars().all()
        assert w.users["mediator"].id in rows and w.users["officer"].id in rows
    report = call(w, "GET", "/api/reports/weekly", "supervisor")
    assert report.status_code == 200, report.get_json()
    missed = report.get_json()["followup_visits_missed"]
    assert missed["total"] == 1 and missed["visits"][0]["visit_id"] == visit_id
    assert missed["visits"][0]["days_late"] >= 3
    page = PageClient(app).sign_in(w.users["supervisor"])
    assert f'data-visit="{visit_id}"' in page.text("/supervision/weekly")
    # Made: off the report.
    assert call(w, "POST", f"/api/visits/{visit_id}/record", "officer", visit_body()).status_code == 200
    after = call(w, "GET", "/api/reports/weekly", "supervisor").get_json()
    assert after["followup_visits_missed"]["total"] == 0
