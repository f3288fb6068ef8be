"""A signature proves its signer. A party's account on an agreement must be that party's own
(never the mediator's, an official's or a provider's, never one account for two parties),
checked when the draft is saved, when it is finalised and when anyone signs; one account
signs for one signer at most (the database refuses a second); parties without accounts sign
in person, recorded by an official of the case who is not the mediator. Through the API and
through the agreement page's forms."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from mediation.cases.models import Case
from mediation.extensions import db
from mediation.sessions.models import Agreement, AgreementSignature
from mediation.timeline import Event, utcnow
from mediation.users import User
from tests.factories import call, complete_content
from tests.page_client import PageClient


def content_with(w, *user_ids) -> dict:
    content = complete_content(w)
    for party, uid in zip(content["parties"], user_ids, strict=True):
        party["user_id"] = uid
    return content


def sign(w, agreement_id: int, who: str, signer: str, method: str, party_index=None):
    body = {"signer": signer, "method": method}
    if party_index is not None:
        body["party_index"] = party_index
    return call(w, "POST", f"/api/agreements/{agreement_id}/sign", who, body)


def counts(app, case_id: int) -> tuple[int, int, str]:
    """(agreements, events, case status) of the case: what a refused write must not change."""
    with app.app_context():
        agreements = db.session.execute(sa.select(sa.func.count()).select_from(Agreement)
                                        .where(Agreement.case_id == case_id)).scalar_one()
        events = db.session.execute(sa.select(sa.func.count()).select_from(Event)
                                    .where(Event.case_id == case_id)).scalar_one()
        status = db.session.get(Case, case_id).status
        db.session.remove()
        return agreements, events, status


def final_behind_the_commands(app, w, *user_ids) -> int:
    """A final agreement whose parties' accounts were written straight into the database, as
    a draft saved before these checks existed would be: the signing must check again."""
    with app.app_context():
        a = Agreement(case_id=w.case_id, mediator_id=w.users["mediator"].id, status="final",
                      version=1, finalised_at=utcnow(), **content_with(w, *user_ids))
        db.session.add(a)
        db.session.commit()
        agreement_id = a.id
        db.session.remove()
        return agreement_id


# --- saving a draft ----------------------------------------------------------------------

@pytest.mark.parametrize("who", ["mediator", "officer", "lead", "supervisor", "lawyer",
                                 "counsellor", "other_mediator", "evaluator"])
def test_a_draft_naming_someone_elses_account_for_a_party_is_refused(app, w, who):
    before = counts(app, w.case_id)
    r = call(w, "POST", f"/api/cases/{w.case_id}/agreements", "mediator",
             content_with(w, None, w.users[who].id))
    assert r.status_code == 422, r.get_json()
    problem = r.get_json()["errors"]["parties"]["1"]["user_id"][0]
    assert problem == ("the mediator's own account cannot stand for a party" if who == "mediator"
                       else "must be the party's own account, not an official's, a provider's "
                            "or the mediator's")
    assert counts(app, w.case_id) == before  # no row, no event


def test_the_attack_one_mediator_account_on_every_party_goes_nowhere(app, w):
    before = counts(app, w.case_id)
    mine = w.users["mediator"].id
    r = call(w, "POST", f"/api/cases/{w.case_id}/agreements", "mediator", content_with(w, mine, mine))
    assert r.status_code == 422
    assert set(r.get_json()["errors"]["parties"]) == {"0", "1"}
    # Nor by editing a clean draft afterwards.
    a = call(w, "POST", f"/api/cases/{w.case_id}/agreements", "mediator", complete_content(w)).get_json()
    r = call(w, "PATCH", f"/api/agreements/{a['id']}", "mediator",
             {"version": 1, "parties": content_with(w, mine, mine)["parties"]})
    assert r.status_code == 422 and set(r.get_json()["errors"]["parties"]) == {"0", "1"}
    got = call(w, "GET", f"/api/agreements/{a['id']}", "mediator").get_json()
    assert got["version"] == 1 and all(p["user_id"] is None for p in got["parties"])
    assert counts(app, w.case_id)[2] == before[2] == "intake"


def test_unknown_deactivated_and_twice_used_accounts_are_refused(app, w):
    party = w.users["party"].id
    r = call(w, "POST", f"/api/cases/{w.case_id}/agreements", "mediator", content_with(w, party, party))
    assert r.status_code == 422
    assert r.get_json()["errors"]["parties"] == {
        "1": {"user_id": ["one account can stand for one party only"]}}
    r = call(w, "POST", f"/api/cases/{w.case_id}/agreements", "mediator", content_with(w, 987654, None))
    assert r.get_json()["errors"]["parties"]["0"]["user_id"] == ["no such account"]
    with app.app_context():
        db.session.get(User, w.users["party2"].id).active = False
        db.session.commit()
        db.session.remove()
    r = call(w, "POST", f"/api/cases/{w.case_id}/agreements", "mediator",
             content_with(w, None, w.users["party2"].id))
    assert r.get_json()["errors"]["parties"]["1"]["user_id"] == ["the account is deactivated"]
    # Two parties, each with their own account: accepted.
    r = call(w, "POST", f"/api/cases/{w.case_id}/agreements", "mediator", content_with(w, party, None))
    assert r.status_code == 201


# --- finalising and signing ------------------------------------------------------------------

def test_a_draft_with_a_bad_account_saved_before_the_checks_is_not_finalised(app, w):
    with app.app_context():
        a = Agreement(case_id=w.case_id, mediator_id=w.users["mediator"].id, status="draft",
                      version=1, **content_with(w, w.users["officer"].id, None))
        db.session.add(a)
        db.session.commit()
        agreement_id = a.id
        db.session.remove()
    r = call(w, "POST", f"/api/agreements/{agreement_id}/finalise", "mediator")
    assert r.status_code == 422
    assert list(r.get_json()["errors"]["parties"]) == ["0"]


def test_signing_re_checks_the_account_and_the_case_does_not_move(app, w):
    mine = w.users["mediator"].id
    agreement_id = final_behind_the_commands(app, w, mine, mine)
    before = counts(app, w.case_id)
    r = sign(w, agreement_id, "mediator", "party", "account", 0)
    assert r.status_code == 409
    body = r.get_json()
    assert body["current_state"] == "final"
    assert "party 1's account cannot sign for it" in body["message"]
    assert "the mediator's own account cannot stand for a party" in body["message"]
    assert sign(w, agreement_id, "mediator", "mediator", "account").status_code == 200
    assert sign(w, agreement_id, "mediator", "party", "account", 1).status_code == 409
    got = call(w, "GET", f"/api/agreements/{agreement_id}", "officer").get_json()
    assert got["status"] == "final" and [s["signer"] for s in got["signatures"]] == ["mediator"]
    assert counts(app, w.case_id)[2] == before[2] == "intake"


def test_one_account_signs_for_one_signer_only(app, w):
    party = w.users["party"].id
    agreement_id = final_behind_the_commands(app, w, party, party)
    assert sign(w, agreement_id, "party", "party", "account", 0).status_code == 200
    r = sign(w, agreement_id, "party", "party", "account", 1)
    assert r.status_code == 409
    # The database refuses it too, whatever code path writes the row.
    with app.app_context():
        db.session.add(AgreementSignature(agreement_id=agreement_id, signer="party:1", signer_name="x",
                                          method="account", user_id=party, recorded_by_id=party))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
        signed = db.session.execute(sa.select(AgreementSignature.signer).where(
            AgreementSignature.agreement_id == agreement_id)).scalars().all()
        db.session.remove()
    assert signed == ["party:0"]


def test_a_party_with_an_account_signs_for_itself_and_nobody_else(app, w):
    a = call(w, "POST", f"/api/cases/{w.case_id}/agreements", "mediator",
             content_with(w, w.users["party"].id, w.users["party2"].id)).get_json()
    assert call(w, "POST", f"/api/agreements/{a['id']}/finalise", "mediator").status_code == 200
    assert sign(w, a["id"], "party", "party", "account", 1).status_code == 403  # party2's
    assert sign(w, a["id"], "party", "mediator", "account").status_code == 403
    assert sign(w, a["id"], "mediator", "party", "account", 0).status_code == 403
    assert sign(w, a["id"], "party", "party", "account", 0).status_code == 200
    assert sign(w, a["id"], "party2", "party", "account", 1).status_code == 200
    r = sign(w, a["id"], "mediator", "mediator", "account")
    assert r.status_code == 200 and r.get_json()["status"] == "in_effect"
    assert {s["signer"]: s["user_id"] for s in r.get_json()["signatures"]} == {
        "party:0": w.users["party"].id, "party:1": w.users["party2"].id,
        "mediator": w.users["mediator"].id}


def test_in_person_signatures_are_recorded_by_an_official_who_is_not_the_mediator(app, w):
    a = call(w, "POST", f"/api/cases/{w.case_id}/agreements", "mediator", complete_content(w)).get_json()
    assert call(w, "POST", f"/api/agreements/{a['id']}/finalise", "mediator").status_code == 200
    for who in ("mediator", "lawyer", "supervisor", "stranger"):
        r = sign(w, a["id"], who, "party", "hand", 0)
        assert r.status_code == (404 if who == "stranger" else 403), who
    # Without an account a party cannot sign "through its account".
    r = sign(w, a["id"], "mediator", "party", "account", 0)
    assert r.status_code == 403 and "in person" in r.get_json()["message"]
    # The mediator has an account: he signs through it, never "in person" by someone else.
    r = sign(w, a["id"], "officer", "mediator", "hand")
    assert r.status_code == 422 and "method" in r.get_json()["errors"]
    assert sign(w, a["id"], "officer", "party", "hand", 0).status_code == 200
    r = sign(w, a["id"], "officer", "party", "fingerprint", 1)
    assert r.status_code == 200
    sigs = {s["signer"]: s for s in r.get_json()["signatures"]}
    assert {k: (s["method"], s["user_id"], s["recorded_by_id"]) for k, s in sigs.items()} == {
        "party:0": ("hand", None, w.users["officer"].id),
        "party:1": ("fingerprint", None, w.users["officer"].id)}


# --- the agreement page's forms ------------------------------------------------------------------

def test_the_draft_form_names_the_bad_account_beside_its_field(app, w, csrf_on):
    before = counts(app, w.case_id)
    me = PageClient(app).sign_in(w.users["mediator"].username)
    c = complete_content(w)
    form = {f"parties-{i}-{k}": str(p.get(k) or "") for i, p in enumerate(c["parties"])
            for k in ("name", "role", "details")}
    form.update({k: v for k, v in c.items() if k != "parties"})
    form["parties-0-user_id"] = str(w.users["mediator"].id)
    form["parties-1-user_id"] = str(w.users["officer"].id)
    r = me.post(f"/cases/{w.case_id}/agreements/new", form)
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert 'id="parties-0-user_id-error"' in html and 'id="parties-1-user_id-error"' in html
    assert "调解员本人的账户不能代表当事人" in html
    assert "须为该当事人本人的账户" in html
    assert counts(app, w.case_id) == before


def test_a_party_signs_on_the_page_and_the_mediator_cannot_record_in_person(app, w, csrf_on):
    a = call(w, "POST", f"/api/cases/{w.case_id}/agreements", "mediator",
             content_with(w, None, w.users["party"].id)).get_json()
    assert call(w, "POST", f"/api/agreements/{a['id']}/finalise", "mediator").status_code == 200
    mediator = PageClient(app).sign_in(w.users["mediator"].username)
    page = mediator.text(f"/agreements/{a['id']}")
    assert "记录现场签署" not in page  # the mediator records no one's signature
    r = mediator.post(f"/agreements/{a['id']}/sign", {"signer": "party", "party_index": "0",
                                                      "method": "hand"})
    assert r.status_code == 403
    party = PageClient(app).sign_in(w.users["party"].username)
    page = party.text(f"/agreements/{a['id']}")
    assert page.count("本人签署") == 1 and "记录现场签署" not in page
    r = party.post(f"/agreements/{a['id']}/sign", {"signer": "party", "party_index": "1",
                                                   "method": "account"},
                   token_from=f"/agreements/{a['id']}")
    assert r.status_code == 302
    got = call(w, "GET", f"/api/agreements/{a['id']}", "officer").get_json()
    assert [(s["signer"], s["user_id"]) for s in got["signatures"]] == [("party:1", w.users["party"].id)]


def test_a_party_finds_the_agreements_naming_its_account(app, w, csrf_on):
    mine = call(w, "POST", f"/api/cases/{w.case_id}/agreements", "mediator",
                content_with(w, None, w.users["party"].id)).get_json()
    draft_only = call(w, "POST", f"/api/cases/{w.case_id}/agreements", "mediator",
                      content_with(w, w.users["party"].id, None)).get_json()
    others = call(w, "POST", f"/api/cases/{w.case_id}/agreements", "mediator",
                  content_with(w, None, w.users["party2"].id)).get_json()
    for a in (mine, others):
        assert call(w, "POST", f"/api/agreements/{a['id']}/finalise", "mediator").status_code == 200
    party = PageClient(app).sign_in(w.users["party"].username)
    landing = party.get("/")
    assert landing.status_code == 302 and landing.headers["Location"].endswith("/agreements/mine")
    html = party.text("/agreements/mine")
    assert f"/agreements/{mine['id']}" in html and "待您签署" in html
    assert f"/agreements/{draft_only['id']}\"" not in html  # a draft is not shown to parties
    assert f"/agreements/{others['id']}\"" not in html
    assert party.post(f"/agreements/{mine['id']}/sign", {"signer": "party", "party_index": "1",
                                                         "method": "account"},
                      token_from=f"/agreements/{mine['id']}").status_code == 302
    assert "待您签署" not in party.text("/agreements/mine")
    # Nobody else has such a page.
    assert PageClient(app).sign_in(w.users["mediator"].username).get("/agreements/mine").status_code == 404
