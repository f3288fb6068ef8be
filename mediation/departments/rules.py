"""The departments' rules in the permission table (registered by `departments.init_app`).

Department users (`Role.DEPARTMENT`) see no case: `permissions.can_view_case` is false for
them everywhere, so every case route answers 404. They see their own department in the
directory and the hand-overs sent to it, and act on those (`HANDOVER_RESPOND`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from mediation.extensions import db
from mediation.permissions import OFFICIAL_ROLES, Action, Rule, _officer_of, can_view_case
from mediation.regions import covers
from mediation.users import Role, User


def department_of(user: User) -> int | None:
    """The department the user acts for (a department user's one membership)."""
    from mediation.departments.models import DepartmentMember

    if user.role != Role.DEPARTMENT:
        return None
    return db.session.execute(sa.select(DepartmentMember.department_id)
                              .where(DepartmentMember.user_id == user.id)).scalar_one_or_none()


def _member_of(user: User, handover: Any) -> bool:
    from mediation.departments.models import SHOWN_TO_DEPARTMENT

    return (handover is not None and handover.status in SHOWN_TO_DEPARTMENT
            and department_of(user) == handover.department_id)


def sees_handover(user: User, handover: Any) -> bool:
    """Officials who see the hand-over's case; the users of its department once it is sent."""
    if user.role in OFFICIAL_ROLES:
        from mediation.cases.models import Case

        case = db.session.get(Case, handover.case_id)
        return case is not None and can_view_case(user, case)
    return _member_of(user, handover)


def _edits_region(user: User, code: Any) -> bool:
    return code is None or covers(user.region, code)


RULES = (
    Rule(Action.DEPARTMENTS_READ, OFFICIAL_ROLES,
         doc="the whole department directory (a department's users read their own)"),
    Rule(Action.DEPARTMENTS_EDIT, frozenset({Role.ADMIN, Role.SUPERVISOR}), check=_edits_region,
         doc="add and change departments of a region the user covers"),
    Rule(Action.HANDOVER_CREATE, frozenset({Role.ADMIN, Role.CASE_OFFICER}), on_case=True,
         check=_officer_of,
         doc="officers whose region covers the case: hand a matter over, accept or send back "
             "a reply, withdraw"),
    Rule(Action.HANDOVER_READ, OFFICIAL_ROLES, on_case=True,
         doc="officials who see the case: its hand-overs and the replies"),
    Rule(Action.HANDOVER_RESPOND, frozenset({Role.DEPARTMENT}), check=_member_of,
         doc="the users of the department a hand-over was sent to: acknowledge and reply"),
)
