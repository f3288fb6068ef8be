"""The parties' consent to mediation and the respondent's own channel.

People's mediation (a mediator of a people's mediation committee) starts only once every
petitioner taking part and every respondent entered on the case has consented: on the
public query page with their own code, or recorded by an officer from a signed paper or an
oral consent written into the record (who, when, how; on the timeline). Start otherwise is
a 409 naming each missing consent. Other mediation types have no such rule.
"""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa

from mediation import clock
from mediation.extensions import db
from mediation.timeline import Event
from referrals.models import Provider
from tests.factories import call, session_body
from tests.page_client import PageClient

RESPONDENT_PHONE = "13700137000"


def _schedule(w) -> int:
    r = call(w, "POST", f"/api/cases/{w.case_id}/sessions", "mediator", session_body(w))
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def _respondent(w, phone: str = RESPONDENT_PHONE) -> dict:
    r = call(w, "POST", f"/api/cases/{w.case_id}/respondents", "officer",
             {"name": "李四", "unit": "锦江区某物业公司", "phone": phone})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _events(app, case_id: int, type_: str) -> list[Event]:
    with app.app_context():
        rows = db.session.execute(sa.select(Event).where(Event.case_id == case_id, Event.type == type_)
                                  .order_by(Event.seq)).scalars().all()
        db.session.expunge_all()
        return rows


def test_a_peoples_mediation_session_starts_only_with_every_partys_consent(app, w):
    sid = _schedule(w)
    resp = _respondent(w)
    assert resp["phone"] == "*******7000" and resp["consent"] is None
    r = call(w, "POST", f"/api/sessions/{sid}/start", "mediator")
    assert r.status_code == 409, r.get_json()
    body = r.get_json()
    assert body["current_state"] == "scheduled"
    assert [(m["party"], m["id"]) for m in body["missing_consents"]] == [
        ("petitioner", w.petitioner_id), ("respondent", resp["id"])]
    assert "张三" in body["message"] and "李四" in body["message"]
    # The officer records the petitioner's signed consent: who, when, how.
    path = f"/api/cases/{w.case_id}/consents"
    yesterday = (clock.today() - dt.timedelta(days=1)).isoformat()
    tomorrow = (clock.today() + dt.timedelta(days=1)).isoformat()
    for bad, field in (({"petitioner_id": w.petitioner_id, "method": "telepathy"}, "method"),
                       ({"petitioner_id": w.petitioner_id, "method": "written", "given_on": tomorrow},
                        "given_on"),
                       ({"petitioner_id": w.bare_petitioner_id, "method": "written"}, "petitioner_id"),
                       ({"method": "written"}, "petitioner_id"),
                       ({"petitioner_id": w.petitioner_id, "respondent_id": resp["id"], "method": "oral"},
                        "petitioner_id")):
        r = call(w, "POST", path, "officer", bad)
        assert r.status_code == 422 and field in r.get_json()["errors"], (bad, r.get_json())
    assert call(w, "POST", path, "lawyer", {"petitioner_id": w.petitioner_id, "method": "written"}
                ).status_code == 403
    assert call(w, "POST", path, "stranger", {"petitioner_id": w.petitioner_id, "method": "written"}
                ).status_code == 404
    r = call(w, "POST", path, "officer", {"petitioner_id": w.petitioner_id, "method": "written",
                                          "given_on": yesterday, "note": "同意书原件存卷"})
    assert r.status_code == 201, r.get_json()
    got = r.get_json()
    assert (got["method"], got["given_on"], got["recorded_by_id"]) == ("written", yesterday,
                                                                      w.users["officer"].id)
    again = call(w, "POST", path, "officer", {"petitioner_id": w.petitioner_id, "method": "oral"})
    assert again.status_code == 409 and again.get_json()["current_state"] == "consented"
    [ev] = _events(app, w.case_id, "petitioner.consented")
    assert ev.payload == {"petitioner_id": w.petitioner_id, "via": "written", "given_on": yesterday}
    assert ev.actor_id == w.users["officer"].id
    # Still the respondent's missing.
    r = call(w, "POST", f"/api/sessions/{sid}/start", "mediator")
    assert r.status_code == 409 and [m["party"] for m in r.get_json()["missing_consents"]] == ["respondent"]
    r = call(w, "POST", path, "officer", {"respondent_id": resp["id"], "method": "oral"})
    assert r.status_code == 201
    parties = call(w, "GET", f"/api/cases/{w.case_id}/parties", "officer").get_json()
    assert [p["consent"]["method"] for p in parties["petitioners"]] == ["written"]
    assert [p["consent"]["method"] for p in parties["respondents"]] == ["oral"]
    assert call(w, "GET", f"/api/cases/{w.case_id}/parties", "lawyer").status_code == 403
    assert call(w, "POST", f"/api/sessions/{sid}/start", "mediator").status_code == 200


def test_a_session_without_petitioners_needs_only_the_entered_respondents(app, w):
    r = call(w, "POST", f"/api/cases/{w.case_id}/sessions", "mediator",
             session_body(w, petitioner_ids=[]))
    sid = r.get_json()["id"]
    assert call(w, "POST", f"/api/sessions/{sid}/start", "mediator").status_code == 200


