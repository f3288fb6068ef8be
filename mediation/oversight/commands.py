"""Oversight's commands and reads. Each command validates, writes, appends its events and
commits once (`transactional`); state changes are conditional updates (409 with the state
found)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from mediation import access, clock, timeline
from mediation.cases.models import Case
from mediation.departments.models import OWING, Department, Handover
from mediation.departments.rules import department_of
from mediation.errors import Conflict, Forbidden, Invalid, NotFound
from mediation.extensions import db
from mediation.oversight import events
from mediation.oversight.models import (
    MEMBER_ROLES,
    RESPONSIBLE_KINDS,
    AccountabilityCase,
    AccountabilityRecord,
    RegionResponsible,
    SupervisionOrder,
    TaskForceMember,
)
from mediation.permissions import OFFICIAL_ROLES, Action, can, can_view_case, require_case
from mediation.regions import covers, normalize_region, region_prefix
from mediation.supervision.scope import Scope, report_scope
from mediation.timeline import iso, utcnow
from mediation.transactions import transactional
from mediation.users import Role, User

log = logging.getLogger(__name__)


def parent_region(code: str) -> str | None:
    """One level up: a county's city, a city's province; a province has none."""
    prefix = region_prefix(code)
    if len(prefix) == 6:
        return prefix[:4].ljust(6, "0")
    if len(prefix) == 4:
        return prefix[:2].ljust(6, "0")
    return None


def _region(value: Any, field: str = "region_code") -> str:
    try:
        return normalize_region(str(value or ""))
    except ValueError as exc:
        raise Invalid({field: [str(exc)]}) from None


def _official(user_id: Any, field: str) -> User:
    """An active official (admin, supervisor, case officer, lead official), else 422."""
    user = db.session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None or not user.active or user.role not in OFFICIAL_ROLES:
        raise Invalid({field: ["not an active official in the directory of users"]})
    return user


def _person(user: User | None) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.id, "name": user.display_name or user.username, "role": user.role,
            "region": user.region}


# --- 第一责任人 / 直接责任人 -------------------------------------------------------------------

def responsible_view(r: RegionResponsible) -> dict[str, Any]:
    return {"region_code": r.region_code, "kind": r.kind,
            "user": _person(db.session.get(User, r.user_id)), "named_at": iso(r.named_at)}


def responsibles(actor: User, region: str | None = None) -> list[dict[str, Any]]:
    """Who answers for the regions of the reader's jurisdiction (or of `region` in it)."""
    scope = report_scope(actor, region)
    rows = db.session.execute(
        sa.select(RegionResponsible)
        .where(RegionResponsible.region_code.startswith(scope.prefix, autoescape=True))
        .order_by(RegionResponsible.region_code, RegionResponsible.kind)).scalars()
    return [responsible_view(r) for r in rows]


@transactional
def name_responsible(actor: User, region_code: str, kind: str, user_id: Any) -> dict[str, Any]:
    """Name the region's 第一责任人 or 直接责任人 (replacing whoever was named)."""
    code = _region(region_code)
    if kind not in RESPONSIBLE_KINDS:
        raise NotFound("responsibility")
    if not can(actor, Action.RESPONSIBLES_MANAGE, code):
        raise Forbidden("you may name the responsible people of your own jurisdiction only")
    user = _official(user_id, "user_id")
    values = {"user_id": user.id, "named_by_id": actor.id, "named_at": utcnow()}
    where = (RegionResponsible.region_code == code, RegionResponsible.kind == kind)
    if db.session.execute(sa.update(RegionResponsible).where(*where).values(**values)).rowcount == 0:
        try:
            with db.session.begin_nested():
                db.session.add(RegionResponsible(region_code=code, kind=kind, **values))
        except IntegrityError:  # named at the same moment by someone else: the later one wins
            db.session.execute(sa.update(RegionResponsible).where(*where).values(**values))
    row = db.session.execute(sa.select(RegionResponsible).where(*where)).scalar_one()
    db.session.refresh(row)
    return responsible_view(row)


@transactional
def clear_responsible(actor: User, region_code: str, kind: str) -> None:
    code = _region(region_code)
    if kind not in RESPONSIBLE_KINDS:
        raise NotFound("responsibility")
    if not can(actor, Action.RESPONSIBLES_MANAGE, code):
        raise Forbidden("you may name the responsible people of your own jurisdiction only")
    res = db.session.execute(sa.delete(RegionResponsible).where(
        RegionResponsible.region_code == code, RegionResponsible.kind == kind))
    if res.rowcount == 0:
        raise NotFound("responsibility")


