"""Hand-overs (交办/转送): an officer hands a matter of a case to departments with what is
asked and the day the reply is due; the department acknowledges (签收) and replies (办理回复:
result, measures, documents); the officer accepts the reply or sends it back with a reason.

Every change of status is one conditional UPDATE (`WHERE status IN (…)`): of two clicks at
once, or a click against a withdrawal, one wins and the other is a 409 that names the
current state. Every step is an event on the case's timeline in the same transaction
(`mediation/departments/events.py`), delivered live and to the notification centres.

Deadlines are Beijing days (`clock.today()`): a hand-over is overdue while the department
owes work (sent, acknowledged or sent back) and its due day has passed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from mediation import clock, timeline
from mediation.cases.models import Case
from mediation.departments import events
from mediation.departments.models import (
    OWING,
    SHOWN_TO_DEPARTMENT,
    Department,
    DepartmentMember,
    Handover,
    HandoverReply,
    HandoverStatus,
)
from mediation.departments.rules import department_of, sees_handover
from mediation.errors import Conflict, Forbidden, Invalid, NotFound
from mediation.events import EventType
from mediation.extensions import db
from mediation.permissions import Action, can, require_case, visible_cases_filter
from mediation.regions import covers
from mediation.transactions import transactional
from mediation.users import Role, User

S = HandoverStatus


# --- reading ---------------------------------------------------------------------------------

def is_overdue(h: Handover, today: dt.date | None = None) -> bool:
    return h.status in OWING and h.due_on is not None and h.due_on < (today or clock.today())


def overdue_condition(today: dt.date | None = None):
    """SQL: the hand-overs whose department owes a reply past its due day."""
    return sa.and_(Handover.status.in_(OWING), Handover.due_on < (today or clock.today()))


def document_ids(reply_id: int) -> list[int]:
    from mediation.documents.models import Document

    return list(db.session.execute(sa.select(Document.id).where(
        Document.attached_type == "handover_reply", Document.attached_id == reply_id,
        Document.withdrawn_at.is_(None)).order_by(Document.id)).scalars())


def handover_view(h: Handover, case: Case | None = None) -> dict[str, Any]:
    case = case or db.session.get(Case, h.case_id)
    today = clock.today()
    d = h.department
    return {
        "id": h.id, "case_id": h.case_id, "case_reference": case.reference,
        "case_title": case.title or "", "case_region_code": case.region_code,
        "department": {"id": d.id, "name": d.name, "kind": d.kind, "region_code": d.region_code},
        "matter": h.matter, "ask": h.ask, "due_on": h.due_on, "status": h.status,
        "overdue": is_overdue(h, today),
        "days_left": (h.due_on - today).days if h.due_on and h.status in OWING else None,
        "source": h.source, "rounds": h.rounds, "return_reason": h.return_reason,
        "withdraw_reason": h.withdraw_reason, "created_by_id": h.created_by_id,
        "created_at": h.created_at, "sent_at": h.sent_at, "acknowledged_at": h.acknowledged_at,
        "replied_at": h.replied_at, "closed_at": h.closed_at,
        "replies": [{"id": r.id, "result": r.result, "measures": r.measures,
                     "replied_by_id": r.replied_by_id, "replied_at": r.replied_at,
                     "decision": r.decision, "decision_reason": r.decision_reason,
                     "decided_at": r.decided_at, "document_ids": document_ids(r.id)}
                    for r in h.replies],
    }


def get_handover(user: User, handover_id: int) -> Handover:
    """The hand-over if the user sees it (officials of its case; its department once sent)."""
    h = db.session.get(Handover, handover_id)
    if h is None or not sees_handover(user, h):
        raise NotFound("hand-over")
    return h


def case_handovers(user: User, case_id: int) -> list[Handover]:
    case = require_case(user, case_id, Action.HANDOVER_READ)
    return list(db.session.execute(sa.select(Handover).where(Handover.case_id == case.id)
                                   .order_by(Handover.id)).scalars())


def list_handovers(user: User, args: dict[str, Any]) -> list[Handover]:
    """A department's inbox (what was sent to it), or for officials the hand-overs of the
    cases they see; by due day. `status`, `overdue` filter."""
    query = sa.select(Handover)
    if user.role == Role.DEPARTMENT:
        own = department_of(user)
        query = query.where(Handover.department_id == (own if own is not None else -1),
                            Handover.status.in_(SHOWN_TO_DEPARTMENT))
    elif user.role in (Role.ADMIN, Role.SUPERVISOR, Role.CASE_OFFICER, Role.LEAD_OFFICIAL):
        query = query.join(Case, Case.id == Handover.case_id).where(visible_cases_filter(user))
    else:
        raise Forbidden("hand-overs are for officials and departments")
    if args.get("status"):
        query = query.where(Handover.status == args["status"])
    if args.get("overdue") is True:
        query = query.where(overdue_condition())
    elif args.get("overdue") is False:
        query = query.where(sa.not_(overdue_condition()))
    return list(db.session.execute(query.order_by(Handover.due_on.is_(None), Handover.due_on,
                                                  Handover.id).limit(500)).scalars())


def handover_events(user: User, handover_id: int) -> list[dict[str, Any]]:
    """The hand-over's own events on its case's timeline (what its department may see)."""
    h = get_handover(user, handover_id)
    rows = db.session.execute(sa.select(timeline.Event).where(
        timeline.Event.case_id == h.case_id, timeline.Event.type.like("handover.%"))
        .order_by(timeline.Event.seq)).scalars()
    out = []
    for ev in rows:
        data = ev.payload
        if data.get("handover_id") != h.id:
            continue
        if user.role == Role.DEPARTMENT and ev.type == events.HANDOVER_SUGGESTED.name:
            continue
        out.append({"seq": ev.seq, "type": ev.type, "at": ev.at, "actor_id": ev.actor_id, "data": data})
    return out


# --- writing ---------------------------------------------------------------------------------

def _members(department_id: int) -> list[int]:
    return sorted(db.session.execute(sa.select(DepartmentMember.user_id).where(
        DepartmentMember.department_id == department_id)).scalars())


def _event(h: Handover, type_: EventType, actor: User | None, **extra: Any) -> None:
    sent = h.status != S.SUGGESTED and type_ is not events.HANDOVER_SUGGESTED
    data = {"handover_id": h.id, "department_id": h.department_id, "department": h.department.name,
            "matter": h.matter, "status": h.status, "officer_id": h.created_by_id,
            "audience": _members(h.department_id) if sent else [], **extra}
    timeline.append(db.session, h.case_id, type_, data, actor.id if actor else None)


def _move(h: Handover, sources: tuple[HandoverStatus, ...], target: HandoverStatus,
          **values: Any) -> None:
    """One conditional update: the status moves only from one of `sources`; otherwise 409
    with the status it has now."""
    now = clock.now()
    done = db.session.execute(
        sa.update(Handover).where(Handover.id == h.id, Handover.status.in_([s.value for s in sources]))
        .values(status=target.value, updated_at=now, **values)
        .execution_options(synchronize_session=False))
    if done.rowcount != 1:
        current = db.session.execute(sa.select(Handover.status).where(Handover.id == h.id)).scalar_one()
        raise Conflict(f"the hand-over is {current}", current_state=current)
    db.session.refresh(h)


def _due(value: dt.date | None, errors: dict[str, list[str]]) -> None:
    if value is None:
        errors["due_on"] = ["required"]
    elif value < clock.today():
        errors["due_on"] = ["cannot be before today"]


def _officers_case(actor: User, case_id: int, handover: Handover | None = None) -> Case:
    """The case, for an officer of it; a department that sees the hand-over is refused (403)."""
    if handover is not None and actor.role == Role.DEPARTMENT:
        raise Forbidden("the case's officers decide on a hand-over")
    return require_case(actor, case_id, Action.HANDOVER_CREATE)


def _reachable(case: Case, d: Department) -> bool:
    """A case may go to a department of its region, of a region above, or of one inside it."""
    return covers(d.region_code, case.region_code) or covers(case.region_code, d.region_code)


@transactional
def create(actor: User, case_id: int, data: dict[str, Any]) -> list[Handover]:
    """Hand the matter to each department named (one hand-over each), sent at once."""
    case = _officers_case(actor, case_id)
    errors: dict[str, list[str]] = {}
    ids = list(dict.fromkeys(data["department_ids"]))
    found = {d.id: d for d in db.session.execute(
        sa.select(Department).where(Department.id.in_(ids))).scalars()}
    wrong = [i for i in ids if i not in found or not found[i].active or not _reachable(case, found[i])]
    if wrong:
        errors["department_ids"] = [f"no active department of the case's region or above: "
                                    f"{', '.join(map(str, wrong))}"]
    if not (data.get("matter") or "").strip():
        errors["matter"] = ["must not be blank"]
    if not (data.get("ask") or "").strip():
        errors["ask"] = ["must not be blank"]
    _due(data.get("due_on"), errors)
    if errors:
        raise Invalid(errors)
    if case.status == "closed":
        raise Conflict("the case is closed", current_state=case.status)
    made = []
    now = clock.now()
    for i in ids:
        h = Handover(case_id=case.id, department_id=i, matter=data["matter"].strip(),
                     ask=data["ask"].strip(), due_on=data["due_on"], status=S.SENT.value,
                     source="officer", created_by_id=actor.id, created_at=now, sent_at=now,
                     updated_at=now, rounds=0, return_reason="", withdraw_reason="")
        h.department = found[i]
        db.session.add(h)
        db.session.flush()
        _event(h, events.HANDOVER_SENT, actor, ask=h.ask, due_on=h.due_on.isoformat())
        made.append(h)
    return made


@transactional
def suggest(case: Case, department: Department, matter: str, ask: str, source: str,
            actor: User | None) -> Handover | None:
    """A hand-over proposed by a strategy route: officials see it and send it (with the ask
    and a deadline) or cancel it. One open suggestion per case, department and source."""
    open_ = db.session.execute(sa.select(Handover.id).where(
        Handover.case_id == case.id, Handover.department_id == department.id,
        Handover.source == source,
        Handover.status.notin_((S.ACCEPTED.value, S.WITHDRAWN.value)))).first()
    if open_:
        return None
    now = clock.now()
    h = Handover(case_id=case.id, department_id=department.id, matter=matter, ask=ask, due_on=None,
                 status=S.SUGGESTED.value, source=source,
                 created_by_id=actor.id if actor is not None and actor.role in (Role.CASE_OFFICER, Role.ADMIN)
                 else None,
                 created_at=now, updated_at=now, rounds=0, return_reason="", withdraw_reason="")
    h.department = department
    db.session.add(h)
    db.session.flush()
    _event(h, events.HANDOVER_SUGGESTED, actor, source=source)
    return h


@transactional
def send(actor: User, handover_id: int, data: dict[str, Any]) -> Handover:
    """Send a suggested hand-over, with what is asked and the deadline."""
    h = get_handover(actor, handover_id)
    _officers_case(actor, h.case_id, h)
    errors: dict[str, list[str]] = {}
    _due(data.get("due_on"), errors)
    if not (data.get("ask") or "").strip():
        errors["ask"] = ["must not be blank"]
    if "matter" in data and not (data["matter"] or "").strip():
        errors["matter"] = ["must not be blank"]
    if not h.department.active:
        errors["department_ids"] = ["the department is no longer active"]
    if errors:
        raise Invalid(errors)
    now = clock.now()
    values: dict[str, Any] = {"ask": data["ask"].strip(), "due_on": data["due_on"], "sent_at": now,
                              "created_by_id": h.created_by_id or actor.id}
    if data.get("matter"):
        values["matter"] = data["matter"].strip()
    _move(h, (S.SUGGESTED,), S.SENT, **values)
    _event(h, events.HANDOVER_SENT, actor, ask=h.ask, due_on=h.due_on.isoformat())
    return h


def _department_handover(actor: User, handover_id: int) -> Handover:
    h = get_handover(actor, handover_id)
    if not can(actor, Action.HANDOVER_RESPOND, h):
        raise Forbidden("only the department it was handed to answers a hand-over")
    return h


@transactional
def acknowledge(actor: User, handover_id: int) -> Handover:
    """签收: the department has it and is working on it."""
    h = _department_handover(actor, handover_id)
    _move(h, (S.SENT,), S.ACKNOWLEDGED, acknowledged_at=clock.now(), acknowledged_by_id=actor.id)
    _event(h, events.HANDOVER_ACKNOWLEDGED, actor)
    return h


@transactional
def reply(actor: User, handover_id: int, data: dict[str, Any]) -> HandoverReply:
    """办理回复: the result and the measures (documents are attached to the reply afterwards,
    `attach_to=handover_reply:<id>`). Replying to a hand-over not yet acknowledged
    acknowledges it too."""
    h = _department_handover(actor, handover_id)
    if not (data.get("result") or "").strip():
        raise Invalid({"result": ["must not be blank"]})
    now = clock.now()
    values: dict[str, Any] = {"replied_at": now}
    if h.acknowledged_at is None:
        values |= {"acknowledged_at": now, "acknowledged_by_id": actor.id}
    _move(h, (S.SENT, S.ACKNOWLEDGED, S.RETURNED), S.REPLIED, **values)
    r = HandoverReply(handover_id=h.id, result=data["result"].strip(),
                      measures=(data.get("measures") or "").strip(), replied_by_id=actor.id,
                      replied_at=now, decision_reason="")
    db.session.add(r)
    db.session.flush()
    _event(h, events.HANDOVER_REPLIED, actor, reply_id=r.id, result=r.result, measures=r.measures)
    return r


def _latest_reply(h: Handover) -> HandoverReply:
    return db.session.execute(sa.select(HandoverReply).where(HandoverReply.handover_id == h.id)
                              .order_by(HandoverReply.id.desc()).limit(1)).scalar_one()


@transactional
def accept(actor: User, handover_id: int) -> Handover:
    """The officer accepts the department's reply: the hand-over is done (办结)."""
    h = get_handover(actor, handover_id)
    _officers_case(actor, h.case_id, h)
    now = clock.now()
    _move(h, (S.REPLIED,), S.ACCEPTED, closed_at=now)
    r = _latest_reply(h)
    r.decision, r.decided_by_id, r.decided_at = "accepted", actor.id, now
    _event(h, events.HANDOVER_ACCEPTED, actor, reply_id=r.id)
    return h


