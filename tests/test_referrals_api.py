"""The referrals API end to end, with permissions, on the suite's database."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from mediation.extensions import db
from tests.factories import World


@pytest.fixture
def setup(api):
    """An admin, an officer of 锦江区, a case there, and a directory made through the API."""
    admin = api.user("admin")
    officer = api.user("case_officer", "510104")
    mediators = [api.user("mediator") for _ in range(2)]
    lawyer = api.user("lawyer")
    counsellor = api.user("counsellor")
    union = api.user("mass_org")

    def provider(user, **body):
        r = api.post("/api/providers", admin, {"regions": ["510104"], "capacity": 2,
                                                "user_ids": [user.id], **body})
        assert r.status_code == 201, r.get_json()
        return r.get_json()

    p_med = [provider(u, name=f"调解员{i}", kind="mediator", mediation_type="people")
             for i, u in enumerate(mediators)]
    p_law = provider(lawyer, name="律师", kind="lawyer", specialities=["land_demolition"])
    p_cou = provider(counsellor, name="心理咨询师", kind="counsellor")
    p_uni = provider(union, name="区总工会", kind="trade_union")
    case = api.case(officer, needs=["economic_compensation", "legal_opinion", "counselling",
                                    "group_support"])
    return World({"admin": admin, "officer": officer, "lawyer": lawyer, "counsellor": counsellor,
                  "union": union}, mediators=mediators, p_med=p_med, p_law=p_law, p_cou=p_cou,
                 p_uni=p_uni, case=case, cid=case["id"])


def refer(api, s, need, **body):
    r = api.post(f"/api/cases/{s.cid}/referrals", s.officer, {"need": need, **body})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def owner_of(s, referral):
    for p, u in [*zip(s.p_med, s.mediators, strict=True), (s.p_law, s.lawyer),
                 (s.p_cou, s.counsellor), (s.p_uni, s.union)]:
        if p["id"] == referral["provider"]["id"]:
            return u
    raise AssertionError("no owner")


def test_openapi_documents_every_referrals_path(api):
    paths = api.get("/api/openapi.json").get_json()["paths"]
    for path in ("/api/providers", "/api/providers/{provider_id}",
                 "/api/cases/{case_id}/candidates", "/api/cases/{case_id}/referrals",
                 "/api/cases/{case_id}/routing", "/api/referrals", "/api/referrals/{referral_id}",
                 "/api/referrals/{referral_id}/accept", "/api/referrals/{referral_id}/decline",
                 "/api/referrals/{referral_id}/withdraw", "/api/referrals/{referral_id}/complete",
                 "/api/cases/{case_id}/opinions", "/api/cases/{case_id}/counselling-notes",
                 "/api/counselling-notes/{note_id}", "/api/cases/{case_id}/support-records"):
        assert path in paths, path


# --- the directory ---------------------------------------------------------------------------

def test_directory_create_validates_and_guards(api, setup):
    admin, officer = setup.admin, setup.officer
    body = {"name": "x", "kind": "mediator", "mediation_type": "people", "regions": ["5101"]}
    assert api.post("/api/providers", officer, body).status_code == 403
    assert api.post("/api/providers", None, body).status_code == 401
    r = api.post("/api/providers", admin, body | {"kind": "wizard"})
    assert r.status_code == 422 and "kind" in r.get_json()["errors"]
    r = api.post("/api/providers", admin, body | {"mediation_type": None})
    assert r.status_code == 422 and "mediation_type" in r.get_json()["errors"]
    r = api.post("/api/providers", admin, body | {"regions": ["00"]})
    assert r.status_code == 422 and "regions" in r.get_json()["errors"]
    r = api.post("/api/providers", admin, body | {"user_ids": [setup.lawyer.id]})
    assert r.status_code == 422 and "user_ids" in r.get_json()["errors"]  # a lawyer is not a mediator
    r = api.post("/api/providers", admin, body | {"user_ids": [setup.mediators[0].id]})
    assert r.status_code == 422 and "already acts for" in r.get_json()["errors"]["user_ids"][0]
    sup = api.user("supervisor", "5102")
    r = api.post("/api/providers", sup, body)
    assert r.status_code == 422 and "outside your jurisdiction" in r.get_json()["errors"]["regions"][0]
    r = api.post("/api/providers", sup, body | {"regions": ["510201"]})
    assert r.status_code == 201 and r.get_json()["regions"] == ["510201"]


def test_directory_listing_and_visibility(api, setup):
    officer = setup.officer
    page = api.get("/api/providers", officer).get_json()
    assert page["total"] == 5
    assert api.get("/api/providers?kind=lawyer", officer).get_json()["total"] == 1
    assert api.get("/api/providers?need=group_support", officer).get_json()["total"] == 1
    assert api.get("/api/providers?region=510104", officer).get_json()["total"] == 5
    assert api.get("/api/providers?region=5201", officer).get_json()["total"] == 0
    assert api.get("/api/providers?kind=wizard", officer).status_code == 422
    mine = api.get("/api/providers", setup.lawyer).get_json()
    assert [p["id"] for p in mine["items"]] == [setup.p_law["id"]]
    assert api.get(f"/api/providers/{setup.p_law['id']}", setup.lawyer).status_code == 200
    assert api.get(f"/api/providers/{setup.p_med[0]['id']}", setup.lawyer).status_code == 404
    assert api.get("/api/providers", api.user("evaluator")).get_json()["total"] == 0
    assert api.get("/api/providers/999999", officer).status_code == 404


def test_directory_patch_by_editors_and_availability_by_the_provider(api, setup):
    pid = setup.p_med[0]["id"]
    me = setup.mediators[0]
    r = api.patch(f"/api/providers/{pid}", setup.admin,
                  {"capacity": 4, "regions": ["510104", "5101"], "specialities": ["education"]})
    assert r.status_code == 200
    assert (r.get_json()["capacity"], r.get_json()["regions"]) == (4, ["510100", "510104"])
    r = api.patch(f"/api/providers/{pid}", me, {"available": False, "away_until": "2030-01-01"})
    assert r.status_code == 200 and r.get_json()["available"] is False
    assert api.patch(f"/api/providers/{pid}", me, {"capacity": 40}).status_code == 403
    assert api.patch(f"/api/providers/{pid}", setup.officer, {"available": True}).status_code == 403
    assert api.patch(f"/api/providers/{pid}", setup.lawyer, {"available": True}).status_code == 404
    assert api.patch(f"/api/providers/{pid}", setup.admin, {"kind": "lawyer"}).status_code == 422


# --- candidates and offers -------------------------------------------------------------------

def test_candidates_are_ranked_with_reasons(api, setup):
    r = api.get(f"/api/cases/{setup.cid}/candidates?need=economic_compensation", setup.officer)
    assert r.status_code == 200
    body = r.get_json()
    assert body["kinds"] == ["mediator"]
    assert [c["rank"] for c in body["candidates"]] == [1, 2]
    assert {c["provider_id"] for c in body["candidates"]} == {p["id"] for p in setup.p_med}
    assert {"region", "speciality", "load", "acceptance", "idle"} <= set(body["candidates"][0]["reasons"])
    assert api.get(f"/api/cases/{setup.cid}/candidates?need=magic",
                   setup.officer).status_code == 422
    assert api.get(f"/api/cases/{setup.cid}/candidates", setup.officer).status_code == 422
    assert api.get(f"/api/cases/{setup.cid}/candidates?need=counselling",
                   setup.lawyer).status_code == 404


def test_candidates_show_who_is_excluded_and_why(api, setup):
    pid = setup.p_med[0]["id"]
    api.patch(f"/api/providers/{pid}", setup.admin, {"conflicts": ["张三"]})
    body = api.get(f"/api/cases/{setup.cid}/candidates?need=economic_compensation",
                   setup.officer).get_json()
    assert [c["provider_id"] for c in body["candidates"]] == [setup.p_med[1]["id"]]
    assert body["excluded"] == [{"provider_id": pid, "name": "调解员0", "reasons": [
        {"code": "conflict", "message": "declared a conflict of interest with 张三"}]}]


def test_offer_bad_input(api, setup):
    url = f"/api/cases/{setup.cid}/referrals"
    officer = setup.officer
    r = api.post(url, officer, {"need": "magic"})
    assert r.status_code == 422 and "need" in r.get_json()["errors"]
    assert api.post(url, officer, {}).status_code == 422
    r = api.post(url, officer, {"need": "legal_opinion", "provider_id": setup.p_med[0]["id"]})
    assert r.status_code == 422
    assert r.get_json()["errors"]["provider_id"] == [
        "kind: a mediator does not take legal_opinion referrals",
        "speciality: has none of the case's fields (land_demolition)"]
    r = api.post(url, officer, {"need": "economic_compensation", "provider_id": 999999})
    assert r.status_code == 422 and r.get_json()["errors"]["provider_id"][0].startswith("unknown")
    assert api.post(url, setup.lawyer, {"need": "legal_opinion"}).status_code == 404
    assert api.post("/api/cases/999999/referrals", officer, {"need": "legal_opinion"}).status_code == 404


def test_offer_with_nobody_free_is_a_conflict_that_leaves_the_need_waiting(api, setup):
    api.patch(f"/api/providers/{setup.p_cou['id']}", setup.admin, {"available": False})
    r = api.post(f"/api/cases/{setup.cid}/referrals", setup.officer, {"need": "counselling"})
    assert r.status_code == 409
    assert r.get_json()["current_state"]["state"] == "waiting"
    case = api.get(f"/api/cases/{setup.cid}", setup.officer).get_json()
    assert "escalated" in case["flags"]
    routing = api.get(f"/api/cases/{setup.cid}/routing", setup.officer).get_json()
    states = {n["need"]: n["state"] for n in routing["needs"]}
    assert states == {"economic_compensation": "unrouted", "legal_opinion": "unrouted",
                      "counselling": "waiting", "group_support": "unrouted"}
    # The counsellor comes back; the embedded sweep offers what waits.
    api.patch(f"/api/providers/{setup.p_cou['id']}", setup.counsellor, {"available": True})
    from referrals.routing import sweep

    with api.app.app_context():
        sweep()
    r = api.get("/api/referrals?mine=1", setup.counsellor).get_json()
    assert [x["status"] for x in r["items"]] == ["offered"]


def test_confirm_routing_offers_every_need(api, setup):
    r = api.post(f"/api/cases/{setup.cid}/routing", setup.officer)
    assert r.status_code == 200
    states = {n["need"]: n["state"] for n in r.get_json()["needs"]}
    assert set(states.values()) == {"offered"}
    offered = api.get("/api/referrals?need=economic_compensation", setup.officer).get_json()
    mediator = owner_of(setup, offered["items"][0])  # sees the case, may not route it
    assert api.post(f"/api/cases/{setup.cid}/routing", mediator).status_code == 403
    assert api.get(f"/api/cases/{setup.cid}/routing", mediator).status_code == 403


# --- the lifecycle over HTTP -----------------------------------------------------------------

def test_accept_twice_is_a_conflict_and_others_get_not_found(api, setup):
    ref = refer(api, setup, "economic_compensation")
    me = owner_of(setup, ref)
    other = next(u for u in setup.mediators if u.id != me.id)
    assert api.post(f"/api/referrals/{ref['id']}/accept", other).status_code == 404
    assert api.post(f"/api/referrals/{ref['id']}/accept", setup.officer).status_code == 404
    assert api.post(f"/api/referrals/{ref['id']}/accept", None).status_code == 401
    r = api.post(f"/api/referrals/{ref['id']}/accept", me)
    assert r.status_code == 200 and r.get_json()["status"] == "accepted"
    r = api.post(f"/api/referrals/{ref['id']}/accept", me)
    assert r.status_code == 409 and r.get_json()["current_state"] == "accepted"
    assert api.post("/api/referrals/999999/accept", me).status_code == 404


def test_decline_needs_a_reason(api, setup):
    ref = refer(api, setup, "economic_compensation")
    me = owner_of(setup, ref)
    url = f"/api/referrals/{ref['id']}/decline"
    r = api.post(url, me, {})
    assert r.status_code == 422 and "reason" in r.get_json()["errors"]
    assert api.post(url, me, {"reason": "bored"}).status_code == 422
    r = api.post(url, me, {"reason": "other"})
    assert r.status_code == 422 and "note" in r.get_json()["errors"]
    r = api.post(url, me, {"reason": "conflict_of_interest", "note": "knows the petitioner"})
    assert r.status_code == 200 and r.get_json()["decline_reason"] == "conflict_of_interest"
    # The need went to the other mediator.
    other = next(u for u in setup.mediators if u.id != me.id)
    inbox = api.get("/api/referrals?mine=1&status=offered", other).get_json()["items"]
    assert len(inbox) == 1 and inbox[0]["attempt"] == 2


def test_withdraw_and_complete(api, setup):
    ref = refer(api, setup, "group_support")
    union = setup.union
    assert ref["provider"]["id"] == setup.p_uni["id"]
    r = api.post(f"/api/referrals/{ref['id']}/withdraw", setup.officer, {})
    assert r.status_code == 422
    r = api.post(f"/api/referrals/{ref['id']}/withdraw", setup.lawyer, {"reason": "x"})
    assert r.status_code == 404
    r = api.post(f"/api/referrals/{ref['id']}/withdraw", setup.officer, {"reason": "duplicate"})
    assert r.status_code == 200 and r.get_json()["status"] == "withdrawn"
    ref = refer(api, setup, "group_support")
    assert api.post(f"/api/referrals/{ref['id']}/complete", union,
                    {"outcome": "resolved"}).get_json()["current_state"] == "offered"
    api.post(f"/api/referrals/{ref['id']}/accept", union)
    assert api.post(f"/api/referrals/{ref['id']}/complete", union, {}).status_code == 422
    assert api.post(f"/api/referrals/{ref['id']}/complete", union, {"outcome": "meh"}).status_code == 422
    r = api.post(f"/api/referrals/{ref['id']}/complete", union,
                 {"outcome": "service_given", "note": "援助已落实"})
    assert r.status_code == 200 and r.get_json()["outcome"] == "service_given"
    r = api.post(f"/api/referrals/{ref['id']}/withdraw", setup.officer, {"reason": "late"})
    assert r.status_code == 409 and r.get_json()["current_state"] == "completed"


def test_referral_lists_and_items_by_who_asks(api, setup):
    ref = refer(api, setup, "economic_compensation")
    law = refer(api, setup, "legal_opinion")
    me = owner_of(setup, ref)
    officer = setup.officer
    staff = api.get("/api/referrals", officer).get_json()
    assert staff["total"] == 2
    assert api.get("/api/referrals?status=offered&need=legal_opinion",
                   officer).get_json()["total"] == 1
    assert api.get("/api/referrals?mine=1", officer).get_json()["total"] == 0
    mine = api.get("/api/referrals?mine=1", me).get_json()
    assert [x["id"] for x in mine["items"]] == [ref["id"]]
    assert api.get("/api/referrals", me).get_json()["total"] == 1  # providers see only theirs
    assert api.get(f"/api/referrals/{ref['id']}", me).status_code == 200
    assert api.get(f"/api/referrals/{law['id']}", me).status_code == 404
    assert api.get(f"/api/referrals/{law['id']}", officer).status_code == 200
    case_refs = api.get(f"/api/cases/{setup.cid}/referrals", officer).get_json()
    assert {x["id"] for x in case_refs} == {ref["id"], law["id"]}
    assert [x["id"] for x in api.get(f"/api/cases/{setup.cid}/referrals", me).get_json()] == [ref["id"]]


def test_a_provider_sees_the_case_only_while_its_referral_is_live(api, setup):
    ref = refer(api, setup, "economic_compensation")
    me = owner_of(setup, ref)
    other = next(u for u in setup.mediators if u.id != me.id)
    assert api.get(f"/api/cases/{setup.cid}", other).status_code == 404
    case = api.get(f"/api/cases/{setup.cid}", me)
    assert case.status_code == 200
    assert "510104198001011234" not in case.get_data(as_text=True)  # masked for providers
    api.post(f"/api/referrals/{ref['id']}/decline", me, {"reason": "capacity"})
    assert api.get(f"/api/cases/{setup.cid}", me).status_code == 404
    far_officer = api.user("case_officer", "5201")
    assert api.get(f"/api/referrals/{ref['id']}", far_officer).status_code == 404
    assert api.get(f"/api/cases/{setup.cid}/referrals", far_officer).status_code == 404


# --- what referrals produce ------------------------------------------------------------------

OPINION = {"summary": "征收补偿标准适用错误", "recommendation": "按新标准重新核算",
           "legal_basis": [{"law": "土地管理法", "article": "第四十八条"}]}


def test_only_a_lawyer_with_an_accepted_referral_posts_an_opinion(api, setup):
    url = f"/api/cases/{setup.cid}/opinions"
    lawyer = setup.lawyer
    assert api.post(url, lawyer, OPINION).status_code == 404  # no referral: cannot see the case
    law = refer(api, setup, "legal_opinion")
    assert api.post(url, lawyer, OPINION).status_code == 403  # offered, not accepted
    api.post(f"/api/referrals/{law['id']}/accept", lawyer)
    assert api.post(url, lawyer, OPINION | {"legal_basis": []}).status_code == 422
    assert api.post(url, lawyer, {"summary": "x"}).status_code == 422
    r = api.post(url, lawyer, OPINION)
    assert r.status_code == 201 and r.get_json()["referral_id"] == law["id"]
    assert api.post(url, setup.officer, OPINION).status_code == 403
    med = refer(api, setup, "economic_compensation")
    mediator = owner_of(setup, med)
    api.post(f"/api/referrals/{med['id']}/accept", mediator)
    assert api.post(url, mediator, OPINION).status_code == 403  # a mediator is no lawyer
    listed = api.get(url, setup.officer).get_json()
    assert [o["summary"] for o in listed] == [OPINION["summary"]]
    assert api.get(url, mediator).status_code == 200
    events = api.get(f"/api/cases/{setup.cid}/timeline", setup.officer).get_json()["events"]
    posted = [e for e in events if e["type"] == "opinion.posted"]
    assert posted[0]["data"]["legal_basis"] == OPINION["legal_basis"]


SECRET = "来访人自述长期失眠，对补偿结果有强烈不满情绪"


def test_counselling_notes_are_confidential(api, setup):
    url = f"/api/cases/{setup.cid}/counselling-notes"
    counsellor = setup.counsellor
    ref = refer(api, setup, "counselling")
    note = {"session_on": "2025-05-01", "risk_level": "high", "content": SECRET}
    assert api.post(url, counsellor, note).status_code == 403
    api.post(f"/api/referrals/{ref['id']}/accept", counsellor)
    assert api.post(url, counsellor, note | {"risk_level": "extreme"}).status_code == 422
    r = api.post(url, counsellor, note)
    assert r.status_code == 201 and r.get_json()["content"] == SECRET
    nid = r.get_json()["id"]
    # The officer sees that a session took place and the risk level, never the content.
    seen = api.get(url, setup.officer)
    assert [(n["session_on"], n["risk_level"]) for n in seen.get_json()] == [("2025-05-01", "high")]
    assert SECRET not in seen.get_data(as_text=True)
    item = api.get(f"/api/counselling-notes/{nid}", setup.officer)
    assert item.status_code == 200 and "content" not in item.get_json()
    assert api.get(f"/api/counselling-notes/{nid}", counsellor).get_json()["content"] == SECRET
    # Other providers on the case see nothing of it.
    law = refer(api, setup, "legal_opinion")
    api.post(f"/api/referrals/{law['id']}/accept", setup.lawyer)
    assert api.get(url, setup.lawyer).get_json() == []
    assert api.get(f"/api/counselling-notes/{nid}", setup.lawyer).status_code == 404
    lawyer_timeline = api.get(f"/api/cases/{setup.cid}/timeline", setup.lawyer).get_json()
    assert "counselling.session_recorded" not in {e["type"] for e in lawyer_timeline["events"]}
    # The content is in no event, no envelope, and not in the database in clear.
    timeline = api.get(f"/api/cases/{setup.cid}/timeline", setup.officer)
    assert SECRET not in timeline.get_data(as_text=True)
    recorded = [e for e in timeline.get_json()["events"] if e["type"] == "counselling.session_recorded"]
    assert recorded[0]["data"] == {"note_id": nid, "referral_id": ref["id"],
                                   "session_on": "2025-05-01", "risk_level": "high"}
    with api.app.app_context():
        from mediation.timeline import Event
        from referrals.models import CounsellingNote

        assert all(SECRET not in json.dumps(e.envelope(), ensure_ascii=False)
                   for e in db.session.execute(sa.select(Event)).scalars())
        stored = db.session.execute(sa.select(CounsellingNote.content_enc)).scalar_one()
        assert SECRET not in stored
        db.session.remove()


def test_support_records_by_the_mass_organisation(api, setup):
    url = f"/api/cases/{setup.cid}/support-records"
    union = setup.union
    ref = refer(api, setup, "group_support")
    body = {"kind": "financial_assistance", "given_on": "2025-05-02", "description": "困难帮扶金"}
    assert api.post(url, union, body).status_code == 403
    api.post(f"/api/referrals/{ref['id']}/accept", union)
    assert api.post(url, union, body | {"kind": "cash"}).status_code == 422
    assert api.post(url, union, body | {"given_on": "2999-01-01"}).status_code == 422
    r = api.post(url, union, body)
    assert r.status_code == 201 and r.get_json()["kind"] == "financial_assistance"
    assert [x["description"] for x in api.get(url, setup.officer).get_json()] == ["困难帮扶金"]
    assert api.get(url, setup.mediators[0]).status_code == 404
    events = api.get(f"/api/cases/{setup.cid}/timeline", setup.officer).get_json()["events"]
    assert "support.recorded" in [e["type"] for e in events]