def responsible_for(code: str, kind: str | None = None) -> RegionResponsible | None:
    """The person an order on this region goes to: the 直接责任人, or else the 第一责任人
    (or the capacity asked for)."""
    kinds = (kind,) if kind else ("direct", "first")
    rows = {r.kind: r for r in db.session.execute(sa.select(RegionResponsible).where(
        RegionResponsible.region_code == code, RegionResponsible.kind.in_(kinds))).scalars()}
    for k in kinds:
        if k in rows and _active(rows[k].user_id):
            return rows[k]
    return None


def _active(user_id: int) -> bool:
    user = db.session.get(User, user_id)
    return user is not None and user.active


# --- 工作专班 ----------------------------------------------------------------------------------

def member_view(m: TaskForceMember) -> dict[str, Any]:
    return {"id": m.id, "case_id": m.case_id, "user": _person(db.session.get(User, m.user_id)),
            "user_id": m.user_id, "role": m.role, "added_at": iso(m.added_at)}


def task_force(actor: User, case_id: int) -> list[dict[str, Any]]:
    """The case's task force (officials who see the case)."""
    require_case(actor, case_id, Action.CASE_INTERNAL)
    rows = db.session.execute(sa.select(TaskForceMember).where(TaskForceMember.case_id == case_id)
                              .order_by(TaskForceMember.id)).scalars()
    return [member_view(m) for m in rows]


@transactional
def add_member(actor: User, case_id: int, user_id: Any, role: str) -> dict[str, Any]:
    """Put an official on the case's task force; from then on they see the case."""
    case = require_case(actor, case_id, Action.TASKFORCE_MANAGE)
    if role not in MEMBER_ROLES:
        raise Invalid({"role": [f"one of {', '.join(MEMBER_ROLES)}"]})
    user = _official(user_id, "user_id")
    existing = db.session.execute(sa.select(TaskForceMember).where(
        TaskForceMember.case_id == case.id, TaskForceMember.user_id == user.id)).scalar_one_or_none()
    if existing is not None:
        raise Conflict("already on the task force", current_state=existing.role)
    member = TaskForceMember(case_id=case.id, user_id=user.id, role=role, added_by_id=actor.id)
    try:
        with db.session.begin_nested():
            db.session.add(member)
    except IntegrityError:
        raise Conflict("already on the task force", current_state="member") from None
    view = member_view(member)
    timeline.append(db.session, case.id, events.MEMBER_ADDED,
                    {"user_id": user.id, "name": view["user"]["name"], "role": role}, actor.id)
    return view


@transactional
def remove_member(actor: User, case_id: int, user_id: int) -> None:
    """Take a member off the task force; they no longer see the case through it (and their
    live connections are re-checked after the commit)."""
    case = require_case(actor, case_id, Action.TASKFORCE_MANAGE)
    member = db.session.execute(sa.select(TaskForceMember).where(
        TaskForceMember.case_id == case.id, TaskForceMember.user_id == user_id)).scalar_one_or_none()
    if member is None:
        raise NotFound("task force member")
    res = db.session.execute(sa.delete(TaskForceMember).where(TaskForceMember.id == member.id))
    if res.rowcount != 1:
        raise NotFound("task force member")
    user = db.session.get(User, user_id)
    timeline.append(db.session, case.id, events.MEMBER_REMOVED,
                    {"user_id": user_id, "name": user.display_name if user else "", "role": member.role},
                    actor.id)
    access.changed(db.session, user_ids=[user_id], case_ids=[case.id])


# --- 督办单 -----------------------------------------------------------------------------------

def order_number(o: SupervisionOrder) -> str:
    """The order's 文号, e.g. 督办〔2026〕12号."""
    return f"督办〔{o.issued_on.year}〕{o.id}号"


