"""Satisfaction survey links: single use, expiry, forgery; the answer on the timeline; the
petitioner's page in Chinese with no login."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from mediation import timeline
from mediation.extensions import db
from mediation.supervision.models import SurveyInvite


def _survey(api, case_id, **body):
    """A link sent by supervision (a supervisor covering the case), as the rule has it."""
    supervisor = api.user("supervisor", "51")
    r = api.post(f"/api/cases/{case_id}/surveys", supervisor, body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_a_link_is_answered_once_and_the_answer_goes_on_the_timeline(api, app):
    officer = api.user("case_officer", "510104")
    case = api.case(officer)
    link = _survey(api, case["id"])
    token = link["token"]
    assert link["url"].endswith(f"/survey/{token}")
    assert api.get(f"/api/surveys/{token}").status_code == 200  # no login needed
    r = api.post(f"/api/surveys/{token}", None, {"rating": 4, "comment": "办得好"})
    assert r.status_code == 201, r.get_json()
    again = api.post(f"/api/surveys/{token}", None, {"rating": 1, "comment": "改主意"})
    assert again.status_code == 410 and again.get_json()["current_state"] == "used"
    assert api.get(f"/api/surveys/{token}").status_code == 410
    timeline.drain()
    events = api.get(f"/api/cases/{case['id']}/timeline", officer).get_json()["events"]
    sent = [e for e in events if e["type"] == "survey.sent"]
    answered = [e for e in events if e["type"] == "survey.answered"]
    assert len(sent) == 1 and token not in str(sent[0]["data"])  # the token is never logged
    assert [(e["data"]["rating"], e["data"]["comment"]) for e in answered] == [(4, "办得好")]


def test_forged_expired_and_invalid_answers_are_refused(api, app):
    officer = api.user("case_officer", "510104")
    case = api.case(officer)
    token = _survey(api, case["id"])["token"]
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    r = api.post(f"/api/surveys/{forged}", None, {"rating": 5})
    assert r.status_code == 410 and r.get_json()["current_state"] == "invalid"
    assert api.post(f"/api/surveys/{token}", None, {"rating": 6}).status_code == 422
    with app.app_context():
        db.session.execute(sa.update(SurveyInvite).values(
            expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)))
        db.session.commit()
        db.session.remove()
    r = api.post(f"/api/surveys/{token}", None, {"rating": 5})
    assert r.status_code == 410 and r.get_json()["current_state"] == "expired"
    with app.app_context():
        assert db.session.execute(sa.text("SELECT COUNT(*) FROM survey_answers")).scalar_one() == 0
        db.session.remove()


def test_only_supervision_sends_surveys_for_the_cases_it_sees(api):
    officer = api.user("case_officer", "510104")
    other = api.user("case_officer", "510105")
    mediator = api.user("mediator")
    case = api.case(officer)
    # The case's own officer sees it, but its petitioner's answer judges him: 403.
    assert api.post(f"/api/cases/{case['id']}/surveys", officer, {}).status_code == 403
    assert api.post(f"/api/cases/{case['id']}/surveys", api.user("supervisor", "44"), {}).status_code == 404
    assert api.post(f"/api/cases/{case['id']}/surveys", other, {}).status_code == 404
    assert api.post(f"/api/cases/{case['id']}/surveys", mediator, {}).status_code == 404
    assert api.post(f"/api/cases/{case['id']}/surveys", api.user("supervisor", "51"),
                    {}).status_code == 201


def test_the_petitioners_page(api, client):
    officer = api.user("case_officer", "510104")
    case = api.case(officer)
    token = _survey(api, case["id"])["token"]
    page = client.get(f"/survey/{token}", follow_redirects=True)  # the token moves into the session
    assert page.status_code == 200 and "满意度评价" in page.get_data(as_text=True)
    assert 'name="rating"' in page.get_data(as_text=True)
    done = client.post(f"/survey/{token}", data={"rating": "5", "comment": "满意"})
    assert done.status_code == 200 and "感谢您的评价" in done.get_data(as_text=True)
    used = client.get(f"/survey/{token}")
    assert used.status_code == 410 and "已经提交过" in used.get_data(as_text=True)
    assert client.get("/survey/not-a-real-token").status_code == 410
