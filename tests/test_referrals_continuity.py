"""Continuity after completion: a provider keeps its record of a case (the timeline up to
completion, what it authored) for the configured period; the mediator of an agreement keeps
it and its performance until the case is closed; everything else is a 404."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from mediation.cases.models import Case
from mediation.extensions import db
from referrals.models import Referral
from tests.factories import call, complete_content, consent


def _referral_of(app, w, who: str) -> int:
    from referrals.models import ProviderMember

    with app.app_context():
        return db.session.execute(sa.select(Referral.id).join(
            ProviderMember, ProviderMember.provider_id == Referral.provider_id).where(
            Referral.case_id == w.case_id, ProviderMember.user_id == w.users[who].id)).scalar_one()


def _agreement_in_effect(w) -> dict:
    a = call(w, "POST", f"/api/cases/{w.case_id}/agreements", "mediator", complete_content(w)).get_json()
    call(w, "POST", f"/api/agreements/{a['id']}/finalise", "mediator")
    for who, body in (("officer", {"signer": "party", "party_index": 0, "method": "hand"}),
                      ("officer", {"signer": "party", "party_index": 1, "method": "seal"}),
                      ("mediator", {"signer": "mediator", "method": "account"})):
        r = call(w, "POST", f"/api/agreements/{a['id']}/sign", who, body)
        assert r.status_code == 200, r.get_json()
    return r.get_json()


def _complete(w, referral_id: int, who: str) -> None:
    r = call(w, "POST", f"/api/referrals/{referral_id}/complete", who, {"outcome": "agreement_reached"})
    assert r.status_code == 200, r.get_json()


@pytest.fixture
def done(app, w):
    """The mediator ran a session, drafted an agreement put in effect with a performance
    item, and completed the referral; the lawyer gave an opinion and completed too."""
    s = call(w, "POST", f"/api/cases/{w.case_id}/sessions", "mediator",
             {"scheduled_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat(),
              "place": "调解室", "topic": "补偿款", "petitioner_ids": [w.petitioner_id]}).get_json()
    consent(w)
    assert call(w, "POST", f"/api/sessions/{s['id']}/start", "mediator").status_code == 200
    assert call(w, "POST", f"/api/sessions/{s['id']}/end", "mediator",
                {"minutes": "双方同意补发补偿款"}).status_code == 200
    a = _agreement_in_effect(w)
    item = call(w, "POST", f"/api/agreements/{a['id']}/performance", "mediator", {
        "kind": "payment", "description": "补发补偿款", "obligor": "区自然资源局",
        "amount": "50000.00", "due_on": (dt.date.today() + dt.timedelta(days=20)).isoformat()}).get_json()
    assert call(w, "POST", f"/api/cases/{w.case_id}/opinions", "lawyer", {
        "summary": "补偿标准偏低", "legal_basis": [{"law": "土地管理法", "article": "第四十八条"}],
        "recommendation": "补足差额"}).status_code == 201
    mediation_ref, legal_ref = _referral_of(app, w, "mediator"), _referral_of(app, w, "lawyer")
    _complete(w, mediation_ref, "mediator")
    _complete(w, legal_ref, "lawyer")
    # Something after completion that the record must not show.
    assert call(w, "POST", f"/api/cases/{w.case_id}/messages", "officer",
                {"body": "完成后的消息"}).status_code in (200, 201)
    return {"session": s, "agreement": a, "item": item, "mediation": mediation_ref, "legal": legal_ref}


def test_after_completion_the_case_is_gone_but_the_record_stays(app, w, done):
    # The live case is no longer theirs...
    assert call(w, "GET", f"/api/cases/{w.case_id}", "mediator").status_code == 404
    assert call(w, "GET", f"/api/cases/{w.case_id}/timeline", "mediator").status_code == 404
    # ...their record of it is.
    r = call(w, "GET", f"/api/referrals/{done['mediation']}/record", "mediator")
    assert r.status_code == 200, r.get_json()
    rec = r.get_json()
    assert rec["status"] == "completed" and rec["outcome"] == "agreement_reached"
    assert rec["case"]["id"] == w.case_id and "petitioners" not in rec["case"]
    types = [e["type"] for e in rec["timeline"]["events"]]
    assert types[-1] == "referral.completed"
    assert all(e["seq"] <= rec["timeline"]["last_seq"] for e in rec["timeline"]["events"])
    assert not any(t.startswith("message.") and e["data"].get("body") == "完成后的消息"
                   for t, e in zip(types, rec["timeline"]["events"], strict=True))
    # Officials-only events stay hidden as on the live timeline.
    assert "case.note_added" not in types
    assert [s["minutes"] for s in rec["sessions"]] == ["双方同意补发补偿款"]
    [agreement] = rec["agreements"]
    assert agreement["id"] == done["agreement"]["id"]
    assert [i["id"] for i in agreement["performance"]] == [done["item"]["id"]]
    assert rec["opinions"] == []  # the lawyer's opinion is the lawyer's record
    lawyer = call(w, "GET", f"/api/referrals/{done['legal']}/record", "lawyer").get_json()
    assert [o["summary"] for o in lawyer["opinions"]] == ["补偿标准偏低"]
    assert lawyer["sessions"] == [] and lawyer["agreements"] == []


def test_nobody_else_gets_the_record(w, done):
    for who in ("lawyer", "other_mediator", "counsellor", "officer", "supervisor", "party", "stranger"):
        assert call(w, "GET", f"/api/referrals/{done['mediation']}/record", who).status_code == 404, who
    assert call(w, "GET", "/api/referrals/999999/record", "mediator").status_code == 404


def test_the_record_ends_after_the_period(app, w, done):
    with app.app_context():
        db.session.execute(sa.update(Referral).where(Referral.id == done["mediation"]).values(
            closed_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=366)))
        db.session.commit()
    assert call(w, "GET", f"/api/referrals/{done['mediation']}/record", "mediator").status_code == 404
    assert call(w, "GET", f"/api/referrals/{done['legal']}/record", "lawyer").status_code == 200


def test_the_period_is_a_setting(app, w, done):
    old = app.config.get("MEDIATION_PROVIDER_RECORD_DAYS")
    app.config["MEDIATION_PROVIDER_RECORD_DAYS"] = 0
    try:
        assert call(w, "GET", f"/api/referrals/{done['mediation']}/record", "mediator").status_code == 404
    finally:
        app.config["MEDIATION_PROVIDER_RECORD_DAYS"] = old


def test_the_mediator_keeps_the_agreement_and_its_performance_until_the_case_is_closed(app, w, done):
    aid, iid = done["agreement"]["id"], done["item"]["id"]
    assert call(w, "GET", f"/api/agreements/{aid}", "mediator").status_code == 200
    items = call(w, "GET", f"/api/agreements/{aid}/performance", "mediator")
    assert items.status_code == 200 and [i["id"] for i in items.get_json()] == [iid]
    # Reading only: no change through it.
    assert call(w, "POST", f"/api/performance/{iid}/done", "mediator",
                {"evidence": "转账凭证"}).status_code == 404
    assert call(w, "POST", f"/api/agreements/{aid}/performance", "mediator", {
        "kind": "action", "description": "道歉", "due_on": dt.date.today().isoformat()}).status_code == 404
    # The other mediator and the lawyer never had it.
    for who in ("other_mediator", "lawyer"):
        assert call(w, "GET", f"/api/agreements/{aid}", who).status_code == 404, who
        assert call(w, "GET", f"/api/agreements/{aid}/performance", who).status_code == 404, who
    with app.app_context():
        db.session.execute(sa.update(Case).where(Case.id == w.case_id).values(status="closed"))
        db.session.commit()
    assert call(w, "GET", f"/api/agreements/{aid}", "mediator").status_code == 404
    assert call(w, "GET", f"/api/agreements/{aid}/performance", "mediator").status_code == 404
