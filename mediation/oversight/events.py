"""Oversight's event types (the catalogue: `mediation/events.py`): the task force's
members, supervision orders, warning talks and accountability. All are for officials."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from mediation.events import OFFICIALS, Audience, EventType, per_context
from mediation.permissions import OFFICIAL_ROLES
from mediation.users import User


def _named(key: str):
    def rule(_session: Any, envelope: dict) -> list[int]:
        user = (envelope.get("data") or {}).get(key)
        return [int(user)] if user is not None else []
    rule.__name__ = f"{key}_recipient"
    return rule


def _department(user: User) -> int | None:
    from mediation.departments.rules import department_of

    return per_context(f"oversight.department:{user.id}", lambda: department_of(user))


def _admits_order(user: User, case: Any, data: dict) -> bool:
    # Officials who see the case; an order to a department reaches that department's users
    # (who see no case: in their inbox only, by the recipient rule below).
    if user.role in OFFICIAL_ROLES:
        return True
    dept = data.get("department_id") or data.get("from_department_id")
    return dept is not None and _department(user) == dept


ORDER_PARTIES = Audience("order_parties", _admits_order, admits_region=lambda u: u.role in OFFICIAL_ROLES,
                         doc="officials who see the case, and the users of the department an order "
                             "is addressed to")


def department_recipients(session: Any, envelope: dict) -> list[int]:
    import sqlalchemy as sa

    from mediation.departments.models import DepartmentMember

    dept = (envelope.get("data") or {}).get("department_id")
    if dept is None:
        return []
    return list(session.execute(sa.select(DepartmentMember.user_id)
                                .where(DepartmentMember.department_id == dept)).scalars())


# What happened, said from the event's data in the reader's language (the timeline's words,
# `mediation/cases/sentences.py`). Names are as recorded when it happened.
def _addressee(d: dict, prefix: str = "") -> str:
    from mediation.labels import label

    name = d.get(prefix + "addressee_name") or ""
    capacity = d.get(prefix + "addressee_capacity")
    return _("%(name)s（%(capacity)s）", name=name, capacity=label(capacity, "responsible_kind")) \
        if name and capacity else name


def _member_added(d: dict) -> str:
    from mediation.labels import label

    return _("%(name)s加入工作专班，任%(role)s", name=d["name"], role=label(d["role"], "task_force_role"))


def _member_removed(d: dict) -> str:
    from mediation.labels import label

    return _("%(name)s退出工作专班（原任%(role)s）", name=d["name"], role=label(d["role"], "task_force_role"))


def _order_issued(d: dict) -> str:
    from mediation.cases.sentences import long_date

    return _("%(number)s：督办%(who)s，%(date)s前回复", number=d["number"], who=_addressee(d),
             date=long_date(d["due_on"]))


def _order_answered(d: dict) -> str:
    return _("%(who)s回复%(number)s：%(answer)s", who=d.get("addressee_name") or "", number=d["number"],
             answer=d.get("answer") or "")


def _order_escalated(d: dict) -> str:
    from mediation.cases.sentences import long_date

    return _("%(old)s逾期未回复，升级为%(number)s：督办%(who)s，%(date)s前回复",
             old=d["from_number"], number=d["number"], who=_addressee(d), date=long_date(d["due_on"]))


def _accountability(d: dict) -> str:
    from mediation.cases.sentences import long_date
    from mediation.labels import label
    from mediation.regions import region_words

    who = d.get("subject_name") or (region_words(d.get("region_code"))
                                    if d.get("subject_kind") == "region" else "")
    return _("%(date)s对%(who)s%(kind)s", date=long_date(d["decided_on"]), who=who,
             kind=label(d["kind"], "accountability_kind"))


# Joining or leaving a task force gives or takes the sight of the case: live connections
# are re-checked (`mediation/access.py`).
MEMBER_ADDED = EventType("taskforce.member_added", _l("加入工作专班"), audience=OFFICIALS,
                         recipients=(_named("user_id"),), changes_access=True, sentence=_member_added)
MEMBER_REMOVED = EventType("taskforce.member_removed", _l("退出工作专班"), audience=OFFICIALS,
                           changes_access=True, sentence=_member_removed)
# An order gives its addressee the sight of the case, for as long as it is theirs.
ORDER_ISSUED = EventType("oversight.order_issued", _l("下发督办单"), audience=ORDER_PARTIES,
                         recipients=(_named("addressee_id"), department_recipients), changes_access=True,
                         sentence=_order_issued)
ORDER_ANSWERED = EventType("oversight.order_answered", _l("督办单已回复"), audience=ORDER_PARTIES,
                           recipients=(_named("issued_by_id"),), sentence=_order_answered)
# The system's doing, not anyone's work on the case.
ORDER_ESCALATED = EventType("oversight.order_escalated", _l("督办单逾期升级"), audience=ORDER_PARTIES,
                            recipients=(_named("addressee_id"), _named("issued_by_id")),
                            progress=False, changes_access=True, sentence=_order_escalated)
ACCOUNTABILITY_RECORDED = EventType("oversight.accountability_recorded", _l("约谈问责记录"),
                                    audience=OFFICIALS, progress=False, sentence=_accountability)

ALL = (MEMBER_ADDED, MEMBER_REMOVED, ORDER_ISSUED, ORDER_ANSWERED, ORDER_ESCALATED,
       ACCOUNTABILITY_RECORDED)
