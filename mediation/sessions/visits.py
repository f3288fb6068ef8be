"""Follow-up visits (回访): after an agreement takes effect, or a case is resolved otherwise,
someone goes back (or calls) to see whether the agreement is honoured and how the parties
feel about it.

Scheduled automatically at each of `MEDIATION_FOLLOWUP_VISIT_DAYS` (30 and 90 by default)
Beijing days after the agreement's effect or the resolution, in the same transaction (one
row per basis and offset, unique: scheduling twice schedules once). The case's officers and
lead official record them, and so does the agreement's mediator — whose referral may have
ended by then: they keep the agreement until the case is closed (`mediator_keeps`), and
with it its visits. The daily reminders name visits due or overdue
(`mediation.supervision.reminders`); the weekly report lists the missed ones.

Visits are officials' matters (satisfaction, what was found): officials who see the case
and the agreement's mediator read them; the `followup.visit_recorded` event is for officials.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from mediation import timeline
from mediation.cases.models import Case, Status
from mediation.clock import today
from mediation.errors import Conflict, Forbidden, Invalid, NotFound
from mediation.extensions import db
from mediation.permissions import Action, can, can_view_case
from mediation.sessions import events
from mediation.sessions.commands import mediator_keeps
from mediation.sessions.models import Agreement, FollowupVisit, Honoured
from mediation.timeline import utcnow
from mediation.transactions import transactional
from mediation.users import User

# --- who ------------------------------------------------------------------------------------

def _mediates(actor: User, case: Case) -> bool:
    """The mediator of one of the case's agreements, while the case is open."""
    rows = db.session.execute(sa.select(Agreement).where(
        Agreement.case_id == case.id, Agreement.mediator_id == actor.id)).scalars()
    return any(mediator_keeps(actor, a, case) for a in rows)


def _case_for(actor: User, case_id: int) -> Case:
    """The case if the actor may read its visits: officials who see it, its agreements'
    mediator; 404 if the case is not theirs to see, 403 if seen but not this."""
    case = db.session.get(Case, case_id)
    if case is None:
        raise NotFound("case")
    if can(actor, Action.CASE_INTERNAL, case) or _mediates(actor, case):
        return case
    if can_view_case(actor, case):
        raise Forbidden("follow-up visits are for the case's officials and its mediator")
    raise NotFound("case")


def _may_record(actor: User, case: Case) -> bool:
    return can(actor, Action.CASE_RECORD_CONTACT, case) or _mediates(actor, case)


# --- reading and recording ----------------------------------------------------------------

def visit_view(v: FollowupVisit, on: dt.date | None = None) -> dict[str, Any]:
    on = on or today()
    return {"id": v.id, "case_id": v.case_id, "basis": v.basis, "agreement_id": v.agreement_id,
            "offset_days": v.offset_days, "due_on": v.due_on, "visited_on": v.visited_on,
            "method": v.method, "visited_whom": v.visited_whom, "findings": v.findings,
            "honoured": v.honoured, "satisfaction": v.satisfaction,
            "recorded_by_id": v.recorded_by_id, "recorded_at": v.recorded_at,
            "done": v.recorded_at is not None,
            "missed": v.recorded_at is None and v.due_on is not None and v.due_on < on}


def visits_of(actor: User, case_id: int) -> list[FollowupVisit]:
    case = _case_for(actor, case_id)
    return list(db.session.execute(sa.select(FollowupVisit).where(FollowupVisit.case_id == case.id)
                                   .order_by(FollowupVisit.due_on.is_(None), FollowupVisit.due_on,
                                             FollowupVisit.id)).scalars())


def _check(data: dict[str, Any], case: Case) -> None:
    if data["visited_on"] > today():
        raise Invalid({"visited_on": ["not after today"]})
    if data.get("honoured") == Honoured.NOT_APPLICABLE:
        return
    if data.get("honoured") is None and db.session.execute(sa.select(Agreement.id).where(
            Agreement.case_id == case.id, Agreement.effective_at.is_not(None))).first():
        raise Invalid({"honoured": ["say whether the agreement is being honoured"]})


def _fill(v: FollowupVisit, actor: User, data: dict[str, Any]) -> None:
    for name in ("visited_on", "method", "visited_whom", "findings", "honoured", "satisfaction"):
        setattr(v, name, data.get(name))
    v.recorded_by_id, v.recorded_at = actor.id, utcnow()


def _event(case: Case, v: FollowupVisit, actor: User) -> None:
    timeline.append(db.session, case.id, events.VISIT_RECORDED, {
        "visit_id": v.id, "basis": v.basis, "due_on": v.due_on.isoformat() if v.due_on else None,
        "visited_on": v.visited_on.isoformat(), "method": v.method, "honoured": v.honoured,
        "satisfaction": v.satisfaction}, actor.id)


@transactional
def record(actor: User, visit_id: int, data: dict[str, Any]) -> FollowupVisit:
    """Record a scheduled visit as made; recording one twice is a 409 (the first stands)."""
    v = db.session.get(FollowupVisit, visit_id)
    if v is None:
        raise NotFound("visit")
    try:
        case = _case_for(actor, v.case_id)
    except NotFound:
        raise NotFound("visit") from None
    if not _may_record(actor, case):
        raise Forbidden("the case's officers, its lead official and its mediator record visits")
    if case.status == Status.CLOSED:
        raise Conflict("the case is closed", current_state=case.status)
    _check(data, case)
    # The row is claimed by a conditional update: of two recorders, one wins.
    claimed = db.session.execute(sa.update(FollowupVisit).where(
        FollowupVisit.id == v.id, FollowupVisit.recorded_at.is_(None)).values(
        recorded_at=utcnow()).execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        raise Conflict("this visit is recorded already", current_state="done")
    db.session.refresh(v)
    _fill(v, actor, data)
    _event(case, v, actor)
    return v


@transactional
def record_unscheduled(actor: User, case_id: int, data: dict[str, Any]) -> FollowupVisit:
    """A visit made outside the schedule (the petitioner called, a visit on the way)."""
    case = _case_for(actor, case_id)
    if not _may_record(actor, case):
        raise Forbidden("the case's officers, its lead official and its mediator record visits")
    if case.status not in (Status.AGREEMENT_REACHED, Status.RESOLVED):
        raise Conflict("follow-up visits come after an agreement or a resolution",
                       current_state=case.status)
    _check(data, case)
    v = FollowupVisit(case_id=case.id, basis="unscheduled", offset_days=None, due_on=None)
    _fill(v, actor, data)
    db.session.add(v)
    db.session.flush()
    _event(case, v, actor)
    return v


def missed(condition: Any, as_of: dt.date, limit: int) -> tuple[int, list[dict[str, Any]]]:
    """Visits due before `as_of` and not made, on open cases matching `condition` (a SQL
    condition on `Case`): (total, the first `limit` by due date)."""
    query = (sa.select(FollowupVisit, Case.reference, Case.title, Case.region_code)
             .join(Case, Case.id == FollowupVisit.case_id)
             .where(condition, FollowupVisit.recorded_at.is_(None), FollowupVisit.due_on < as_of,
                    Case.status != Status.CLOSED.value))
    total = db.session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    rows = db.session.execute(query.order_by(FollowupVisit.due_on, FollowupVisit.id).limit(limit)).all()
    return total, [{"visit_id": v.id, "case_id": v.case_id, "reference": ref, "title": title,
                    "region_code": region, "basis": v.basis, "due_on": v.due_on.isoformat(),
                    "days_late": (as_of - v.due_on).days} for v, ref, title, region in rows]