def test_other_mediation_types_follow_their_own_rules(app, w):
    with app.app_context():
        db.session.execute(sa.update(Provider).where(Provider.kind == "mediator")
                           .values(mediation_type="administrative"))
        db.session.commit()
    sid = _schedule(w)
    assert call(w, "POST", f"/api/sessions/{sid}/start", "mediator").status_code == 200


def _lookup(page: PageClient, code: str, tail: str):
    return page.post("/q", {"code": code, "phone_tail": tail}, token_from="/q")


def test_the_respondent_has_its_own_code_sees_the_session_and_consents(app, w, csrf_on):
    sid = _schedule(w)
    resp = _respondent(w)
    r = call(w, "POST", f"/api/cases/{w.case_id}/receipts", "officer", {"respondent_id": resp["id"]})
    assert r.status_code == 201, r.get_json()
    notice = r.get_json()
    assert notice["party"] == "respondent" and notice["respondent_id"] == resp["id"]
    assert notice["name"] == "李四" and notice["petitioner_id"] is None
    assert call(w, "POST", f"/api/cases/{w.case_id}/receipts", "officer",
                {"petitioner_id": w.petitioner_id, "respondent_id": resp["id"]}).status_code == 422
    page = PageClient(app)
    # The petitioner's phone does not open the respondent's code; the respondent's does.
    assert _lookup(page, notice["code"], "8000").status_code == 404
    assert _lookup(page, notice["code"], RESPONDENT_PHONE[-4:]).status_code == 302
    html = page.text("/q/case")
    assert 'id="session-info"' in html and "锦江区人民调解委员会调解室" in html
    assert "张三" not in html and 'id="consent-button"' in html
    assert page.post("/q/consent", token_from="/q/case").status_code == 302
    assert 'id="consent-given"' in page.text("/q/case")
    [ev] = _events(app, w.case_id, "petitioner.consented")
    assert ev.payload == {"respondent_id": resp["id"], "via": "query_page"} and ev.actor_id is None
    # The respondent's consent counts; the petitioner's is still missing.
    r = call(w, "POST", f"/api/sessions/{sid}/start", "mediator")
    assert [m["party"] for m in r.get_json()["missing_consents"]] == ["petitioner"]
    parties = call(w, "GET", f"/api/cases/{w.case_id}/parties", "officer").get_json()
    assert parties["respondents"][0]["consent"]["method"] == "query_page"


def test_respondents_are_checked(w):
    path = f"/api/cases/{w.case_id}/respondents"
    r = call(w, "POST", path, "officer", {"name": "  ", "phone": "12345"})
    assert r.status_code == 422 and {"name", "phone"} <= set(r.get_json()["errors"])
    assert call(w, "POST", path, "lawyer", {"name": "李四"}).status_code == 403
    assert call(w, "POST", path, "stranger", {"name": "李四"}).status_code == 404
    no_phone = call(w, "POST", path, "officer", {"name": "王五"}).get_json()
    r = call(w, "POST", f"/api/cases/{w.case_id}/receipts", "officer", {"respondent_id": no_phone["id"]})
    assert r.status_code == 422 and "respondent_id" in r.get_json()["errors"]


def test_the_officer_records_consent_and_enters_a_respondent_on_the_case_page(app, w, csrf_on):
    page = PageClient(app).sign_in(w.users["officer"].username)
    case_path = f"/cases/{w.case_id}"
    part = page.text(f"{case_path}?part=case_receipt")
    assert "data-consent-missing" in part and "data-record-consent" in part
    r = page.post(f"{case_path}/respondents", {"name": "李四", "unit": "物业公司", "phone": "123"},
                  token_from=case_path)
    assert r.status_code == 302
    assert "尚未登记被申请人" in page.text(f"{case_path}?part=case_receipt")  # refused: a bad phone
    assert page.post(f"{case_path}/respondents", {"name": "李四", "unit": "物业公司",
                                                  "phone": RESPONDENT_PHONE}, token_from=case_path
                     ).status_code == 302
    r = page.post(f"{case_path}/consents", {"petitioner_id": str(w.petitioner_id), "method": "written",
                                            "given_on": clock.today().isoformat(), "note": ""},
                  token_from=case_path)
    assert r.status_code == 302 and r.headers["Location"].endswith("#case_receipt")
    part = page.text(f"{case_path}?part=case_receipt")
    li = re.search(rf'<li data-petitioner="{w.petitioner_id}">(.*?)</li>', part, re.S).group(1)
    assert "书面同意" in li and "data-consented" in li and "data-record-consent" not in li
    assert re.search(r'<li data-respondent="\d+">李四（物业公司）', part)
    # The respondent's printable notice of mediation, with its code.
    rid = int(re.search(r'<li data-respondent="(\d+)">', part).group(1))
    r = page.post(f"{case_path}/receipt", {"respondent_id": str(rid)}, token_from=case_path)
    assert r.status_code == 200
    notice = r.get_data(as_text=True)
    assert "调解告知书" in notice and "受理告知书" not in notice and 'id="receipt-code"' in notice
    assert "李四" in notice
    # Someone who may not edit the case has no such section, nor the forms.
    lawyer = PageClient(app).sign_in(w.users["lawyer"].username)
    assert lawyer.get(f"{case_path}?part=case_receipt").status_code == 404
    r = lawyer.post(f"{case_path}/consents", {"petitioner_id": str(w.petitioner_id), "method": "oral"},
                    token_from="/")
    assert r.status_code == 302
    assert len(_events(app, w.case_id, "petitioner.consented")) == 1
