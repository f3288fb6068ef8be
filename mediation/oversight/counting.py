"""约谈提醒 and 问责 as the quarterly evaluation counts them (`supervision/reports.py`):
how many records of each kind per unit, and the points they cost. Kept apart from the
commands so that the report reads them without importing the rest of oversight."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from mediation.extensions import db
from mediation.oversight.models import AccountabilityRecord

# Points off the unit's quarterly score per record decided in the quarter.
WARNING_TALK_POINTS = 1.0
ACCOUNTABILITY_POINTS = 3.0
PREFIX_LEN = {"province": 2, "city": 4, "county": 6}


def counts(prefix: str, first: dt.date, last: dt.date, grouping: str) -> dict[str, dict[str, int]]:
    """{unit key: {"warning_talks": n, "accountabilities": n}} for the records decided in
    [first, last] whose region lies under `prefix`: by region prefix at the grouping's
    level, or (grouping "department") by the department named in a record against one."""
    R = AccountabilityRecord
    if grouping == "department":
        key = R.department
        extra = [R.subject_kind == "department", R.department.is_not(None)]
    else:
        key = sa.func.substr(R.region_code, 1, PREFIX_LEN[grouping])
        extra = []
    rows = db.session.execute(
        sa.select(key.label("key"), R.kind, sa.func.count().label("n"))
        .where(R.region_code.startswith(prefix, autoescape=True), R.decided_on >= first,
               R.decided_on <= last, *extra)
        .group_by(key, R.kind)).all()
    out: dict[str, dict[str, int]] = {}
    for k, kind, n in rows:
        row = out.setdefault(str(k), {"warning_talks": 0, "accountabilities": 0})
        row["warning_talks" if kind == "warning_talk" else "accountabilities"] += int(n)
    return out


def points(row: dict[str, Any]) -> float:
    return (WARNING_TALK_POINTS * row.get("warning_talks", 0)
            + ACCOUNTABILITY_POINTS * row.get("accountabilities", 0))


def listed(prefix: str, first: dt.date, last: dt.date) -> list[dict[str, Any]]:
    """The records decided in [first, last] under `prefix`, in order, each with the person
    concerned and the cases (reference numbers) it concerns."""
    from mediation.cases.models import Case
    from mediation.oversight.models import AccountabilityCase
    from mediation.users import User

    R = AccountabilityRecord
    rows = db.session.execute(
        sa.select(R, User.display_name).outerjoin(User, User.id == R.subject_user_id)
        .where(R.region_code.startswith(prefix, autoescape=True), R.decided_on >= first,
               R.decided_on <= last)
        .order_by(R.decided_on, R.id)).all()
    cases: dict[int, list[dict[str, Any]]] = {}
    if rows:
        for rid, cid, ref in db.session.execute(
                sa.select(AccountabilityCase.record_id, Case.id, Case.reference)
                .join(Case, Case.id == AccountabilityCase.case_id)
                .where(AccountabilityCase.record_id.in_([r.id for r, _ in rows]))
                .order_by(Case.id)).all():
            cases.setdefault(rid, []).append({"id": cid, "reference": ref})
    return [{"id": r.id, "kind": r.kind, "subject_kind": r.subject_kind,
             "subject_user_id": r.subject_user_id, "subject_name": name,
             "department": r.department, "region_code": r.region_code,
             "decided_on": r.decided_on.isoformat(), "reason": r.reason, "measures": r.measures,
             "cases": cases.get(r.id, [])} for r, name in rows]
