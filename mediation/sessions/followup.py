"""After the agreement takes effect: performance items, judicial confirmation (司法确认),
resolution (化解), cessation of petitioning (息诉罢访), and reopening on a new petition."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from mediation import settings, timeline
from mediation.cases import commands as case_commands
from mediation.cases import petitions
from mediation.cases.models import Case, CaseFlag, Status
from mediation.clock import local_date, today
from mediation.errors import Conflict, Forbidden, Invalid, NotFound
from mediation.extensions import db
from mediation.permissions import Action, can, require_case
from mediation.sessions import events, visit_schedule
from mediation.sessions.commands import (
    JUDICIAL_CONFIRMATION_DAYS,
    advance_case,
    get_agreement,
    mediator_keeps,
)
from mediation.sessions.models import (
    Agreement,
    AgreementStatus,
    PerformanceItem,
    Resolution,
    ResolutionBasis,
)
from mediation.timeline import iso, utcnow
from mediation.transactions import transactional
from mediation.users import User


def quiet_days() -> int:
    return int(settings.get("MEDIATION_CESSATION_QUIET_DAYS"))


def _require_tracker(actor: User, case: Case, agreement: Agreement) -> None:
    if actor.id != agreement.mediator_id and not can(actor, Action.CASE_EDIT, case):
        raise Forbidden("only the agreement's mediator or the case's officers track performance")


def _require_officer(actor: User, case: Case) -> None:
    if not can(actor, Action.CASE_EDIT, case):
        raise Forbidden("only the case's officers may record this")


# --- performance -------------------------------------------------------------------------

def item_view(item: PerformanceItem, on: dt.date | None = None) -> dict[str, Any]:
    on = on or today()
    return {"id": item.id, "agreement_id": item.agreement_id, "case_id": item.case_id,
            "kind": item.kind, "description": item.description, "obligor": item.obligor,
            "amount": item.amount, "due_on": item.due_on, "done": item.done_at is not None,
            "done_at": item.done_at, "done_by_id": item.done_by_id, "evidence": item.evidence,
            "overdue": item.done_at is None and item.due_on < on}


@transactional
def add_item(actor: User, agreement_id: int, data: dict[str, Any]) -> PerformanceItem:
    """Track one payment or action the agreement in effect obliges, with its deadline."""
    agreement, case = get_agreement(actor, agreement_id)
    _require_tracker(actor, case, agreement)
    if agreement.status != AgreementStatus.IN_EFFECT:
        raise Conflict("performance is tracked for an agreement in effect",
                       current_state=agreement.status)
    item = PerformanceItem(agreement_id=agreement.id, case_id=case.id, kind=data["kind"],
                           description=data["description"], obligor=data.get("obligor") or "",
                           amount=str(data["amount"]) if data.get("amount") is not None else None,
                           due_on=data["due_on"], created_by_id=actor.id)
    db.session.add(item)
    db.session.flush()
    timeline.append(db.session, case.id, events.PERFORMANCE_ITEM_ADDED, {
        "item_id": item.id, "agreement_id": agreement.id, "kind": item.kind,
        "description": item.description, "obligor": item.obligor, "amount": item.amount,
        "due_on": item.due_on.isoformat()}, actor.id)
    return item


def get_item(actor: User, item_id: int, read_only: bool = False) -> tuple[PerformanceItem, Case]:
    """The item and its case if the actor sees the case, or — `read_only` — is the mediator
    of its agreement and the case is not closed; 404 otherwise."""
    item = db.session.get(PerformanceItem, item_id)
    if item is None:
        raise NotFound("performance item")
    try:
        case = require_case(actor, item.case_id)
    except NotFound:
        case = db.session.get(Case, item.case_id)
        agreement = db.session.get(Agreement, item.agreement_id)
        if not (read_only and mediator_keeps(actor, agreement, case)):
            raise NotFound("performance item") from None
    return item, case


def items_of_agreement(actor: User, agreement_id: int) -> list[PerformanceItem]:
    """An agreement's performance items, for whoever may read the agreement (its mediator
    too until the case is closed)."""
    agreement, _case = get_agreement(actor, agreement_id, read_only=True)
    return list(db.session.execute(sa.select(PerformanceItem).where(
        PerformanceItem.agreement_id == agreement.id)
        .order_by(PerformanceItem.due_on, PerformanceItem.id)).scalars())


def items_of(actor: User, case_id: int) -> list[PerformanceItem]:
    case = require_case(actor, case_id)
    return list(db.session.execute(sa.select(PerformanceItem).where(
        PerformanceItem.case_id == case.id).order_by(PerformanceItem.due_on, PerformanceItem.id)).scalars())


@transactional
def mark_done(actor: User, item_id: int, evidence: str) -> PerformanceItem:
    """Mark an item performed, with a note of the evidence; once only."""
    item, case = get_item(actor, item_id)
    agreement = db.session.get(Agreement, item.agreement_id)
    _require_tracker(actor, case, agreement)
    note = (evidence or "").strip()
    if not note:
        raise Invalid({"evidence": ["a note of the evidence of performance is required"]})
    now = utcnow()
    moved = db.session.execute(
        sa.update(PerformanceItem).where(PerformanceItem.id == item.id, PerformanceItem.done_at.is_(None))
        .values(done_at=now, done_by_id=actor.id, evidence=note)
        .execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        raise Conflict("the item is already marked done", current_state="done")
    db.session.refresh(item)
    late = item.due_on < local_date(now)
    timeline.append(db.session, case.id, events.PERFORMANCE_ITEM_DONE, {
        "item_id": item.id, "agreement_id": item.agreement_id, "evidence": note,
        "done_at": iso(now), "late": late}, actor.id)
    still_open = db.session.execute(sa.select(sa.func.count()).select_from(PerformanceItem).where(
        PerformanceItem.agreement_id == item.agreement_id, PerformanceItem.done_at.is_(None))).scalar_one()
    if still_open == 0:
        timeline.append(db.session, case.id, events.PERFORMANCE_COMPLETED,
                        {"agreement_id": item.agreement_id}, actor.id)
    return item


# --- judicial confirmation ----------------------------------------------------------------

def _window(agreement: Agreement) -> tuple[dt.date, dt.date]:
    start = local_date(agreement.effective_at)
    return start, start + dt.timedelta(days=JUDICIAL_CONFIRMATION_DAYS)


@transactional
def apply_for_confirmation(actor: User, agreement_id: int, applied_on: dt.date, court: str) -> Agreement:
    """Record the parties' joint application to a court, within 30 days of the effect."""
    agreement, case = get_agreement(actor, agreement_id)
    _require_officer(actor, case)
    if agreement.status != AgreementStatus.IN_EFFECT:
        raise Conflict("only an agreement in effect can be confirmed", current_state=agreement.status)
    if agreement.judicial_applied_on is not None:
        raise Conflict("the application is recorded already", current_state="applied")
    if agreement.kind == "administrative":
        raise Conflict("an administrative mediation agreement is not confirmed by a court under "
                       "the People's Mediation Law", current_state=agreement.kind)
    start, until = _window(agreement)
    if applied_on > today():
        raise Invalid({"applied_on": ["cannot be in the future"]})
    if not start <= applied_on <= until:
        raise Invalid({"applied_on": [f"within {JUDICIAL_CONFIRMATION_DAYS} days of the agreement "
                                      f"taking effect: {start.isoformat()} to {until.isoformat()}"]})
    agreement.judicial_applied_on = applied_on
    agreement.judicial_court = court
    agreement.updated_at = utcnow()
    timeline.append(db.session, case.id, events.CONFIRMATION_APPLIED, {
        "agreement_id": agreement.id, "applied_on": applied_on.isoformat(), "court": court}, actor.id)
    return agreement


