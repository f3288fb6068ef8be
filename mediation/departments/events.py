"""The event types of hand-overs (交办/转送) (the catalogue: `mediation/events.py`).

A hand-over's events are for the officials who see its case and for the users of the
department it was sent to — of that hand-over only: a department never sees another
department's hand-over, nor anything else of the case. Each event carries the ids of the
department's users when it happened (`audience`), so deciding needs no query, and they
are its recipients (their `user:<id>` inbox live, and their notification centre); the
officer who sent the hand-over is a recipient of what the department does.
A suggestion by a strategy route is for officials only (the department is not told of
what was never sent).
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from mediation.events import Audience, EventType
from mediation.permissions import OFFICIAL_ROLES
from mediation.users import User


def _members(data: dict) -> frozenset[int]:
    return frozenset(int(u) for u in data.get("audience") or ())


def _admits(user: User, case: Any, data: dict) -> bool:
    return user.role in OFFICIAL_ROLES or user.id in _members(data)


HANDOVER_PARTIES = Audience(
    "handover", _admits, admits_region=lambda user: user.role in OFFICIAL_ROLES,
    doc="the officials who see the case, and the users of the department the hand-over went to")


def handover_recipients(session: Any, envelope: dict) -> list[int]:
    """The department's users, and the officer who handed the matter over."""
    data = envelope.get("data") or {}
    users = [int(u) for u in data.get("audience") or ()]
    if data.get("officer_id"):
        users.append(int(data["officer_id"]))
    return users


def _handover(name: str, label: Any, progress: bool = True) -> EventType:
    return EventType(name, label, audience=HANDOVER_PARTIES, recipients=(handover_recipients,),
                     progress=progress)


# Suggested by the strategy route (no human work yet, officials only).
HANDOVER_SUGGESTED = EventType("handover.suggested", _l("建议交办责任单位"),
                               audience=HANDOVER_PARTIES, progress=False)
HANDOVER_SENT = _handover("handover.sent", _l("交办责任单位"))
HANDOVER_ACKNOWLEDGED = _handover("handover.acknowledged", _l("责任单位签收"))
HANDOVER_REPLIED = _handover("handover.replied", _l("责任单位办理回复"))
HANDOVER_ACCEPTED = _handover("handover.accepted", _l("办理回复已采纳"))
HANDOVER_RETURNED = _handover("handover.returned", _l("办理回复退回重办"))
HANDOVER_WITHDRAWN = _handover("handover.withdrawn", _l("撤回交办"))

ALL = (HANDOVER_SUGGESTED, HANDOVER_SENT, HANDOVER_ACKNOWLEDGED, HANDOVER_REPLIED,
       HANDOVER_ACCEPTED, HANDOVER_RETURNED, HANDOVER_WITHDRAWN)
