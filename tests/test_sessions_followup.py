"""After the agreement takes effect: performance items and overdue flags, judicial
confirmation within 30 days, resolution, cessation of petitioning (by undertaking or quiet
period), and a new petition reopening a resolved case."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from mediation import clock
from mediation.cases.models import Case
from mediation.extensions import db
from mediation.sessions import followup
from mediation.sessions.models import Agreement, Resolution
from mediation.timeline import Event
from tests.factories import call, complete_content


def in_effect(w) -> dict:
    a = call(w, "POST", f"/api/cases/{w.case_id}/agreements", "mediator", complete_content(w)).get_json()
    call(w, "POST", f"/api/agreements/{a['id']}/finalise", "mediator")
    for who, body in (("officer", {"signer": "party", "party_index": 0, "method": "hand"}),
                      ("officer", {"signer": "party", "party_index": 1, "method": "seal"}),
                      ("mediator", {"signer": "mediator", "method": "account"})):
        r = call(w, "POST", f"/api/agreements/{a['id']}/sign", who, body)
        assert r.status_code == 200, r.get_json()
    return r.get_json()


def day(offset: int) -> str:
    return (clock.today() + dt.timedelta(days=offset)).isoformat()


def item(w, agreement_id: int, who: str = "mediator", **kw) -> dict:
    body = {"kind": "payment", "description": "补发补偿款", "obligor": "区自然资源局",
            "amount": "50000.00", "due_on": day(20), **kw}
    r = call(w, "POST", f"/api/agreements/{agreement_id}/performance", who, body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def resolve(w, who="officer", basis="agreement_performed"):
    return call(w, "POST", f"/api/cases/{w.case_id}/resolution", who,
                {"basis": basis, "decision": "认定已化解", "reason": "协议已全部履行"})


def types(app, case_id: int) -> list[str]:
    with app.app_context():
        return list(db.session.execute(sa.select(Event.type).where(
            Event.case_id == case_id).order_by(Event.seq)).scalars())


def test_performance_done_with_evidence_then_the_officer_resolves(app, w):
    a = in_effect(w)
    pay = item(w, a["id"])
    act = item(w, a["id"], "officer", kind="action", description="书面道歉", amount=None, due_on=day(-1))
    listed = {i["id"]: i for i in call(w, "GET", f"/api/cases/{w.case_id}/performance", "officer").get_json()}
    assert listed[act["id"]]["overdue"] is True and listed[pay["id"]]["overdue"] is False
    assert listed[pay["id"]]["amount"] == "50000.00"
    r = resolve(w)
    assert r.status_code == 409 and r.get_json()["current_state"]["open_items"] == [pay["id"], act["id"]]
    blank = call(w, "POST", f"/api/performance/{pay['id']}/done", "mediator", {"evidence": " "})
    assert blank.status_code == 422
    done = call(w, "POST", f"/api/performance/{pay['id']}/done", "mediator", {"evidence": "银行回单 No.123"})
    assert done.status_code == 200 and done.get_json()["done"] is True
    again = call(w, "POST", f"/api/performance/{pay['id']}/done", "officer", {"evidence": "again"})
    assert again.status_code == 409
    assert call(w, "POST", f"/api/performance/{act['id']}/done", "officer",
                {"evidence": "道歉信已送达"}).get_json()["overdue"] is False
    assert resolve(w, "mediator").status_code == 403  # resolving is the officer's
    r = resolve(w)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["agreement_id"] == a["id"] and r.get_json()["case_status"] == "resolved"
    events = types(app, w.case_id)
    assert events[-4:] == ["performance.item_done", "performance.item_done", "performance.completed",
                           "case.resolved"]
    with app.app_context():
        resolved = db.session.execute(sa.select(Event).where(
            Event.case_id == w.case_id, Event.type == "case.resolved")).scalar_one()
        assert resolved.payload["decision"] == "认定已化解" and resolved.payload["reason"] == "协议已全部履行"
    assert resolve(w).status_code == 409


def test_performance_is_tracked_only_for_an_agreement_in_effect_and_only_by_its_people(w):
    draft = call(w, "POST", f"/api/cases/{w.case_id}/agreements", "mediator", complete_content(w)).get_json()
    body = {"kind": "payment", "description": "x", "due_on": day(3)}
    r = call(w, "POST", f"/api/agreements/{draft['id']}/performance", "mediator", body)
    assert r.status_code == 409 and r.get_json()["current_state"] == "draft"
    a = in_effect(w)
    for who, status in (("lawyer", 403), ("supervisor", 403), ("stranger", 404), ("other_mediator", 404)):
        assert call(w, "POST", f"/api/agreements/{a['id']}/performance", who, body).status_code == status
    it = item(w, a["id"])
    for who, status in (("lawyer", 403), ("stranger", 404), ("other_mediator", 404), ("evaluator", 404)):
        r = call(w, "POST", f"/api/performance/{it['id']}/done", who, {"evidence": "x"})
        assert r.status_code == status, who
    assert call(w, "GET", f"/api/cases/{w.case_id}/performance", "stranger").status_code == 404
    assert call(w, "POST", "/api/performance/999999/done", "officer", {"evidence": "x"}).status_code == 404


def start_work(w, case_id=None):
    r = call(w, "POST", f"/api/cases/{case_id or w.case_id}/status", "officer",
             {"status": "in_progress", "reason": "开始办理"})
    assert r.status_code == 200, r.get_json()


def test_resolution_otherwise_settled_needs_no_agreement(app, w):
    assert resolve(w, basis="otherwise_settled").status_code == 409  # still at intake
    start_work(w)
    r = resolve(w, basis="otherwise_settled")
    assert r.status_code == 201 and r.get_json()["agreement_id"] is None
    with app.app_context():
        assert db.session.get(Case, w.case_id).status == "resolved"
    r = call(w, "POST", f"/api/cases/{w.bare_case_id}/resolution", "officer",
             {"basis": "agreement_performed", "decision": "x", "reason": "y"})
    assert r.status_code == 409  # intake, and no agreement
    assert call(w, "POST", f"/api/cases/{w.case_id}/resolution", "stranger",
                {"basis": "otherwise_settled", "decision": "x", "reason": "y"}).status_code == 404


def test_judicial_confirmation_window_application_and_decision(app, w):
    a = in_effect(w)
    path = f"/api/agreements/{a['id']}/judicial-confirmation"
    assert a["judicial_confirmation_until"] == day(30)
    court = "锦江区人民法院"
    assert call(w, "POST", path, "mediator", {"applied_on": day(0), "court": court}).status_code == 403
    assert call(w, "POST", path, "officer", {"applied_on": day(-1), "court": court}).status_code == 422
    assert call(w, "POST", path, "officer", {"applied_on": day(1), "court": court}).status_code == 422
    decide = f"/api/agreements/{a['id']}/judicial-decision"
    r = call(w, "POST", decide, "officer", {"decision": "confirmed", "decided_on": day(0)})
    assert r.status_code == 409  # nothing applied for yet
    r = call(w, "POST", path, "officer", {"applied_on": day(0), "court": "锦江区人民法院"})
    assert r.status_code == 200 and r.get_json()["judicial_court"] == "锦江区人民法院"
    assert call(w, "POST", path, "officer", {"applied_on": day(0), "court": "x"}).status_code == 409
    r = call(w, "POST", decide, "officer",
             {"decision": "confirmed", "decided_on": day(0), "note": "裁定有效"})
    assert r.status_code == 200 and r.get_json()["judicial_decision"] == "confirmed"
    late = call(w, "POST", decide, "officer", {"decision": "rejected", "decided_on": day(0)})
    assert late.status_code == 409
    assert call(w, "POST", path, "stranger", {"applied_on": day(0), "court": "x"}).status_code == 404
    assert types(app, w.case_id)[-2:] == ["agreement.confirmation_applied", "agreement.confirmation_decided"]


def test_the_window_is_thirty_days_from_the_effect(app, w):
    a = in_effect(w)
    with app.app_context():  # the agreement took effect 40 days ago
        db.session.execute(sa.update(Agreement).where(Agreement.id == a["id"]).values(
            effective_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=40)))
        db.session.commit()
    r = call(w, "POST", f"/api/agreements/{a['id']}/judicial-confirmation", "officer",
             {"applied_on": day(0), "court": "锦江区人民法院"})
    assert r.status_code == 422 and "applied_on" in r.get_json()["errors"]


def test_cessation_by_undertaking_and_a_new_petition_reopens(app, w):
    path = f"/api/cases/{w.case_id}/cessation"
    r = call(w, "POST", path, "officer", {"basis": "undertaking", "signed_on": day(0)})
    assert r.status_code == 409  # not resolved yet
    start_work(w)
    assert resolve(w, basis="otherwise_settled").status_code == 201
    assert call(w, "POST", path, "officer", {"basis": "undertaking"}).status_code == 422
    assert call(w, "POST", path, "mediator", {"basis": "undertaking", "signed_on": day(0)}).status_code == 403
    r = call(w, "POST", path, "officer",
             {"basis": "undertaking", "signed_on": day(0), "note": "息诉罢访承诺书"})
    assert r.status_code == 200 and "petitioning_ceased" in r.get_json()["flags"]
    assert call(w, "POST", path, "officer", {"basis": "undertaking", "signed_on": day(0)}).status_code == 409
    r = call(w, "POST", f"/api/cases/{w.case_id}/petitions", "officer",
             {"received_on": day(0), "summary": "再次反映补偿问题"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["status"] == "reopened"
    assert "reopened_after_resolution" in body["flags"] and "petitioning_ceased" not in body["flags"]
    assert types(app, w.case_id)[-4:] == ["case.petitioning_ceased", "case.reopened",
                                          "case.petitioning_resumed", "petition.received"]
    again = call(w, "POST", f"/api/cases/{w.case_id}/petitions", "officer",
                 {"received_on": day(0), "summary": "x"})
    assert again.status_code == 409 and again.get_json()["current_state"] == "reopened"
    assert call(w, "POST", f"/api/cases/{w.case_id}/petitions", "stranger",
                {"received_on": day(0), "summary": "x"}).status_code == 404


def test_cessation_after_the_quiet_period(app, w):
    start_work(w)
    assert resolve(w, basis="otherwise_settled").status_code == 201
    quiet = app.config["MEDIATION_CESSATION_QUIET_DAYS"]
    r = call(w, "POST", f"/api/cases/{w.case_id}/cessation", "officer", {"basis": "quiet_period"})
    assert r.status_code == 422 and f"{quiet} days" in r.get_json()["errors"]["basis"][0]
    with app.app_context():
        assert followup.sweep_cessations() == 0
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=quiet + 1)
        db.session.execute(sa.update(Resolution).where(Resolution.case_id == w.case_id)
                           .values(resolved_at=long_ago))
        db.session.commit()
        # With Redis, beat runs the sweep through its task (the embedded loop does not run).
        from mediation.sessions import tasks

        schedule = app.extensions["celery"].conf.beat_schedule
        assert schedule["sessions-cessation-sweep"]["task"] == tasks.CESSATION_SWEEP
        # .run: the task's body in this test's app (calling the task would push the app
        # its Celery instance was made with, which in a shared process may be another's)
        assert tasks.cessation_sweep.run() == 1
        assert followup.sweep_cessations() == 0
        case = db.session.get(Case, w.case_id)
        assert "petitioning_ceased" in case.flags
        ev = db.session.execute(sa.select(Event).where(
            Event.case_id == w.case_id, Event.type == "case.petitioning_ceased")).scalar_one()
        assert ev.payload["basis"] == "quiet_period" and ev.actor_id is None
        db.session.remove()