def order_view(o: SupervisionOrder, today: dt.date | None = None) -> dict[str, Any]:
    today = today or clock.today()
    case = db.session.get(Case, o.case_id)
    return {
        "id": o.id, "number": order_number(o), "case_id": o.case_id,
        "case_reference": case.reference if case else None, "case_title": case.title if case else None,
        "subject": o.subject, "handover_id": o.handover_id, "region_code": o.region_code,
        "addressee_id": o.addressee_id,
        "addressee": _person(db.session.get(User, o.addressee_id)) if o.addressee_id else None,
        "department_id": o.department_id, "department": _department_view(o.department_id),
        "addressee_name": _addressee_name(o), "addressee_capacity": o.addressee_capacity,
        "requirement": o.requirement,
        "issued_on": o.issued_on.isoformat(), "due_on": o.due_on.isoformat(), "state": o.state,
        "overdue": o.state == "open" and o.due_on < today,
        "days_overdue": max(0, (today - o.due_on).days) if o.state == "open" else 0,
        "level": o.level, "parent_id": o.parent_id, "issued_by_id": o.issued_by_id,
        "issued_by": _person(db.session.get(User, o.issued_by_id)) if o.issued_by_id else None,
        "answer": o.answer, "answered_on": o.answered_on.isoformat() if o.answered_on else None,
        "escalated_at": iso(o.escalated_at) if o.escalated_at else None,
    }


def _department_view(department_id: int | None) -> dict[str, Any] | None:
    d = db.session.get(Department, department_id) if department_id else None
    return {"id": d.id, "name": d.name, "region_code": d.region_code} if d else None


def _addressee_name(o: SupervisionOrder) -> str:
    if o.department_id:
        d = db.session.get(Department, o.department_id)
        return d.name if d else ""
    user = db.session.get(User, o.addressee_id) if o.addressee_id else None
    return (user.display_name or user.username) if user else ""


def _event_data(o: SupervisionOrder) -> dict[str, Any]:
    return {"order_id": o.id, "number": order_number(o), "addressee_id": o.addressee_id,
            "department_id": o.department_id, "handover_id": o.handover_id,
            "issued_by_id": o.issued_by_id, "region_code": o.region_code, "level": o.level,
            "due_on": o.due_on.isoformat(), "state": o.state,
            # for the timeline's sentence (events.py): who, by name, in what capacity
            "addressee_name": _addressee_name(o), "addressee_capacity": o.addressee_capacity}


