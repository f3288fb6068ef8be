"""One place that says who may do what. The API, the pages and the sockets all ask here.

Who sees a case: admins; officers and supervisors whose region covers the case's; the
case's lead official; providers with a live referral on it (the referrals package adds
that rule through `register_case_access`). Everyone else is told the case does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from mediation.errors import Forbidden, NotFound
from mediation.regions import region_prefix
from mediation.users import Role, User

# Extra rules that grant sight of cases: each takes a user and returns a SELECT of case ids
# (or None). Lets `referrals` extend visibility without `mediation` importing it.
CaseAccessRule = Callable[[User], Any]
_case_access_rules: list[CaseAccessRule] = []


def register_case_access(rule: CaseAccessRule) -> None:
    if rule not in _case_access_rules:
        _case_access_rules.append(rule)


def _regional(user: User) -> bool:
    return user.role in (Role.CASE_OFFICER, Role.SUPERVISOR)


def _jurisdiction_prefix(user: User) -> str:
    """The region prefix the user's jurisdiction covers; "" (all) for national users."""
    return region_prefix(user.region) if user.region else ""


def visible_cases_filter(user: User):
    """A SQL condition on `Case` true exactly for the cases the user may see."""
    from mediation.cases.models import Case

    if user.role == Role.ADMIN:
        return sa.true()
    conditions = [Case.lead_official_id == user.id]
    if _regional(user):
        conditions.append(Case.region_code.startswith(_jurisdiction_prefix(user), autoescape=True))
    for rule in _case_access_rules:
        ids = rule(user)
        if ids is not None:
            conditions.append(Case.id.in_(ids))
    return sa.or_(*conditions)


def can_view_case(user: User, case) -> bool:
    if user.role == Role.ADMIN or case.lead_official_id == user.id:
        return True
    if _regional(user) and case.region_code.startswith(_jurisdiction_prefix(user)):
        return True
    from mediation.cases.models import Case
    from mediation.extensions import db

    extra = [rule(user) for rule in _case_access_rules]
    extra = [ids for ids in extra if ids is not None]
    if not extra:
        return False
    return db.session.execute(
        sa.select(Case.id).where(Case.id == case.id, sa.or_(*[Case.id.in_(i) for i in extra]))
    ).first() is not None


def _officer_of(user: User, case) -> bool:
    return user.role == Role.ADMIN or (
        user.role == Role.CASE_OFFICER and case.region_code.startswith(_jurisdiction_prefix(user))
    )


# action -> predicate(user, case) evaluated once the case is known to be visible.
CASE_ACTIONS: dict[str, Callable[[User, Any], bool]] = {
    "view": lambda u, c: True,
    "edit": _officer_of,
    "transition": _officer_of,
    "classify": _officer_of,
    "assign_owner": _officer_of,
    "extend_clock": _officer_of,
    "investigate": _officer_of,
    # The owner records their own hearings and meetings; officers record them too.
    "record_contact": lambda u, c: _officer_of(u, c) or c.lead_official_id == u.id,
    # Full identity and phone numbers: officers who contact the petitioner and the owner
    # who must meet them. Supervisors and providers see masked numbers only.
    "reveal_pii": lambda u, c: _officer_of(u, c) or c.lead_official_id == u.id,
}


def can(user: User, action: str, target: Any = None) -> bool:
    """May the user do `action` (to `target`)? Unknown actions are refused."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.active:
        return False
    if action == "case.create":
        return user.role in (Role.ADMIN, Role.CASE_OFFICER)
    if action == "user.manage":
        return user.role == Role.ADMIN
    if action.startswith("case."):
        name = action.removeprefix("case.")
        rule = CASE_ACTIONS.get(name)
        return rule is not None and can_view_case(user, target) and rule(user, target)
    return False


def require_case(user: User, case_id: int, action: str = "view"):
    """The case if the user may see it and do the action; 404 if invisible, 403 if seen
    but the action is not theirs."""
    from mediation.cases.models import Case
    from mediation.extensions import db

    case = db.session.get(Case, case_id)
    if case is None or not can_view_case(user, case):
        raise NotFound("case")
    if action != "view" and not can(user, f"case.{action}", case):
        raise Forbidden(f"your role may not {action.replace('_', ' ')} this case")
    return case
