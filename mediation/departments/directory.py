"""The department directory (责任单位 per region): who sees it, who changes it, the commands."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from mediation import access
from mediation.departments.models import Department, DepartmentKind, DepartmentMember
from mediation.departments.rules import department_of
from mediation.errors import Forbidden, Invalid, NotFound
from mediation.extensions import db
from mediation.permissions import Action, can
from mediation.regions import covers, normalize_region, region_level, region_prefix
from mediation.transactions import transactional
from mediation.users import Role, User


def department_view(d: Department) -> dict[str, Any]:
    return {"id": d.id, "name": d.name, "kind": d.kind, "region_code": d.region_code,
            "level": region_level(d.region_code), "contact": d.contact, "active": d.active,
            "user_ids": [m.user_id for m in d.members]}


def visible_departments_filter(user: User):
    """Officials see the whole directory; a department's users their own department."""
    if can(user, Action.DEPARTMENTS_READ):
        return sa.true()
    own = department_of(user)
    return Department.id == own if own is not None else sa.false()


def get_department(user: User, department_id: int) -> Department:
    found = db.session.execute(sa.select(Department).where(
        Department.id == department_id, visible_departments_filter(user))).scalar_one_or_none()
    if found is None:
        raise NotFound("department")
    return found


def list_departments(user: User, args: dict[str, Any]) -> list[Department]:
    """The directory, by region then name. `region`: the departments of that region and the
    regions above it (those a case of the region may be handed to); `kind`, `active`."""
    if not (can(user, Action.DEPARTMENTS_READ) or user.role == Role.DEPARTMENT):
        raise Forbidden("the department directory is for officials")
    query = sa.select(Department).where(visible_departments_filter(user))
    if args.get("region"):
        code = normalize_region(args["region"])
        query = query.where(Department.region_code.in_(ancestors(code)))
    if args.get("kind"):
        query = query.where(Department.kind == args["kind"])
    if args.get("active") is not None:
        query = query.where(Department.active.is_(args["active"]))
    return list(db.session.execute(query.order_by(Department.region_code, Department.name)).scalars())


def ancestors(code: str) -> list[str]:
    """The code and the codes of the regions above it: 510104 -> 510104, 510100, 510000."""
    prefix = region_prefix(code)
    return [prefix[:n].ljust(6, "0") for n in range(len(prefix), 0, -2)]


def _check(user: User, data: dict[str, Any], errors: dict[str, list[str]],
           department: Department | None) -> None:
    if "name" in data and not (data["name"] or "").strip():
        errors["name"] = ["must not be blank"]
    if "kind" in data and data["kind"] not in DepartmentKind.__members__.values():
        errors["kind"] = [f"one of {', '.join(DepartmentKind)}"]
    if "region_code" in data:
        try:
            data["region_code"] = normalize_region(data["region_code"])
        except ValueError as exc:
            errors["region_code"] = [str(exc)]
        else:
            if not covers(user.region, data["region_code"]):
                errors["region_code"] = [f"outside your jurisdiction {user.region}"]
    if "user_ids" in data:
        ids = list(dict.fromkeys(data["user_ids"]))
        users = {u.id: u for u in db.session.execute(sa.select(User).where(User.id.in_(ids))).scalars()}
        wrong = [i for i in ids if i not in users or users[i].role != Role.DEPARTMENT]
        if wrong:
            errors["user_ids"] = [f"not department users: {', '.join(map(str, wrong))}"]
        else:
            taken = db.session.execute(sa.select(DepartmentMember.user_id).where(
                DepartmentMember.user_id.in_(ids),
                DepartmentMember.department_id != (department.id if department else -1))).scalars().all()
            if taken:
                errors["user_ids"] = [f"already act for another department: {', '.join(map(str, taken))}"]
        data["user_ids"] = ids


def _duplicate(region_code: str, name: str, own_id: int | None) -> bool:
    query = sa.select(Department.id).where(Department.region_code == region_code,
                                           Department.name == name)
    if own_id is not None:
        query = query.where(Department.id != own_id)
    return db.session.execute(query).first() is not None


@transactional
def create_department(actor: User, data: dict[str, Any]) -> Department:
    if not can(actor, Action.DEPARTMENTS_EDIT):
        raise Forbidden("departments are managed by admins and supervisors")
    data = dict(data)
    errors: dict[str, list[str]] = {}
    _check(actor, data, errors, None)
    name = (data.get("name") or "").strip()
    if not errors and _duplicate(data["region_code"], name, None):
        errors["name"] = ["the region has a department of this name"]
    if errors:
        raise Invalid(errors)
    d = Department(name=name, kind=data["kind"], region_code=data["region_code"],
                   contact=data.get("contact") or "", active=True)
    d.members = [DepartmentMember(user_id=u) for u in data.get("user_ids") or []]
    db.session.add(d)
    db.session.flush()
    access.changed(db.session, user_ids=[m.user_id for m in d.members])
    return d


@transactional
def update_department(actor: User, department_id: int, data: dict[str, Any]) -> Department:
    d = get_department(actor, department_id)
    if not can(actor, Action.DEPARTMENTS_EDIT, d.region_code):
        raise Forbidden("departments are managed by admins and supervisors of their region")
    data = dict(data)
    errors: dict[str, list[str]] = {}
    _check(actor, data, errors, d)
    name = (data["name"].strip() if "name" in data else d.name)
    region = data.get("region_code", d.region_code)
    if not errors and ("name" in data or "region_code" in data) and _duplicate(region, name, d.id):
        errors["name"] = ["the region has a department of this name"]
    if errors:
        raise Invalid(errors)
    d.name, d.region_code = name, region
    for key in ("kind", "contact", "active"):
        if key in data:
            setattr(d, key, data[key] if key != "contact" else (data[key] or ""))
    if "user_ids" in data:
        before = {m.user_id for m in d.members}
        after = set(data["user_ids"])
        d.members = [m for m in d.members if m.user_id in after]
        db.session.flush()  # the removed rows go before the new ones (one user, one row)
        d.members.extend(DepartmentMember(user_id=u) for u in data["user_ids"] if u not in before)
        access.changed(db.session, user_ids=before ^ after)
    db.session.flush()
    return d
