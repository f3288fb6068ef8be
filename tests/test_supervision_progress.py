"""Progress as data: the weekly stalled list (周调度) and the idle-handling (空转) signal count
only the event types the catalogue says are human work. The system's own events — the daily
reminder, an escalation when nobody can take a need, an offer expiring — and presence in a
session room, someone reading a number, talk on the thread, keep an untouched case stalled."""

from __future__ import annotations

import datetime as dt

import pytest

from mediation import clock as service_clock
from mediation import timeline
from mediation.cases import events as case_events
from mediation.events import progress_types
from mediation.extensions import db
from mediation.registry import registry
from mediation.sessions import events as session_events
from mediation.supervision import events as supervision_events
from realtime import events as realtime_events
from referrals import events as referral_events
from tests.factories import case_row

# What happens to a case that nobody works on (all written by the system or a mere visit).
NOT_WORK = [
    (supervision_events.REMINDER_DUE, {"user_id": 1, "day": "2025-01-01", "reminders": []}),
    (referral_events.CASE_ESCALATED, {"need": "legal_opinion", "reason": "nobody free", "failed_offers": 3}),
    (referral_events.CASE_ESCALATION_CLEARED, {"need": "legal_opinion"}),
    (referral_events.REFERRAL_EXPIRED, {"referral_id": 1, "need": "legal_opinion", "provider_id": 1,
                                        "audience": []}),
    (session_events.SESSION_ENTERED, {"session_id": 1, "user_id": 1, "audience": [], "present": []}),
    (session_events.SESSION_LEFT, {"session_id": 1, "user_id": 1, "audience": [], "present": []}),
    (case_events.PII_REVEALED, {"petitioner_id": 1, "fields": ["phone"], "reason": "约见"}),
    (case_events.CASE_CLASSIFIED, {"categories": [], "needs": []}),
    (realtime_events.MESSAGE_POSTED, {"channel": "case", "body": "有人吗"}),
    (supervision_events.SURVEY_SENT, {"invite_id": 1}),
    (supervision_events.INSPECTED, {"inspection_id": 1}),
    (supervision_events.DEDUCTED, {"deduction_id": 1, "kind": "idle_handling"}),
    (supervision_events.RECTIFICATION_ORDERED, {"rectification_id": 1}),
    (case_events.CASE_ACTION_LISTED, {"listed_on": "2025-01-01", "reason": "", "source": "ledger"}),
]

# Every type of the system's own doing, presence, views, talk and derived facts, by name.
NOT_PROGRESS = {
    "reminder.due", "case.escalated", "case.escalation_cleared", "referral.expired",
    "session.entered", "session.left", "session.message.posted", "session.message.edited",
    "session.message.deleted", "session.caucus.posted", "pii.revealed", "case.classified",
    "message.posted", "message.edited", "message.deleted", "survey.sent", "survey.answered",
    "supervision.inspected", "supervision.deducted", "supervision.rectification_ordered",
    "agreement.in_effect", "agreement.superseded", "performance.completed", "document.purged",
    "case.action_listed", "case.action_unlisted", "petitioner.receipt_issued",
}


def _old_case(app) -> int:
    old = (service_clock.today() - dt.timedelta(days=60)).isoformat()
    with app.app_context():
        case_id = case_row("510104", created=old, changed=old)
        db.session.remove()
    return case_id


def _append(app, case_id: int, items) -> None:
    with app.app_context():
        timeline.append_many(db.session, case_id, list(items), None)
        db.session.commit()
        db.session.remove()


def _stalled(api) -> set[int]:
    body = api.get("/api/reports/weekly", api.user("supervisor", "51")).get_json()
    assert body["signals"]["no_meaningful_progress"] == body["stalled"]["cases"]
    return {c["case_id"] for c in body["stalled"]["cases"]}


def test_reminders_escalations_presence_and_views_do_not_count_as_progress(api, app):
    idle = _old_case(app)
    worked = _old_case(app)
    _append(app, idle, NOT_WORK)
    _append(app, worked, NOT_WORK[:1] + [(case_events.CASE_UPDATED, {"changes": {"summary": "补充材料"}})])
    stalled = _stalled(api)
    assert idle in stalled  # thirty days of nudges, visits and escalations are still idle
    assert worked not in stalled  # one piece of human work is progress


def test_one_reminder_does_not_hide_an_idle_case(api, app):
    """The case seen in the field: idle for weeks, one `reminder.due`, and not flagged."""
    case_id = _old_case(app)
    assert case_id in _stalled(api)
    _append(app, case_id, NOT_WORK[:1])
    assert case_id in _stalled(api)


def test_progress_is_declared_in_the_catalogue(app):
    with app.app_context():
        declared = {t.name: t for t in registry().event_types.values()}
        counted = set(progress_types())
    assert {t.name for t, _ in NOT_WORK}.isdisjoint(counted)
    assert counted == {name for name, t in declared.items() if t.progress}
    # Human work on a case, across the areas, counts.
    assert {"case.updated", "dossier.investigation_added", "owner.contact_recorded",
            "session.started", "agreement.signed", "referral.accepted", "opinion.posted",
            "internal_note.posted", "supervision.rectified"} <= counted


@pytest.mark.parametrize("item", NOT_WORK, ids=[t.name for t, _ in NOT_WORK])
def test_each_system_event_alone_keeps_an_idle_case_stalled(api, app, item):
    """Thirty days idle and then one event of this type, today: still stalled."""
    case_id = _old_case(app)
    _append(app, case_id, [item])
    assert case_id in _stalled(api)


def test_every_named_system_type_is_declared_as_no_progress(app):
    with app.app_context():
        declared = {t.name: t for t in registry().event_types.values()}
        counted = set(progress_types())
    assert set(declared) >= NOT_PROGRESS
    assert {name for name in NOT_PROGRESS if declared[name].progress} == set()
    assert NOT_PROGRESS.isdisjoint(counted)
