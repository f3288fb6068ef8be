"""The intake path end to end through the API, on the suite's database."""

from mediation import timeline
from mediation.extensions import db


def test_intake_creates_case_with_events_and_masked_numbers(api, app):
    officer = api.user("case_officer", "510104")
    case = api.case(officer)
    assert case["reference"].startswith("XF-2025-")
    assert case["petitioners"][0]["id_number"] == "****************34"
    assert case["petitioners"][0]["phone"] == "*******8000"
    assert [c["category"] for c in case["categories"]] == [2]
    r = api.get(f"/api/cases/{case['id']}/timeline", officer)
    events = r.get_json()["events"]
    assert [e["seq"] for e in events] == [1, 2]
    assert [e["type"] for e in events] == ["case.created", "case.classified"]
    assert "510104198001011234" not in r.get_data(as_text=True)
    with app.app_context():
        assert timeline.verify() == (1, [])
        assert timeline.pending_count() == 0  # published after commit
        db.session.remove()
