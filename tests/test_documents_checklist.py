"""The case file against its stage's checklist (档案完整): the case page shows what is
there and what is missing, to officials; the weekly report lists cases with papers
missing; the checklist is data (a file of the same shape replaces it)."""

from __future__ import annotations

import json
import re

import pytest

from mediation.documents import checklist
from mediation.documents.storage import store
from tests.factories import pdf_bytes, upload
from tests.page_client import PageClient


@pytest.fixture(autouse=True)
def _empty_store(app):
    yield
    with app.app_context():
        for key, _ in list(store().listing()):
            store().delete(key)


def marks(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-checklist-kind="(\w+)" data-present="(\w+)"', html))


def test_the_page_and_the_weekly_report_show_missing_papers(app, w):
    page = PageClient(app).sign_in(w.officer)
    html = page.text(f"/cases/{w.case_id}?part=case_documents")
    assert marks(html) == {"petition_letter": "no", "identity": "no"}  # a case in intake
    upload(w.api, w.officer, w.case_id, [("信访件.pdf", pdf_bytes())], kind="petition_letter")
    html = page.text(f"/cases/{w.case_id}?part=case_documents")
    assert marks(html) == {"petition_letter": "yes", "identity": "no"}
    # A provider on the case sees the papers, not the officials' checklist.
    provider = PageClient(app).sign_in(w.mediator).text(f"/cases/{w.case_id}?part=case_documents")
    assert "信访件.pdf" in provider and marks(provider) == {}

    r = w.api.get("/api/reports/weekly", w.supervisor)
    assert r.status_code == 200, r.get_json()
    missing = {c["case_id"]: c["missing"] for c in r.get_json()["missing_papers"]["cases"]}
    assert missing[w.case_id] == ["identity"]
    assert missing[w.bare_case_id] == ["petition_letter", "identity"]
    upload(w.api, w.officer, w.case_id, [("身份证.pdf", pdf_bytes("id"))], kind="identity")
    report = w.api.get("/api/reports/weekly", w.supervisor).get_json()["missing_papers"]
    assert w.case_id not in {c["case_id"] for c in report["cases"]} and report["total"] == 1
    weekly = PageClient(app).sign_in(w.supervisor).text("/supervision/weekly")
    assert 'data-count="missing-papers">1<' in weekly and 'data-missing="identity"' in weekly


def test_the_checklist_is_data(tmp_path):
    path = tmp_path / "checklist.json"
    path.write_text(json.dumps({"intake": ["petition_letter"], "closed": ["followup_record"]}))
    assert checklist.load(str(path)) == {"intake": ["petition_letter"], "closed": ["followup_record"]}
    path.write_text(json.dumps({"intake": ["love_letter"]}))
    with pytest.raises(ValueError, match="love_letter"):
        checklist.load(str(path))
    path.write_text(json.dumps({"sleeping": []}))
    with pytest.raises(ValueError, match="sleeping"):
        checklist.load(str(path))
    assert "closed" in checklist.load(None)