@transactional
def send_back(actor: User, handover_id: int, reason: str) -> Handover:
    """The officer sends the reply back with a reason: the department works and replies again
    by the same deadline (or a new one, `due_on`)."""
    h = get_handover(actor, handover_id)
    _officers_case(actor, h.case_id, h)
    if not (reason or "").strip():
        raise Invalid({"reason": ["must not be blank"]})
    now = clock.now()
    _move(h, (S.REPLIED,), S.RETURNED, return_reason=reason.strip(), rounds=Handover.rounds + 1)
    r = _latest_reply(h)
    r.decision, r.decision_reason, r.decided_by_id, r.decided_at = "returned", reason.strip(), actor.id, now
    _event(h, events.HANDOVER_RETURNED, actor, reply_id=r.id, reason=reason.strip())
    return h


@transactional
def withdraw(actor: User, handover_id: int, reason: str) -> Handover:
    """The officer takes the hand-over back (or cancels a suggestion), with a reason."""
    h = get_handover(actor, handover_id)
    _officers_case(actor, h.case_id, h)
    if not (reason or "").strip():
        raise Invalid({"reason": ["must not be blank"]})
    was_sent = h.status != S.SUGGESTED
    _move(h, (S.SUGGESTED, S.SENT, S.ACKNOWLEDGED, S.RETURNED), S.WITHDRAWN,
          withdraw_reason=reason.strip(), closed_at=clock.now())
    data = {"reason": reason.strip()}
    if not was_sent:  # a suggestion the department never had: officials only
        data["audience"] = []
    _event(h, events.HANDOVER_WITHDRAWN, actor, **data)
    return h


