"""The event types of supervision: inspections, deductions, rectifications, surveys and
reminders (the catalogue: `mediation/events.py`)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from mediation.events import Audience, EventType
from mediation.permissions import OFFICIAL_ROLES
from mediation.users import User


def _admits_reminded(user: User, case: Any, data: dict) -> bool:
    # Live, a reminder reaches only the user it names (its recipient rule, no case room);
    # on the timeline, officials see that it was sent (who was reminded of what, when).
    return user.id == data.get("user_id") or user.role in OFFICIAL_ROLES


REMINDED = Audience("reminded", _admits_reminded, case_rooms=False,
                    doc="the user reminded, and the officials who see the case")


def reminder_recipients(_session: Any, envelope: dict) -> list[int]:
    user = (envelope.get("data") or {}).get("user_id")
    return [int(user)] if user is not None else []


# The system's daily nudge: a case that receives only these is still idle (空转).
REMINDER_DUE = EventType("reminder.due", _l("到期提醒"), audience=REMINDED,
                         recipients=(reminder_recipients,), progress=False)
# Supervisors' records about the case judge the handling; they are not handling: a
# deduction for idle handling (空转) must not make the case look worked on. The handlers'
# rectification is work.
INSPECTED = EventType("supervision.inspected", _l("督查检查"), progress=False)
DEDUCTED = EventType("supervision.deducted", _l("考核扣分"), progress=False)
RECTIFICATION_ORDERED = EventType("supervision.rectification_ordered", _l("责令整改"), progress=False)
RECTIFIED = EventType("supervision.rectified", _l("整改完成"))
# Asking the petitioner, and the answer, say how the case went, not that anyone worked on it.
SURVEY_SENT = EventType("survey.sent", _l("发送满意度评价"), progress=False)
SURVEY_ANSWERED = EventType("survey.answered", _l("满意度评价"), progress=False)

ALL = (REMINDER_DUE, INSPECTED, DEDUCTED, RECTIFICATION_ORDERED, RECTIFIED, SURVEY_SENT,
       SURVEY_ANSWERED)
