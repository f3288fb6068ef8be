"""Contacting the parties: a provider with an accepted referral reveals the petitioner's
phone (never the identity number) with a reason, recorded on the timeline like every reveal;
an offered, completed or other provider gets nothing."""

from __future__ import annotations

import sqlalchemy as sa

from mediation.extensions import db
from mediation.timeline import Event
from referrals import lifecycle
from referrals.models import ProviderMember, Referral
from tests.factories import call
from tests.page_client import PageClient


def _reveal(w, who: str, fields, reason: str = "约谈调解时间", case_id=None, petitioner_id=None):
    case_id = case_id or w.case_id
    return call(w, "POST", f"/api/cases/{case_id}/petitioners/{petitioner_id or w.petitioner_id}/reveal",
                who, {"fields": fields, "reason": reason})


def _reveals(app, case_id: int) -> list[dict]:
    with app.app_context():
        return [e.payload for e in db.session.execute(sa.select(Event).where(
            Event.case_id == case_id, Event.type == "pii.revealed").order_by(Event.seq)).scalars()]


def test_an_accepted_provider_reads_the_phone_only_and_it_is_recorded(app, w):
    r = _reveal(w, "mediator", ["phone"])
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["phone"] and "*" not in body["phone"]
    assert body.get("id_number") is None  # never asked, never shown
    [event] = _reveals(app, w.case_id)
    assert event["fields"] == ["phone"] and event["reason"] == "约谈调解时间"
    assert event["to"] == w.users["mediator"].username and body["phone"] not in str(event)
    # The identity number: refused, and nothing recorded.
    for fields in (["id_number"], ["id_number", "phone"]):
        assert _reveal(w, "mediator", fields).status_code == 403
    assert len(_reveals(app, w.case_id)) == 1
    # A reason is required (422), as for everyone.
    assert _reveal(w, "mediator", ["phone"], reason="").status_code == 422


def test_no_phone_without_an_accepted_referral(app, w):
    # The other mediator never had the case: it does not exist for them.
    assert _reveal(w, "other_mediator", ["phone"]).status_code == 404
    # An offer not yet accepted shows the case, not the phone.
    with app.app_context():
        from mediation.users import User

        officer = db.session.get(User, w.users["officer"].id)
        counsellor_p = db.session.execute(sa.select(ProviderMember.provider_id).where(
            ProviderMember.user_id == w.users["counsellor"].id)).scalar_one()
        lifecycle.request_referral(officer, w.case_id, "counselling", provider_id=counsellor_p)
    assert call(w, "GET", f"/api/cases/{w.case_id}", "counsellor").status_code == 200
    assert _reveal(w, "counsellor", ["phone"]).status_code == 403
    # Completed: the case is gone, and the phone with it.
    with app.app_context():
        rid = db.session.execute(sa.select(Referral.id).join(
            ProviderMember, ProviderMember.provider_id == Referral.provider_id).where(
            Referral.case_id == w.case_id, ProviderMember.user_id == w.users["lawyer"].id)).scalar_one()
    assert call(w, "POST", f"/api/referrals/{rid}/complete", "lawyer",
                {"outcome": "service_given"}).status_code == 200
    assert _reveal(w, "lawyer", ["phone"]).status_code == 404
    # A supervisor sees masked numbers only, as before.
    assert _reveal(w, "supervisor", ["phone"]).status_code == 403
    assert _reveals(app, w.case_id) == []


def test_the_case_page_offers_the_phone_to_the_provider_only(app, w, csrf_on):
    page = PageClient(app).sign_in(w.users["mediator"])
    part = page.text(f"/cases/{w.case_id}?part=case_contact")
    assert f'data-petitioner="{w.petitioner_id}"' in part and 'value="phone"' in part
    r = page.post(f"/cases/{w.case_id}/petitioners/{w.petitioner_id}/reveal",
                  {"fields": "phone", "reason": "约谈调解时间"}, token_from=f"/cases/{w.case_id}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'id="revealed-phone"' in html and "身份证号" not in html
    assert r.headers["Cache-Control"] == "no-store"
    assert [e["fields"] for e in _reveals(app, w.case_id)] == [["phone"]]
    # Officers have their own reveal form; the lawyer (accepted) has this one; others none.
    assert PageClient(app).sign_in(w.users["officer"]).get(
        f"/cases/{w.case_id}?part=case_contact").status_code == 404
    assert PageClient(app).sign_in(w.users["other_mediator"]).get(
        f"/cases/{w.case_id}?part=case_contact").status_code == 404
    assert PageClient(app).sign_in(w.users["lawyer"]).get(
        f"/cases/{w.case_id}?part=case_contact").status_code == 200
