"""Supervision actions. Each validates, writes, appends its event to the case timeline and
commits once (`mediation.transactions.transactional`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

import sqlalchemy as sa

from mediation import timeline
from mediation.cases.models import Case
from mediation.clock import today
from mediation.errors import Conflict, Forbidden, Invalid, NotFound
from mediation.extensions import db
from mediation.permissions import Action, can, can_view_case
from mediation.settings import get as setting
from mediation.supervision import events
from mediation.supervision.models import (
    Deduction,
    Inspection,
    Rectification,
    SurveyAnswer,
    SurveyInvite,
)
from mediation.supervision.reports import CHECKS, deduction_view, inspection_view, rectification_view
from mediation.supervision.scope import report_scope
from mediation.timeline import utcnow
from mediation.transactions import transactional
from mediation.users import Role, User

DEDUCTION_KINDS = ("fake_resolution", "idle_handling")  # 虚假化解, "空转"办理


def _supervised_case(actor: User, case_id: int) -> Case:
    """A case inside the supervisor's jurisdiction (admins: any); 404 otherwise. Readers of
    the figures who may not act on them (case officers) are refused first."""
    if not can(actor, Action.SUPERVISION_ACT):
        raise Forbidden("inspections, deductions and rectifications are for supervisors")
    scope = report_scope(actor)
    case = db.session.get(Case, case_id)
    if case is None or not case.region_code.startswith(scope.prefix):
        raise NotFound("case")
    return case


@transactional
def record_inspection(actor: User, data: dict[str, Any]) -> dict[str, Any]:
    """Record an on-site inspection with the four checks and the findings."""
    case = _supervised_case(actor, data["case_id"])
    if data["inspected_on"] > today():
        raise Invalid({"inspected_on": ["cannot be in the future"]})
    i = Inspection(case_id=case.id, inspector_id=actor.id, inspected_on=data["inspected_on"],
                   findings=data.get("findings", ""), **{c: data[c] for c in CHECKS})
    db.session.add(i)
    db.session.flush()
    view = inspection_view(i)
    timeline.append(db.session, case.id, events.INSPECTED, view, actor.id)
    return view


@transactional
def record_deduction(actor: User, data: dict[str, Any]) -> dict[str, Any]:
    """Deduct points for fake resolution or idle handling, with an optional deadline to
    rectify (整改期限)."""
    case = _supervised_case(actor, data["case_id"])
    _cited(Inspection, data.get("inspection_id"), case, "inspection_id", "an inspection")
    d = Deduction(case_id=case.id, inspection_id=data.get("inspection_id"), kind=data["kind"],
                  points=data["points"], reason=data["reason"],
                  decided_on=data.get("decided_on") or today(), by_id=actor.id)
    db.session.add(d)
    db.session.flush()
    view = deduction_view(d)
    if data.get("rectify_by"):
        r = Rectification(case_id=case.id, deduction_id=d.id, inspection_id=d.inspection_id,
                          requirement=data.get("requirement") or data["reason"],
                          due_on=data["rectify_by"], by_id=actor.id)
        db.session.add(r)
        db.session.flush()
        view["rectification"] = rectification_view(r, today())
    timeline.append(db.session, case.id, events.DEDUCTED, view, actor.id)
    return view


def _cited(model: type, record_id: int | None, case: Case, field: str, what: str) -> Any:
    """A record the new one cites: it must be of the same case (and so of the same
    jurisdiction), else 422 naming the field; None when nothing is cited."""
    if record_id is None:
        return None
    row = db.session.get(model, record_id)
    if row is None or row.case_id != case.id:
        raise Invalid({field: [f"not {what} of this case"]})
    return row


@transactional
def order_rectification(actor: User, data: dict[str, Any]) -> dict[str, Any]:
    """Order a rectification by a deadline, citing a deduction or an inspection of the case."""
    case = _supervised_case(actor, data["case_id"])
    deduction = _cited(Deduction, data.get("deduction_id"), case, "deduction_id", "a deduction")
    inspection = _cited(Inspection, data.get("inspection_id"), case, "inspection_id",
                        "an inspection")
    inspection_id = inspection.id if inspection is not None else None
    if deduction is not None and deduction.inspection_id is not None:
        if inspection_id not in (None, deduction.inspection_id):
            raise Invalid({"inspection_id": ["not the inspection the deduction cites"]})
        inspection_id = deduction.inspection_id
    r = Rectification(case_id=case.id, deduction_id=deduction.id if deduction else None,
                      inspection_id=inspection_id, requirement=data["requirement"],
                      due_on=data["due_on"], by_id=actor.id)
    db.session.add(r)
    db.session.flush()
    view = rectification_view(r, today())
    timeline.append(db.session, case.id, events.RECTIFICATION_ORDERED, view, actor.id)
    return view


@transactional
def complete_rectification(actor: User, rect_id: int, done_on: dt.date, note: str) -> dict[str, Any]:
    """Mark a rectification done; only once (a conditional update decides)."""
    # Unknown, outside the reader's jurisdiction, or the reader no supervisor: the same 404,
    # so that the answer tells nothing about which rectifications exist.
    r = db.session.get(Rectification, rect_id)
    if r is None or not can(actor, Action.SUPERVISION_ACT):
        raise NotFound("rectification")
    try:
        case = _supervised_case(actor, r.case_id)
    except NotFound:
        raise NotFound("rectification") from None
    if done_on > today():
        raise Invalid({"done_on": ["cannot be in the future"]})
    res = db.session.execute(
        sa.update(Rectification).where(Rectification.id == r.id, Rectification.done_on.is_(None))
        .values(done_on=done_on, done_note=note).execution_options(synchronize_session=False))
    if res.rowcount != 1:
        raise Conflict("the rectification is already done", current_state="done")
    db.session.refresh(r)
    view = rectification_view(r, today())
    timeline.append(db.session, case.id, events.RECTIFIED, view, actor.id)
    return view


# --- satisfaction survey ----------------------------------------------------------------

def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transactional
def send_survey(actor: User, case_id: int, ttl_days: int | None = None) -> tuple[str, SurveyInvite]:
    """Make a one-time survey link for the case's petitioner; returns (token, invite).

    Supervisors covering the case and admins may send one; not its officers nor its lead
    official, whose handling the answer judges."""
    case = db.session.get(Case, case_id)
    if case is None or not can_view_case(actor, case):
        raise NotFound("case")
    if not can(actor, Action.SURVEY_SEND, case):
        raise Forbidden("your role may not send satisfaction surveys")
    token = secrets.token_urlsafe(32)
    ttl = ttl_days if ttl_days is not None else setting("MEDIATION_SURVEY_TTL_DAYS")
    invite = SurveyInvite(case_id=case.id, token_hash=token_hash(token), created_by_id=actor.id,
                          expires_at=utcnow() + dt.timedelta(days=ttl))
    db.session.add(invite)
    db.session.flush()
    # The token itself never goes on the timeline: only who sent which invite, until when.
    timeline.append(db.session, case.id, events.SURVEY_SENT, {
        "invite_id": invite.id, "expires_at": timeline.iso(invite.expires_at)}, actor.id)
    return token, invite


class SurveyRefused(Conflict):
    """A link that is forged, used or expired: the petitioner is told which, nothing more."""

    status = 410
    code_name = "Gone"


def survey_for(token: str) -> SurveyInvite:
    """The invite behind a link, or SurveyRefused (forged or unknown, used, expired)."""
    invite = db.session.execute(
        sa.select(SurveyInvite).where(SurveyInvite.token_hash == token_hash(token or ""))
    ).scalar_one_or_none()
    if invite is None:
        raise SurveyRefused("this survey link is not valid", current_state="invalid")
    if invite.used_at is not None:
        raise SurveyRefused("this survey has already been answered", current_state="used")
    expires = invite.expires_at if invite.expires_at.tzinfo else invite.expires_at.replace(tzinfo=dt.UTC)
    if expires <= utcnow():
        raise SurveyRefused("this survey link has expired", current_state="expired")
    return invite


@transactional
def answer_survey(token: str, rating: int, comment: str, respondent: User | None = None) -> SurveyAnswer:
    """The petitioner's answer: once per link, decided by a conditional update.

    `respondent` is the account the answer comes with, if any (a signed-in page, a bearer
    token): a petitioner has none, or a party's own; an official's or a provider's account
    answering is someone standing in for the petitioner, and is refused."""
    if respondent is not None and respondent.role != Role.PARTY:
        raise Forbidden("a satisfaction survey is answered by the petitioner, not from a staff account")
    invite = survey_for(token)
    if not 1 <= rating <= 5:
        raise Invalid({"rating": ["from 1 to 5"]})
    now = utcnow()
    res = db.session.execute(
        sa.update(SurveyInvite).where(SurveyInvite.id == invite.id, SurveyInvite.used_at.is_(None))
        .values(used_at=now).execution_options(synchronize_session=False))
    if res.rowcount != 1:
        raise SurveyRefused("this survey has already been answered", current_state="used")
    answer = SurveyAnswer(invite_id=invite.id, case_id=invite.case_id, rating=rating,
                          comment=comment or "", answered_at=now)
    db.session.add(answer)
    db.session.flush()
    timeline.append(db.session, invite.case_id, events.SURVEY_ANSWERED, {
        "invite_id": invite.id, "rating": rating, "comment": comment or ""}, None)
    return answer
