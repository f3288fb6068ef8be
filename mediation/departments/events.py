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

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from mediation.events import EventType, officials_and


def _members(data: dict) -> frozenset[int]:
    return frozenset(int(u) for u in data.get("audience") or ())


HANDOVER_PARTIES = officials_and(
    "handover", _members,
    doc="the officials who see the case, and the users of the department the hand-over went to")


def handover_recipients(session: Any, envelope: dict) -> list[int]:
    """The department's users, and the officer who handed the matter over."""
    data = envelope.get("data") or {}
    users = [int(u) for u in data.get("audience") or ()]
    if data.get("officer_id"):
        users.append(int(data["officer_id"]))
    return users


def _handover(name: str, label: Any, sentence: Any, progress: bool = True) -> EventType:
    return EventType(name, label, audience=HANDOVER_PARTIES, recipients=(handover_recipients,),
                     progress=progress, sentence=sentence)


# What happened, said from the event's data in the reader's language (the timeline's words).
def _sent(d: dict) -> str:
    from mediation.cases.sentences import long_date

    return _("交办%(department)s：%(matter)s，%(date)s前回复", department=d["department"],
             matter=d["matter"], date=long_date(d.get("due_on")))


def _suggested(d: dict) -> str:
    return _("建议交办%(department)s：%(matter)s", department=d["department"], matter=d["matter"])


def _acknowledged(d: dict) -> str:
    return _("%(department)s已签收：%(matter)s", department=d["department"], matter=d["matter"])


def _replied(d: dict) -> str:
    return _("%(department)s回复：%(result)s", department=d["department"], result=d.get("result") or "")


def _accepted(d: dict) -> str:
    return _("%(department)s的办理回复已采纳：%(matter)s", department=d["department"], matter=d["matter"])


def _returned(d: dict) -> str:
    return _("退回%(department)s重办。理由：%(r)s", department=d["department"], r=d.get("reason") or "")


def _withdrawn(d: dict) -> str:
    return _("撤回交办%(department)s。理由：%(r)s", department=d["department"], r=d.get("reason") or "")


# Suggested by the strategy route (no human work yet, officials only).
HANDOVER_SUGGESTED = EventType("handover.suggested", _l("建议交办责任单位"),
                               audience=HANDOVER_PARTIES, progress=False, sentence=_suggested)
HANDOVER_SENT = _handover("handover.sent", _l("交办责任单位"), _sent)
HANDOVER_ACKNOWLEDGED = _handover("handover.acknowledged", _l("责任单位签收"), _acknowledged)
HANDOVER_REPLIED = _handover("handover.replied", _l("责任单位办理回复"), _replied)
HANDOVER_ACCEPTED = _handover("handover.accepted", _l("办理回复已采纳"), _accepted)
HANDOVER_RETURNED = _handover("handover.returned", _l("办理回复退回重办"), _returned)
HANDOVER_WITHDRAWN = _handover("handover.withdrawn", _l("撤回交办"), _withdrawn)

ALL = (HANDOVER_SUGGESTED, HANDOVER_SENT, HANDOVER_ACKNOWLEDGED, HANDOVER_REPLIED,
       HANDOVER_ACCEPTED, HANDOVER_RETURNED, HANDOVER_WITHDRAWN)