@transactional
def record_court_decision(actor: User, agreement_id: int, decision: str, decided_on: dt.date,
                          note: str) -> Agreement:
    """Record whether the court confirmed the agreement."""
    agreement, case = get_agreement(actor, agreement_id)
    _require_officer(actor, case)
    if agreement.judicial_applied_on is None:
        raise Conflict("no application for judicial confirmation is recorded", current_state=None)
    if agreement.judicial_decision is not None:
        raise Conflict("the court's decision is recorded already", current_state=agreement.judicial_decision)
    if not agreement.judicial_applied_on <= decided_on <= today():
        raise Invalid({"decided_on": ["between the application and today"]})
    agreement.judicial_decision = decision
    agreement.judicial_decided_on = decided_on
    agreement.judicial_note = note
    agreement.updated_at = utcnow()
    timeline.append(db.session, case.id, events.CONFIRMATION_DECIDED, {
        "agreement_id": agreement.id, "decision": decision, "decided_on": decided_on.isoformat(),
        "note": note}, actor.id)
    return agreement


# --- resolution, cessation, reopening ------------------------------------------------------

@transactional
def resolve(actor: User, case_id: int, basis: str, decision: str, reason: str) -> Resolution:
    """Resolve the case (化解): its agreement performed in full, or its demand otherwise settled."""
    case = require_case(actor, case_id, Action.CASE_TRANSITION)
    if case.status not in (Status.IN_PROGRESS, Status.AGREEMENT_REACHED):
        raise Conflict(f"a case in {case.status} cannot be resolved", current_state=case.status)
    agreement_id = None
    if basis == ResolutionBasis.AGREEMENT_PERFORMED:
        agreement_id = db.session.execute(sa.select(Agreement.id).where(
            Agreement.case_id == case.id, Agreement.status == AgreementStatus.IN_EFFECT)).scalar()
        if agreement_id is None:
            raise Conflict("the case has no agreement in effect", current_state=case.status)
        items = db.session.execute(sa.select(PerformanceItem.id, PerformanceItem.done_at).where(
            PerformanceItem.agreement_id == agreement_id)).all()
        open_items = [i.id for i in items if i.done_at is None]
        if not items or open_items:
            raise Conflict("the agreement's performance is not complete",
                           current_state={"status": case.status, "open_items": open_items,
                                          "items": len(items)})
    resolution = Resolution(case_id=case.id, basis=basis, decision=decision, reason=reason,
                            agreement_id=agreement_id, resolved_by_id=actor.id, resolved_at=utcnow())
    db.session.add(resolution)
    db.session.flush()
    advance_case(case, Status.RESOLVED, actor, reason, resolution_id=resolution.id, basis=basis,
                 decision=decision, agreement_id=agreement_id)
    if agreement_id is None:  # an agreement's visits are scheduled from its effect already
        visit_schedule.schedule(case, f"resolution:{resolution.id}", resolution.resolved_at)
    return resolution


