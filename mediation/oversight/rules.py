"""Oversight's rules in the permission table, and who sees a case through it."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from mediation.oversight.models import SupervisionOrder, TaskForceMember
from mediation.permissions import Action, Rule
from mediation.regions import covers
from mediation.users import Role, User

_SUPERVISORS = frozenset({Role.ADMIN, Role.SUPERVISOR})


def _covers_case(user: User, case: Any) -> bool:
    return user.role == Role.ADMIN or covers(user.region, case.region_code)


def _covers_region(user: User, code: Any) -> bool:
    return user.role == Role.ADMIN or (code is not None and covers(user.region, code))


RULES = (
    Rule(Action.RESPONSIBLES_MANAGE, _SUPERVISORS, check=_covers_region,
         doc="name a region's 第一责任人 and 直接责任人 in their jurisdiction"),
    Rule(Action.TASKFORCE_MANAGE, frozenset({Role.ADMIN, Role.SUPERVISOR, Role.CASE_OFFICER}),
         on_case=True, check=_covers_case,
         doc="officers and supervisors whose region covers the case: the task force (工作专班)"),
    Rule(Action.ORDER_ISSUE, _SUPERVISORS, on_case=True, check=_covers_case,
         doc="supervisors whose region covers the case: issue a supervision order (督办单)"),
    Rule(Action.ACCOUNTABILITY_RECORD, _SUPERVISORS,
         doc="record warning talks (约谈提醒) and accountability (问责) in their jurisdiction"),
)


def task_force_cases(user: User):
    """Members of a case's task force see the case."""
    if user.role == Role.ADMIN:
        return None
    return sa.select(TaskForceMember.case_id).where(TaskForceMember.user_id == user.id)


def ordered_cases(user: User):
    """The addressee of a supervision order sees its case (they must act on it)."""
    if user.role == Role.ADMIN:
        return None
    return sa.select(SupervisionOrder.case_id).where(SupervisionOrder.addressee_id == user.id)
