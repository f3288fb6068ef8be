"""Every timestamp in the API's JSON carries its offset, on SQLite and PostgreSQL alike: a
walk over the responses of a case's whole course — the case, its timeline, messages,
referrals, sessions, agreements and their signatures, the reports."""

from __future__ import annotations

import re
from typing import Any

from tests.factories import call, complete_content, session_body

# An ISO 8601 moment (a date with a time); a bare date ("2025-03-01") is a day, not a moment.
MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")


def moments(value: Any, path: str = "") -> list[tuple[str, str]]:
    """Every (path, text) of a moment anywhere in the JSON."""
    if isinstance(value, dict):
        return [m for k, v in value.items() for m in moments(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [m for i, v in enumerate(value) for m in moments(v, f"{path}[{i}]")]
    if isinstance(value, str) and MOMENT.match(value):
        return [(path, value)]
    return []


def test_every_moment_in_the_api_carries_its_offset(w):
    seen: dict[str, Any] = {}

    def ok(label: str, method: str, path: str, who: str, body: Any = None, status: int = 200):
        r = call(w, method, path, who, body)
        assert r.status_code == status, (label, r.status_code, r.get_json())
        seen[label] = r.get_json()
        return seen[label]

    case = w.case_id
    ok("case", "GET", f"/api/cases/{case}", "officer")
    ok("cases", "GET", "/api/cases", "officer")
    ok("message", "POST", f"/api/cases/{case}/messages", "officer", {"body": "请补充材料"}, 201)
    ok("thread", "GET", f"/api/cases/{case}/messages", "mediator")
    ok("referrals", "GET", f"/api/cases/{case}/referrals", "officer")
    ok("inbox", "GET", "/api/referrals?mine=1", "mediator")
    for ref in seen["referrals"] if isinstance(seen["referrals"], list) else seen["referrals"]["items"]:
        ok(f"referral {ref['id']}", "GET", f"/api/referrals/{ref['id']}", "officer")
    sid = ok("session", "POST", f"/api/cases/{case}/sessions", "mediator", session_body(w), 201)["id"]
    ok("consent", "POST", f"/api/cases/{case}/consents", "officer",
       {"petitioner_id": w.petitioner_id, "method": "written"}, 201)
    ok("started", "POST", f"/api/sessions/{sid}/start", "mediator", {})
    ok("session message", "POST", f"/api/sessions/{sid}/messages", "mediator", {"body": "开始调解"}, 201)
    ok("sessions", "GET", f"/api/cases/{case}/sessions", "officer")
    ok("session detail", "GET", f"/api/sessions/{sid}", "officer")
    aid = ok("draft", "POST", f"/api/cases/{case}/agreements", "mediator", complete_content(w), 201)["id"]
    ok("final", "POST", f"/api/agreements/{aid}/finalise", "mediator")
    ok("signed 1", "POST", f"/api/agreements/{aid}/sign", "officer",
       {"signer": "party", "method": "fingerprint", "party_index": 0})
    ok("signed 2", "POST", f"/api/agreements/{aid}/sign", "officer",
       {"signer": "party", "method": "seal", "party_index": 1})
    ok("signed", "POST", f"/api/agreements/{aid}/sign", "mediator",
       {"signer": "mediator", "method": "account"})
    ok("agreement", "GET", f"/api/agreements/{aid}", "officer")
    ok("agreements", "GET", f"/api/cases/{case}/agreements", "officer")
    ok("performance", "GET", f"/api/cases/{case}/performance", "officer")
    ok("timeline", "GET", f"/api/cases/{case}/timeline", "officer")
    ok("me", "GET", "/api/auth/me", "officer")
    for report in ("kpis", "weekly", "monthly", "quarterly"):
        ok(f"report {report}", "GET", f"/api/reports/{report}", "supervisor")
    w.users["admin"] = w.api.user("admin")
    ok("search", "POST", "/api/petitioners/search", "officer",
       {"id_number": "510104198001011234", "reason": "核对来访人身份"})
    ok("pii searches", "GET", "/api/security/pii-searches", "admin")
    ok("alerts", "GET", "/api/security/alerts", "admin")
    ok("providers", "GET", "/api/providers", "admin")

    found = {label: moments(body) for label, body in seen.items()}
    # The walk saw moments where they must be: signatures, events, sessions, messages.
    for label in ("signed", "timeline", "session detail", "thread", "case", "pii searches"):
        assert found[label], f"no timestamps found in {label}: the walk is not looking"
    naive = [(label, path, text) for label, items in found.items() for path, text in items
             if not OFFSET.search(text)]
    assert naive == []