def _since_resolution(case: Case) -> dt.datetime:
    last = db.session.execute(sa.select(sa.func.max(Resolution.resolved_at)).where(
        Resolution.case_id == case.id)).scalar()
    moment = last or case.status_changed_at
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _cease(case: Case, actor: User | None, data: dict[str, Any]) -> None:
    case.flags = sorted(set(case.flags or []) | {CaseFlag.PETITIONING_CEASED.value})
    timeline.append(db.session, case.id, events.PETITIONING_CEASED, data, actor.id if actor else None)
    case_commands.refresh(case, actor)


@transactional
def record_cessation(actor: User, case_id: int, basis: str, signed_on: dt.date | None = None,
                     note: str = "") -> Case:
    """Record that the petitioner ceased petitioning (息诉罢访): by a signed undertaking, or
    once the quiet period since the resolution has passed with no new petition."""
    case = require_case(actor, case_id, Action.CASE_EDIT)
    if case.status not in (Status.RESOLVED, Status.CLOSED):
        raise Conflict("cessation is recorded on a resolved or closed case", current_state=case.status)
    if case.has_flag(CaseFlag.PETITIONING_CEASED):
        raise Conflict("cessation is recorded already", current_state=case.status)
    data: dict[str, Any] = {"basis": basis, "note": note}
    if basis == "undertaking":
        if signed_on is None:
            raise Invalid({"signed_on": ["the day the undertaking was signed"]})
        if signed_on > today():
            raise Invalid({"signed_on": ["cannot be in the future"]})
        data["signed_on"] = signed_on.isoformat()
    else:
        quiet = quiet_days()
        elapsed = (utcnow() - _since_resolution(case)).days
        if elapsed < quiet:
            raise Invalid({"basis": [f"the quiet period is {quiet} days; {quiet - elapsed} to go"]})
        data.update(quiet_days=quiet, days_since_resolution=elapsed)
    _cease(case, actor, data)
    return case


def sweep_cessations(now: dt.datetime | None = None) -> int:
    """Record cessation on resolved or closed cases quiet for the configured period."""
    now = now or utcnow()
    quiet = quiet_days()
    count = 0
    candidates = db.session.execute(sa.select(Case.id).where(
        Case.status.in_([Status.RESOLVED.value, Status.CLOSED.value]))).scalars().all()
    for case_id in candidates:
        case = db.session.get(Case, case_id)
        if case.has_flag(CaseFlag.PETITIONING_CEASED):
            continue
        elapsed = (now - _since_resolution(case)).days
        if elapsed >= quiet:
            _cease(case, None, {"basis": "quiet_period", "note": "", "quiet_days": quiet,
                                "days_since_resolution": elapsed})
            db.session.commit()
            count += 1
    db.session.rollback()
    return count


@transactional
def new_petition(actor: User, case_id: int, received_on: dt.date, summary: str,
                 petition: dict[str, Any] | None = None) -> Case:
    """A new petition on a resolved or closed case reopens it (flagged for supervision),
    and a cessation recorded before no longer holds; the petition is recorded on the case
    (件次, 人次, 越级访) like any repeat: all in one transaction."""
    case = require_case(actor, case_id, Action.CASE_TRANSITION)
    if case.status not in (Status.RESOLVED, Status.CLOSED):
        raise Conflict("only a resolved or closed case is reopened by a new petition",
                       current_state=case.status)
    if case.merged_into_id is not None:
        raise Conflict("the case was merged into another; the petition belongs there",
                       current_state={"status": case.status, "merged_into": case.merged_into_id})
    if received_on > today():
        raise Invalid({"received_on": ["cannot be in the future"]})
    case_commands.reopen_on_petition(case, actor, received_on, summary)
    petitions.record_petition(case, (petition or {}) | {"received_on": received_on, "summary": summary},
                              actor, repeat=True)
    case_commands.refresh(case, actor)
    return case
