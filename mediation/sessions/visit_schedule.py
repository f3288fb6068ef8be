"""Scheduling follow-up visits (回访; see `mediation.sessions.visits`): kept apart so that
the commands that schedule them (an agreement taking effect, a resolution) need not import
the visits' commands, which import theirs."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from mediation import settings
from mediation.cases.models import Case
from mediation.clock import local_date
from mediation.extensions import db
from mediation.sessions.models import FollowupVisit


def schedule(case: Case, basis: str, start: dt.datetime, agreement_id: int | None = None) -> int:
    """Schedule the visits after `start` (the agreement's effect, the resolution); inside
    the caller's transaction. Returns how many were new."""
    first = local_date(start)
    new = 0
    for days in settings.get("MEDIATION_FOLLOWUP_VISIT_DAYS"):
        exists = db.session.execute(sa.select(FollowupVisit.id).where(
            FollowupVisit.case_id == case.id, FollowupVisit.basis == basis,
            FollowupVisit.offset_days == days)).first()
        if exists is None:
            db.session.add(FollowupVisit(case_id=case.id, basis=basis, agreement_id=agreement_id,
                                         offset_days=days, due_on=first + dt.timedelta(days=days)))
            new += 1
    db.session.flush()
    return new
