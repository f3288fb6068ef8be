"""Oversight's event types (the catalogue: `mediation/events.py`): the task force's
members, supervision orders, warning talks and accountability. All are for officials."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from mediation.events import OFFICIALS, EventType


def _named(key: str):
    def rule(_session: Any, envelope: dict) -> list[int]:
        user = (envelope.get("data") or {}).get(key)
        return [int(user)] if user is not None else []
    rule.__name__ = f"{key}_recipient"
    return rule


# Joining or leaving a task force gives or takes the sight of the case: live connections
# are re-checked (`mediation/access.py`).
MEMBER_ADDED = EventType("taskforce.member_added", _l("加入工作专班"), audience=OFFICIALS,
                         recipients=(_named("user_id"),), changes_access=True)
MEMBER_REMOVED = EventType("taskforce.member_removed", _l("退出工作专班"), audience=OFFICIALS,
                           changes_access=True)
# An order gives its addressee the sight of the case, for as long as it is theirs.
ORDER_ISSUED = EventType("oversight.order_issued", _l("下发督办单"), audience=OFFICIALS,
                         recipients=(_named("addressee_id"),), changes_access=True)
ORDER_ANSWERED = EventType("oversight.order_answered", _l("督办单已回复"), audience=OFFICIALS,
                           recipients=(_named("issued_by_id"),))
# The system's doing, not anyone's work on the case.
ORDER_ESCALATED = EventType("oversight.order_escalated", _l("督办单逾期升级"), audience=OFFICIALS,
                            recipients=(_named("addressee_id"), _named("issued_by_id")),
                            progress=False, changes_access=True)
ACCOUNTABILITY_RECORDED = EventType("oversight.accountability_recorded", _l("约谈问责记录"),
                                    audience=OFFICIALS, progress=False)

ALL = (MEMBER_ADDED, MEMBER_REMOVED, ORDER_ISSUED, ORDER_ANSWERED, ORDER_ESCALATED,
       ACCOUNTABILITY_RECORDED)
