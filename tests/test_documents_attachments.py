"""Documents attached to the case's records: an investigation, a session, an agreement, a
performance item, a legal opinion. Who may attach is the record's keeper; who reads is
whoever may read the record; a record that takes no more papers is 409."""

from __future__ import annotations

import pytest

from mediation.documents.storage import store
from tests.factories import call, complete_content, later, pdf_bytes, png_bytes, session_body, upload


@pytest.fixture(autouse=True)
def _empty_store(app):
    yield
    with app.app_context():
        for key, _ in list(store().listing()):
            store().delete(key)


def attach(w, who, target: str, name: str = "附件.pdf", content: bytes | None = None, kind: str = "other"):
    return upload(w.api, w.users[who], w.case_id, [(name, content or pdf_bytes(name))], kind=kind,
                  attach_to=target)


def test_investigation_session_and_opinion_attachments(app, w):
    r = call(w, "POST", f"/api/cases/{w.case_id}/investigations", "officer", {
        "method": "on_site_check", "conducted_on": "2025-01-02", "findings": "现场核查"})
    investigation_id = r.get_json()["dossier"]["investigations"][-1]["id"]
    r = attach(w, "officer", f"investigation:{investigation_id}", "现场照片.png", png_bytes(), "site_photo")
    assert r.status_code == 201, r.get_json()
    doc = r.get_json()[0]
    assert (doc["attached_type"], doc["attached_id"]) == ("investigation", investigation_id)
    assert attach(w, "mediator", f"investigation:{investigation_id}").status_code == 403

    # A session's minutes: its mediator attaches them; the lawyer who is not in the session
    # does not read them, the officer does.
    session = call(w, "POST", f"/api/cases/{w.case_id}/sessions", "mediator",
                   session_body(w, user_ids=[])).get_json()
    r = attach(w, "mediator", f"session:{session['id']}", "调解笔录.pdf", kind="mediation_minutes")
    assert r.status_code == 201, r.get_json()
    minutes = r.get_json()[0]
    assert w.api.get(minutes["url"], w.officer).status_code == 200
    assert w.api.get(minutes["url"], w.mediator).status_code == 200
    assert w.api.get(minutes["url"], w.lawyer).status_code == 404
    names = [d["name"] for d in w.api.get(f"/api/cases/{w.case_id}/documents", w.lawyer).get_json()]
    assert "调解笔录.pdf" not in names and "现场照片.png" in names
    assert attach(w, "lawyer", f"session:{session['id']}").status_code == 404
    # Nor does the timeline tell the lawyer of the minutes (their name is the record's too).
    seen = [e["data"]["name"] for e in w.api.get(f"/api/cases/{w.case_id}/timeline", w.lawyer)
            .get_json()["events"] if e["type"] == "document.added"]
    assert seen == ["现场照片.png"]
    seen = [e["data"]["name"] for e in w.api.get(f"/api/cases/{w.case_id}/timeline", w.mediator)
            .get_json()["events"] if e["type"] == "document.added"]
    assert seen == ["现场照片.png", "调解笔录.pdf"]

    # A cancelled session takes no more papers.
    assert call(w, "POST", f"/api/sessions/{session['id']}/cancel", "mediator",
                {"reason": "改期"}).status_code == 200
    r = attach(w, "mediator", f"session:{session['id']}")
    assert r.status_code == 409 and r.get_json()["current_state"] == "cancelled"

    # A lawyer's opinion takes its annexes from its author only.
    opinion = call(w, "POST", f"/api/cases/{w.case_id}/opinions", "lawyer", {
        "summary": "补偿标准偏低", "legal_basis": [{"law": "土地管理法", "article": "第四十八条"}],
        "recommendation": "补足差额"}).get_json()
    r = attach(w, "lawyer", f"opinion:{opinion['id']}", "法律意见书附件.pdf", kind="opinion_annex")
    assert r.status_code == 201, r.get_json()
    assert attach(w, "mediator", f"opinion:{opinion['id']}").status_code == 403
    assert w.api.get(r.get_json()[0]["url"], w.mediator).status_code == 200


def test_agreement_scan_and_performance_evidence(app, w):
    content = complete_content(w)
    agreement = call(w, "POST", f"/api/cases/{w.case_id}/agreements", "mediator", content).get_json()
    r = attach(w, "mediator", f"agreement:{agreement['id']}", "调解协议书.pdf", kind="signed_agreement")
    assert r.status_code == 201, r.get_json()
    assert attach(w, "lawyer", f"agreement:{agreement['id']}").status_code == 403


def test_bad_and_foreign_targets(app, w):
    r = attach(w, "officer", "nonsense")
    assert r.status_code == 422 and "attach_to" in r.get_json()["errors"]
    r = attach(w, "officer", "spaceship:1")
    assert r.status_code == 422 and "attach_to" in r.get_json()["errors"]
    assert attach(w, "officer", "investigation:999999").status_code == 404
    # A record of another case is not this case's.
    r = call(w, "POST", f"/api/cases/{w.bare_case_id}/investigations", "officer", {
        "method": "archive_review", "conducted_on": "2025-01-02", "findings": "另案"})
    other = r.get_json()["dossier"]["investigations"][-1]["id"]
    assert attach(w, "officer", f"investigation:{other}").status_code == 404
    assert later()  # the factories' clock is the service's
