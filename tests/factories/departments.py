"""Departments (责任单位) in the directory."""

from __future__ import annotations

from mediation.departments.models import Department, DepartmentMember
from mediation.extensions import db
from mediation.users import User
from tests.factories.base import seq


def make_department(kind: str = "civil_affairs", region: str = "510104", members: tuple[User, ...] = (),
                    name: str | None = None, active: bool = True) -> Department:
    """A department straight into the directory (API tests make theirs through the API)."""
    d = Department(name=name or f"{kind} {seq()}", kind=kind, region_code=region, contact="",
                   active=active)
    d.members = [DepartmentMember(user_id=u.id) for u in members]
    db.session.add(d)
    db.session.commit()
    return d
