"""Mediation agreements (调解协议) through the API: drafting, the statutory content, versioned
drafts, signatures (who, how, by whom), taking effect, superseding, and permissions."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from mediation import clock
from mediation.cases.models import Case
from mediation.extensions import db
from mediation.timeline import Event
from tests.factories import call, complete_content


def draft(w, **content):
    r = call(w, "POST", f"/api/cases/{w.case_id}/agreements", "mediator", content)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def final(w):
    a = draft(w, **complete_content(w))
    r = call(w, "POST", f"/api/agreements/{a['id']}/finalise", "mediator")
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def sign(w, agreement_id: int, who: str, signer: str, method: str, party_index=None):
    body = {"signer": signer, "method": method}
    if party_index is not None:
        body["party_index"] = party_index
    return call(w, "POST", f"/api/agreements/{agreement_id}/sign", who, body)


def sign_all(w, agreement_id: int):
    assert sign(w, agreement_id, "officer", "party", "fingerprint", 0).status_code == 200
    assert sign(w, agreement_id, "officer", "party", "seal", 1).status_code == 200
    r = sign(w, agreement_id, "mediator", "mediator", "account")
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def case_status(app, case_id: int) -> str:
    with app.app_context():
        return db.session.get(Case, case_id).status


def types(app, case_id: int) -> list[str]:
    with app.app_context():
        return list(db.session.execute(sa.select(Event.type).where(
            Event.case_id == case_id).order_by(Event.seq)).scalars())


def test_a_draft_names_what_it_still_lacks_and_cannot_be_finalised(w):
    a = draft(w, facts="2019年征地补偿款未足额发放。")
    assert a["status"] == "draft" and a["version"] == 1
    assert a["missing"] == sorted(["parties", "matters_in_dispute", "responsibilities", "terms",
                                   "performance_manner", "performance_time_limit"])
    r = call(w, "POST", f"/api/agreements/{a['id']}/finalise", "mediator")
    assert r.status_code == 422
    body = r.get_json()
    assert set(body["errors"]) == set(a["missing"])
    assert "performance_time_limit" in body["message"] and "terms" in body["message"]


@pytest.mark.parametrize("part", ["parties", "facts", "matters_in_dispute", "responsibilities",
                                  "terms", "performance_manner", "performance_time_limit"])
def test_each_statutory_part_is_required(w, part):
    content = complete_content(w)
    content[part] = [{"name": "张三", "details": "村民"}] if part == "parties" else "  "
    a = draft(w, **content)
    r = call(w, "POST", f"/api/agreements/{a['id']}/finalise", "mediator")
    assert r.status_code == 422 and list(r.get_json()["errors"]) == [part]


def test_a_party_without_basic_details_is_missing(w):
    content = complete_content(w)
    content["parties"][1]["details"] = ""
    a = draft(w, **content)
    r = call(w, "POST", f"/api/agreements/{a['id']}/finalise", "mediator")
    assert r.status_code == 422 and "parties" in r.get_json()["errors"]


def test_drafts_are_versioned_and_a_stale_version_is_a_conflict(app, w):
    a = draft(w)
    r = call(w, "PATCH", f"/api/agreements/{a['id']}", "mediator", {"version": 1, "facts": "事实一"})
    assert r.status_code == 200 and r.get_json()["version"] == 2
    stale = call(w, "PATCH", f"/api/agreements/{a['id']}", "mediator", {"version": 1, "facts": "事实二"})
    assert stale.status_code == 409
    assert stale.get_json()["current_state"] == {"status": "draft", "version": 2}
    got = call(w, "GET", f"/api/agreements/{a['id']}", "officer").get_json()
    assert got["facts"] == "事实一" and got["version"] == 2
    assert types(app, w.case_id).count("agreement.revised") == 1
    assert call(w, "PATCH", f"/api/agreements/{a['id']}", "mediator", {"facts": "x"}).status_code == 422


def test_from_final_through_every_signature_to_effect(app, w):
    a = final(w)
    assert a["status"] == "final" and a["missing"] == []
    assert [s["signer"] for s in a["signers"]] == ["party:0", "party:1", "mediator"]
    assert case_status(app, w.case_id) == "intake"
    done = sign_all(w, a["id"])
    assert done["status"] == "in_effect" and done["effective_at"]
    effective = dt.datetime.fromisoformat(done["effective_at"])
    # 30 of the service's (Beijing) days from the day it took effect there
    assert done["judicial_confirmation_until"] == (
        clock.local_date(effective) + dt.timedelta(days=30)).isoformat()
    assert [(s["signer"], s["method"]) for s in done["signatures"]] == [
        ("party:0", "fingerprint"), ("party:1", "seal"), ("mediator", "account")]
    assert done["signatures"][2]["user_id"] == w.users["mediator"].id
    assert done["signatures"][0]["recorded_by_id"] == w.users["officer"].id
    assert case_status(app, w.case_id) == "agreement_reached"
    tail = [t for t in types(app, w.case_id) if t.startswith(("agreement.", "case.status"))]
    assert tail == ["agreement.drafted", "agreement.finalised", "agreement.signed", "agreement.signed",
                    "agreement.signed", "agreement.in_effect", "case.status_changed",
                    "case.status_changed"]
    with app.app_context():
        moves = [e.payload["to"] for e in db.session.execute(sa.select(Event).where(
            Event.case_id == w.case_id, Event.type == "case.status_changed")).scalars()]
    assert moves == ["in_progress", "agreement_reached"]


def test_a_signed_agreement_never_changes(w):
    a = final(w)
    sign_all(w, a["id"])
    for method, path, body in (
        ("PATCH", f"/api/agreements/{a['id']}", {"version": a["version"], "terms": "改"}),
        ("POST", f"/api/agreements/{a['id']}/finalise", None),
    ):
        r = call(w, method, path, "mediator", body)
        assert r.status_code == 409 and r.get_json()["current_state"] in (
            "in_effect", {"status": "in_effect", "version": a["version"]})
    r = sign(w, a["id"], "officer", "party", "hand", 0)
    assert r.status_code == 409 and r.get_json()["current_state"] == "in_effect"


def test_final_text_cannot_be_edited(w):
    a = final(w)
    r = call(w, "PATCH", f"/api/agreements/{a['id']}", "mediator", {"version": a["version"], "terms": "改"})
    assert r.status_code == 409


def test_signing_a_draft_twice_or_for_someone_else(w):
    d = draft(w, **complete_content(w))
    r = sign(w, d["id"], "officer", "party", "hand", 0)
    assert r.status_code == 409 and r.get_json()["current_state"] == "draft"
    a = final(w)
    assert sign(w, a["id"], "officer", "party", "hand", 0).status_code == 200
    again = sign(w, a["id"], "officer", "party", "fingerprint", 0)
    assert again.status_code == 409
    # Through one's own account one signs only for oneself.
    assert sign(w, a["id"], "officer", "mediator", "account").status_code == 403
    assert sign(w, a["id"], "mediator", "party", "account", 1).status_code == 403
    # In person is recorded by an officer, not by the mediator nor another provider.
    assert sign(w, a["id"], "mediator", "party", "seal", 1).status_code == 403
    assert sign(w, a["id"], "lawyer", "party", "seal", 1).status_code == 403
    assert sign(w, a["id"], "officer", "party", "hand", 7).status_code == 422
    assert sign(w, a["id"], "mediator", "mediator", "account").status_code == 200
    assert sign(w, a["id"], "mediator", "mediator", "account").status_code == 409


def test_a_party_with_an_account_signs_through_it(app, w):
    content = complete_content(w)
    content["parties"][1]["user_id"] = w.users["party"].id
    a = draft(w, **content)
    # A party's account reads no draft and no case, only the final agreement it signs.
    assert call(w, "GET", f"/api/agreements/{a['id']}", "party").status_code == 404
    a = call(w, "POST", f"/api/agreements/{a['id']}/finalise", "mediator").get_json()
    assert call(w, "GET", f"/api/agreements/{a['id']}", "party").status_code == 200
    assert call(w, "GET", f"/api/cases/{w.case_id}", "party").status_code == 404
    r = sign(w, a["id"], "party", "party", "account", 1)
    assert r.status_code == 200
    assert r.get_json()["signatures"][0]["user_id"] == w.users["party"].id
    assert sign(w, a["id"], "party", "party", "account", 0).status_code == 403


def test_a_new_agreement_supersedes_the_one_in_effect(app, w):
    first = final(w)
    sign_all(w, first["id"])
    second = final(w)
    assert second["supersedes_id"] == first["id"]
    sign_all(w, second["id"])
    got = {a["id"]: a["status"] for a in call(w, "GET", f"/api/cases/{w.case_id}/agreements",
                                                   "officer").get_json()}
    assert got == {first["id"]: "superseded", second["id"]: "in_effect"}
    assert case_status(app, w.case_id) == "agreement_reached"
    assert "agreement.superseded" in types(app, w.case_id)


def test_who_drafts_edits_and_sees_agreements(w):
    for who, status in (("officer", 403), ("lawyer", 403), ("other_mediator", 404),
                        ("stranger", 404), ("evaluator", 404)):
        r = call(w, "POST", f"/api/cases/{w.case_id}/agreements", who, complete_content(w))
        assert r.status_code == status, who
    a = draft(w)
    path = f"/api/agreements/{a['id']}"
    for who in ("officer", "supervisor", "lawyer", "mediator"):
        assert call(w, "GET", path, who).status_code == 200, who
        assert call(w, "GET", f"/api/cases/{w.case_id}/agreements", who).status_code == 200
    for who in ("stranger", "other_mediator", "evaluator", "counsellor"):
        assert call(w, "GET", path, who).status_code == 404, who
        assert call(w, "GET", f"/api/cases/{w.case_id}/agreements", who).status_code == 404
        assert call(w, "PATCH", path, who, {"version": 1}).status_code == 404
        assert call(w, "POST", f"{path}/finalise", who).status_code == 404
        assert sign(w, a["id"], who, "mediator", "account").status_code == 404
    for who in ("officer", "lawyer"):
        assert call(w, "PATCH", path, who, {"version": 1, "facts": "x"}).status_code == 403
        assert call(w, "POST", f"{path}/finalise", who).status_code == 403
    assert call(w, "GET", "/api/agreements/999999", "officer").status_code == 404
    assert w.api.get(path).status_code == 401


def test_an_agreement_names_a_session_of_its_own_case_only(w):
    r = call(w, "POST", f"/api/cases/{w.case_id}/agreements", "mediator", {"session_id": 999999})
    assert r.status_code == 422 and "session_id" in r.get_json()["errors"]