@transactional
def issue_order(actor: User, case_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Issue a 督办单 on a case to the person responsible for a region covering it (the
    case's region by default): its 直接责任人, or else its 第一责任人, or the capacity asked
    for. The deadline is a local day after today."""
    case = require_case(actor, case_id, Action.ORDER_ISSUE)
    code = _region(data["region_code"]) if data.get("region_code") else case.region_code
    if not covers(code, case.region_code):
        raise Invalid({"region_code": ["a region that covers the case's region"]})
    today = clock.today()
    if data["due_on"] <= today:
        raise Invalid({"due_on": ["a day after today"]})
    named = responsible_for(code, data.get("capacity"))
    if named is None:
        raise Invalid({"region_code": [f"no responsible person is named for region {code}"]})
    o = SupervisionOrder(case_id=case.id, subject="case", region_code=code,
                         addressee_id=named.user_id, addressee_capacity=named.kind,
                         requirement=data["requirement"], issued_on=today, due_on=data["due_on"],
                         issued_by_id=actor.id)
    db.session.add(o)
    db.session.flush()
    timeline.append(db.session, case.id, events.ORDER_ISSUED, _event_data(o), actor.id)
    return order_view(o, today)


@transactional
def issue_handover_order(actor: User, handover_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Issue a 督办单 on an overdue hand-over (交办) to the department that owes the reply:
    sent, acknowledged or sent back, and past its deadline (409 with its state otherwise).
    Any user of the department answers it; late, it goes to the person responsible for the
    department's region (then up, as any order)."""
    h = db.session.get(Handover, handover_id)
    if h is None:
        raise NotFound("hand-over")
    case = db.session.get(Case, h.case_id)
    if case is None or not can_view_case(actor, case):
        raise NotFound("hand-over")
    if not can(actor, Action.ORDER_ISSUE, case):
        raise Forbidden("supervision orders are issued by supervisors of the case's region")
    today = clock.today()
    if h.status not in OWING or h.due_on is None or h.due_on >= today:
        raise Conflict("the hand-over is not overdue", current_state=h.status)
    if data["due_on"] <= today:
        raise Invalid({"due_on": ["a day after today"]})
    dept = db.session.get(Department, h.department_id)
    o = SupervisionOrder(case_id=case.id, subject="handover", handover_id=h.id,
                         region_code=dept.region_code, department_id=dept.id,
                         addressee_capacity="department", requirement=data["requirement"],
                         issued_on=today, due_on=data["due_on"], issued_by_id=actor.id)
    db.session.add(o)
    db.session.flush()
    timeline.append(db.session, case.id, events.ORDER_ISSUED, _event_data(o), actor.id)
    return order_view(o, today)


def _addressed_to(actor: User, o: SupervisionOrder) -> bool:
    """The order's person, or a user of its department."""
    if o.department_id is not None:
        return department_of(actor) == o.department_id
    return o.addressee_id == actor.id


def _readable(actor: User, o: SupervisionOrder) -> bool:
    """The addressee (any level of its chain) and readers of figures covering its case."""
    if _addressed_to(actor, o):
        return True
    if not can(actor, Action.REPORTS_READ):
        return False
    case = db.session.get(Case, o.case_id)
    return case is not None and covers(None if actor.role == Role.ADMIN else actor.region, case.region_code)


def order_for(actor: User, order_id: int) -> SupervisionOrder:
    o = db.session.get(SupervisionOrder, order_id)
    if o is None or not _readable(actor, o):
        raise NotFound("supervision order")
    return o


def get_order(actor: User, order_id: int) -> dict[str, Any]:
    o = order_for(actor, order_id)
    view = order_view(o)
    chain = []
    up = o
    while up.parent_id is not None:
        up = db.session.get(SupervisionOrder, up.parent_id)
        chain.append({"id": up.id, "number": order_number(up), "state": up.state,
                      "addressee_name": _addressee_name(up), "due_on": up.due_on.isoformat()})
    view["escalated_from"] = chain
    nxt = db.session.execute(sa.select(SupervisionOrder.id).where(
        SupervisionOrder.parent_id == o.id)).scalar_one_or_none()
    view["escalated_to"] = nxt
    view["can_answer"] = _addressed_to(actor, o) and o.state == "open"
    view["sees_case"] = can_view_case(actor, db.session.get(Case, o.case_id))
    return view


def orders(actor: User, state: str | None = None, region: str | None = None,
           case_id: int | None = None, mine: bool = False) -> list[dict[str, Any]]:
    """Orders addressed to the reader, and (for readers of figures) every order on the
    cases of their jurisdiction; newest first."""
    q = sa.select(SupervisionOrder).join(Case, Case.id == SupervisionOrder.case_id)
    dept = department_of(actor)
    own = (SupervisionOrder.department_id == dept if dept is not None
           else SupervisionOrder.addressee_id == actor.id)
    if mine or not can(actor, Action.REPORTS_READ):
        q = q.where(own)
    else:
        scope = report_scope(actor, region)
        q = q.where(sa.or_(scope.condition(), own))
    if state == "overdue":
        q = q.where(SupervisionOrder.state == "open", SupervisionOrder.due_on < clock.today())
    elif state:
        q = q.where(SupervisionOrder.state == state)
    if case_id is not None:
        q = q.where(SupervisionOrder.case_id == case_id)
    today = clock.today()
    rows = db.session.execute(q.order_by(SupervisionOrder.id.desc()).limit(500)).scalars()
    return [order_view(o, today) for o in rows]


OVERDUE_LIMIT = 200


def overdue_in(where: Any, as_of: dt.date, limit: int = OVERDUE_LIMIT) -> dict[str, Any]:
    """The open 督办单 on the cases `where` selects whose deadline (a Beijing day) has passed
    as of `as_of` without an answer: the weekly report's list and the board's panel. An
    escalated order is no longer owed (its successor is, and is listed if late). Most
    overdue first; `total` counts them all, `orders` has at most `limit`."""
    cond = sa.and_(where, SupervisionOrder.state == "open", SupervisionOrder.due_on < as_of)
    total = db.session.execute(sa.select(sa.func.count()).select_from(SupervisionOrder)
                               .join(Case, Case.id == SupervisionOrder.case_id).where(cond)).scalar_one()
    rows = db.session.execute(
        sa.select(SupervisionOrder, Case.reference, Case.region_code)
        .join(Case, Case.id == SupervisionOrder.case_id)
        .where(cond).order_by(SupervisionOrder.due_on, SupervisionOrder.id).limit(limit)).all()
    return {"total": total, "orders": [
        {"id": o.id, "number": order_number(o), "case_id": o.case_id, "reference": ref,
         "case_region_code": region, "addressee_name": _addressee_name(o),
         "addressee_capacity": o.addressee_capacity, "level": o.level,
         "issued_on": o.issued_on.isoformat(), "due_on": o.due_on.isoformat(),
         "days_overdue": (as_of - o.due_on).days}
        for o, ref, region in rows]}


@transactional
def answer_order(actor: User, order_id: int, answer: str) -> dict[str, Any]:
    """The addressee answers the order (办理情况); once, while it is theirs (open)."""
    o = order_for(actor, order_id)
    if not _addressed_to(actor, o):
        raise Forbidden("only the order's addressee answers it")
    today = clock.today()
    res = db.session.execute(
        sa.update(SupervisionOrder)
        .where(SupervisionOrder.id == o.id, SupervisionOrder.state == "open")
        .values(state="answered", answer=answer, answered_on=today, answered_at=utcnow())
        .execution_options(synchronize_session=False))
    db.session.refresh(o)
    if res.rowcount != 1:
        raise Conflict(f"the order is {o.state}", current_state=o.state)
    timeline.append(db.session, o.case_id, events.ORDER_ANSWERED,
                    _event_data(o) | {"answer": answer}, actor.id)
    return order_view(o, today)


def _next_level(code: str) -> RegionResponsible | None:
    """The person one level up: the nearest region above with someone named."""
    up = parent_region(code)
    while up is not None:
        named = responsible_for(up)
        if named is not None:
            return named
        up = parent_region(up)
    return None


def escalate_overdue(today: dt.date | None = None) -> int:
    """The sweep: each open order whose deadline (a local day) has passed goes one level
    up, to the person responsible for the nearest region above with someone named, with as
    many days as the order had. Each in its own transaction, decided by a conditional
    update (a second sweep, here or in another process, escalates nothing twice); an order
    with no one above stays open and overdue. Returns how many were escalated."""
    today = today or clock.today()
    due = db.session.execute(sa.select(SupervisionOrder.id).where(
        SupervisionOrder.state == "open", SupervisionOrder.due_on < today)
        .order_by(SupervisionOrder.id)).scalars().all()
    db.session.rollback()
    done = 0
    for order_id in due:
        try:
            done += _escalate(order_id, today)
        except Exception:  # one bad order does not stop the others; the next sweep retries
            db.session.rollback()
            log.exception("escalating supervision order %s failed", order_id)
    return done


@transactional
def _escalate(order_id: int, today: dt.date) -> int:
    o = db.session.get(SupervisionOrder, order_id)
    if o is None or o.state != "open":
        return 0
    # A department's order goes to the person responsible for the department's region
    # first; a person's, to the region above theirs.
    named = (responsible_for(o.region_code) if o.department_id else None) or _next_level(o.region_code)
    if named is None:
        return 0
    res = db.session.execute(
        sa.update(SupervisionOrder).where(SupervisionOrder.id == o.id, SupervisionOrder.state == "open")
        .values(state="escalated", escalated_at=utcnow()).execution_options(synchronize_session=False))
    if res.rowcount != 1:
        return 0
    db.session.refresh(o)
    days = max(1, (o.due_on - o.issued_on).days)
    new = SupervisionOrder(case_id=o.case_id, subject=o.subject, handover_id=o.handover_id,
                           region_code=named.region_code, addressee_id=named.user_id,
                           addressee_capacity=named.kind, requirement=o.requirement,
                           issued_on=today, due_on=today + dt.timedelta(days=days),
                           level=o.level + 1, parent_id=o.id, issued_by_id=o.issued_by_id)
    db.session.add(new)
    db.session.flush()
    timeline.append(db.session, o.case_id, events.ORDER_ESCALATED,
                    _event_data(new) | {"from_order_id": o.id, "from_number": order_number(o),
                                        "from_addressee_name": _addressee_name(o),
                                        "from_addressee_id": o.addressee_id,
                                        "from_department_id": o.department_id}, None)
    return 1


# --- 约谈提醒 / 问责 ---------------------------------------------------------------------------

def record_view(r: AccountabilityRecord, case_ids: list[int] | None = None) -> dict[str, Any]:
    if case_ids is None:
        case_ids = list(db.session.execute(sa.select(AccountabilityCase.case_id).where(
            AccountabilityCase.record_id == r.id).order_by(AccountabilityCase.case_id)).scalars())
    refs = dict(db.session.execute(sa.select(Case.id, Case.reference).where(Case.id.in_(case_ids))).all()) \
        if case_ids else {}
    return {"id": r.id, "kind": r.kind, "subject_kind": r.subject_kind,
            "subject_user": _person(db.session.get(User, r.subject_user_id)) if r.subject_user_id else None,
            "department": r.department, "region_code": r.region_code,
            "decided_on": r.decided_on.isoformat(), "reason": r.reason, "measures": r.measures,
            "cases": [{"id": c, "reference": refs.get(c)} for c in case_ids],
            "recorded_by_id": r.recorded_by_id}


@transactional
def record_accountability(actor: User, data: dict[str, Any]) -> dict[str, Any]:
    """A 约谈提醒 or 问责 record against a person, a region or a department (of a region),
    with the cases it concerns: all in the recorder's jurisdiction."""
    if not can(actor, Action.ACCOUNTABILITY_RECORD):
        raise Forbidden("warning talks and accountability are recorded by supervisors")
    own = report_scope(actor)
    subject = data["subject_kind"]
    person = None
    errors: dict[str, list[str]] = {}
    if subject == "person":
        if data.get("user_id") is None:
            errors["user_id"] = ["the person concerned"]
        else:
            person = _official(data["user_id"], "user_id")
    if subject == "department" and not (data.get("department") or "").strip():
        errors["department"] = ["the department concerned"]
    code = data.get("region_code") or (person.region if person else None)
    if not code:
        errors["region_code"] = ["the region concerned (or the person's region)"]
    if errors:
        raise Invalid(errors)
    code = _region(code)
    if not code.startswith(own.prefix):
        raise Invalid({"region_code": ["outside your jurisdiction"]})
    case_ids = sorted(set(data.get("case_ids") or []))
    if case_ids:
        found = set(db.session.execute(sa.select(Case.id).where(
            Case.id.in_(case_ids), own.condition())).scalars())
        missing = [c for c in case_ids if c not in found]
        if missing:
            raise Invalid({"case_ids": [f"no case {', '.join(map(str, missing))} in your jurisdiction"]})
    if data["decided_on"] > clock.today():
        raise Invalid({"decided_on": ["cannot be in the future"]})
    r = AccountabilityRecord(kind=data["kind"], subject_kind=subject,
                             subject_user_id=person.id if person else None,
                             department=_department(data) if subject == "department" else None,
                             region_code=code, decided_on=data["decided_on"], reason=data["reason"],
                             measures=data.get("measures") or "", recorded_by_id=actor.id)
    db.session.add(r)
    db.session.flush()
    for c in case_ids:
        db.session.add(AccountabilityCase(record_id=r.id, case_id=c))
    db.session.flush()
    view = record_view(r, case_ids)
    for c in case_ids:
        timeline.append(db.session, c, events.ACCOUNTABILITY_RECORDED,
                        {"record_id": r.id, "kind": r.kind, "subject_kind": subject,
                         "subject_name": _subject_name(r),
                         "region_code": code, "decided_on": view["decided_on"]}, actor.id)
    return view


def _subject_name(r: AccountabilityRecord) -> str:
    """Whom a record is against, by name (the person, the department; a region by its code,
    said as its name by the timeline's sentence)."""
    if r.subject_kind == "person":
        person = db.session.get(User, r.subject_user_id) if r.subject_user_id else None
        return (person.display_name or person.username) if person else ""
    if r.subject_kind == "department":
        return r.department or ""
    return ""


def _department(data: dict[str, Any]) -> str | None:
    return (data.get("department") or "").strip() or None


def records(scope: Scope, first: dt.date, last: dt.date) -> list[dict[str, Any]]:
    """The records decided in [first, last] in the scope's regions, in order."""
    rows = db.session.execute(sa.select(AccountabilityRecord).where(
        AccountabilityRecord.region_code.startswith(scope.prefix, autoescape=True),
        AccountabilityRecord.decided_on >= first, AccountabilityRecord.decided_on <= last)
        .order_by(AccountabilityRecord.decided_on, AccountabilityRecord.id)).scalars()
    return [record_view(r) for r in rows]
