"""What a provider keeps of a case after their referral on it is completed.

While a referral is live its provider's members see the case (`live_referrals_of`). Once
it is completed they no longer do — but they still answer for what they did: follow-up
visits ask the mediator whether the agreement is honoured, the per-case subsidy (以案定补)
is claimed from their record, and a complaint about their work is answered from it. So a
member keeps, through the referral (`GET /api/referrals/<id>/record`), read access to:

- the case's timeline up to the referral's completion, as they saw it then (the events'
  audiences apply as on the live timeline) — nothing that happened after;
- what their provider authored on the case: legal opinions, their own counselling notes,
  the minutes of the sessions they mediated, and the agreements they mediated with their
  performance items.

For `MEDIATION_PROVIDER_RECORD_DAYS` after completion (365 by default), then no more: the
PIPL's minimum-necessary rule (个人信息保护法 第六条、第十九条) keeps personal information
no longer than the purpose needs, and every purpose above ends within a year (the 90-day
follow-up visit, the 30-day judicial confirmation window, a yearly subsidy claim). The
counts and references in "my record" carry no one's personal information and stay.
Separately, the mediator of an agreement reads it and its performance items until the case
is closed (`mediation.sessions.commands.mediator_keeps`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from mediation import settings, timeline
from mediation.cases.models import Case
from mediation.errors import NotFound
from mediation.events import admits
from mediation.extensions import db
from mediation.sessions import commands as session_commands
from mediation.sessions.followup import item_view
from mediation.sessions.models import Agreement, MediationSession, PerformanceItem, SessionStatus
from mediation.timeline import Event, utcnow
from mediation.users import User
from referrals import events, products
from referrals.lifecycle import is_member
from referrals.models import CounsellingNote, LegalOpinion, Referral, ReferralStatus

# Enough for a case's whole course; a longer history is cut with `truncated` set.
MAX_EVENTS = 2000


def record_days() -> int:
    return int(settings.get("MEDIATION_PROVIDER_RECORD_DAYS"))


def kept_until(referral: Referral) -> dt.datetime | None:
    """Until when a completed referral's members keep its record (None: not completed)."""
    if referral.status != ReferralStatus.COMPLETED or referral.closed_at is None:
        return None
    return referral.closed_at + dt.timedelta(days=record_days())


def retained_referral(user: User, referral_id: int) -> Referral:
    """A referral whose record the user keeps: one of their providers' referrals, accepted
    and still so or completed within the period. Anything else is a 404 (the record of a
    referral one may not keep does not exist for them)."""
    referral = db.session.get(Referral, referral_id)
    if referral is None or not user.active or not is_member(user, referral.provider_id):
        raise NotFound("referral")
    if referral.status == ReferralStatus.ACCEPTED:
        return referral
    until = kept_until(referral)
    if until is None or until < utcnow():
        raise NotFound("referral")
    return referral


def _cutoff(referral: Referral, case: Case) -> int:
    """The last sequence number the record shows: the referral's completion event (the
    case's last event while it is still accepted)."""
    if referral.status != ReferralStatus.COMPLETED:
        return case.last_seq
    seq = db.session.execute(sa.select(sa.func.max(Event.seq)).where(
        Event.case_id == case.id, Event.type == events.REFERRAL_COMPLETED.name,
        timeline.data_int(Event.data, "referral_id") == referral.id)).scalar()
    return int(seq or 0)


def _events(user: User, case: Case, upto: int) -> tuple[list[dict[str, Any]], bool]:
    rows = db.session.execute(sa.select(Event).where(Event.case_id == case.id, Event.seq <= upto)
                              .order_by(Event.seq).limit(MAX_EVENTS + 1)).scalars().all()
    seen = [e.envelope() for e in rows[:MAX_EVENTS] if admits(user, case, e.type, e.payload)]
    return seen, len(rows) > MAX_EVENTS


def record(user: User, referral_id: int) -> dict[str, Any]:
    """The referral's record as the user keeps it (see the module's docstring)."""
    referral = retained_referral(user, referral_id)
    case = db.session.get(Case, referral.case_id)
    upto = _cutoff(referral, case)
    seen, truncated = _events(user, case, upto)
    opinions = db.session.execute(sa.select(LegalOpinion).where(
        LegalOpinion.referral_id == referral.id).order_by(LegalOpinion.id)).scalars()
    notes = db.session.execute(sa.select(CounsellingNote).where(
        CounsellingNote.referral_id == referral.id, CounsellingNote.author_id == user.id)
        .order_by(CounsellingNote.id)).scalars()
    sessions = db.session.execute(sa.select(MediationSession).where(
        MediationSession.case_id == case.id, MediationSession.mediator_id == user.id,
        MediationSession.status == SessionStatus.ENDED.value).order_by(MediationSession.id)).scalars()
    agreements = db.session.execute(sa.select(Agreement).where(
        Agreement.case_id == case.id, Agreement.mediator_id == user.id)
        .order_by(Agreement.id)).scalars().all()
    items = db.session.execute(sa.select(PerformanceItem).where(
        PerformanceItem.agreement_id.in_([a.id for a in agreements]))
        .order_by(PerformanceItem.due_on, PerformanceItem.id)).scalars().all()
    return {
        "referral_id": referral.id, "status": referral.status, "need": referral.need,
        "outcome": referral.outcome, "completed_at": referral.closed_at,
        "kept_until": kept_until(referral),
        # The case as a reference: what the record is about, without its people.
        "case": {"id": case.id, "reference": case.reference, "title": case.title,
                 "region_code": case.region_code},
        "timeline": {"events": seen, "last_seq": upto, "truncated": truncated},
        "opinions": [{"id": o.id, "summary": o.summary, "legal_basis": o.legal_basis,
                      "recommendation": o.recommendation, "created_at": o.created_at}
                     for o in opinions],
        "counselling_notes": [products.counselling_view(n, user) for n in notes],
        "sessions": [{"id": s.id, "scheduled_at": s.scheduled_at, "ended_at": s.ended_at,
                      "topic": s.topic, "minutes": s.minutes} for s in sessions],
        "agreements": [session_commands.agreement_view(a) | {
            "performance": [item_view(i) for i in items if i.agreement_id == a.id]}
            for a in agreements],
    }