# --- oversight: overdue hand-overs -----------------------------------------------------------

OVERDUE_LIMIT = 200


def overdue_in(where: Any, as_of: dt.date, limit: int = OVERDUE_LIMIT) -> dict[str, Any]:
    """The hand-overs of the cases `where` selects whose department still owes its reply
    past the due day (as of `as_of`, a Beijing day; the status is the one they have now):
    the weekly report's list and the board's panel. Most overdue first."""
    cond = sa.and_(where, Handover.status.in_(OWING), Handover.due_on < as_of)
    total = db.session.execute(sa.select(sa.func.count()).select_from(Handover)
                               .join(Case, Case.id == Handover.case_id).where(cond)).scalar_one()
    rows = db.session.execute(
        sa.select(Handover, Case.reference, Case.region_code).join(Case, Case.id == Handover.case_id)
        .where(cond).order_by(Handover.due_on, Handover.id).limit(limit)).all()
    return {"total": total, "handovers": [
        {"id": h.id, "case_id": h.case_id, "reference": ref, "region_code": region, "matter": h.matter,
         "department": h.department.name, "department_id": h.department_id, "status": h.status,
         "due_on": h.due_on.isoformat(), "days_overdue": (as_of - h.due_on).days, "rounds": h.rounds}
        for h, ref, region in rows]}
