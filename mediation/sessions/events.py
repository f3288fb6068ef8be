"""The event types of sessions, agreements and their follow-up (the catalogue:
`mediation/events.py`).

A session's events (`session.*`) are for its participants and the officials who see the
case: who meets when, the minutes, who said what in the room and who is in it are not for
a lawyer or a counsellor on the case who is not in that session. Each event carries the
user ids of the session's participants when it happened (`audience`), so deciding needs
no query; events written before they carried it are decided from the session's rows.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from mediation.events import OFFICIALS, Audience, EventType, officials_and, per_context
from mediation.extensions import db
from mediation.users import User


def _members_now(session_id: int) -> frozenset[int]:
    from mediation.sessions.models import MediationSession, SessionParticipant

    users = set(db.session.execute(sa.select(SessionParticipant.user_id).where(
        SessionParticipant.session_id == session_id, SessionParticipant.user_id.is_not(None))).scalars())
    mediator = db.session.execute(sa.select(MediationSession.mediator_id).where(
        MediationSession.id == session_id)).scalar_one_or_none()
    return frozenset(users | ({mediator} if mediator is not None else set()))


def session_members(data: dict) -> frozenset[int]:
    """The users a session event concerns: its `audience`, else the session's participants."""
    if "audience" in data:
        return frozenset(int(u) for u in data["audience"] or ())
    session_id = data.get("session_id")
    if session_id is None:
        return frozenset()
    return per_context(f"session-members:{session_id}", lambda: _members_now(int(session_id)))


# Officials join the case's `#session_participants` room (admitted with no data); the
# participants get each event in their `user:<id>` inbox, named by `session_recipients`.
SESSION_PARTICIPANTS = officials_and(
    "session_participants", session_members,
    doc="the session's participants (their accounts) and the officials who see the case")


def session_recipients(db_session: Any, envelope: dict) -> list[int]:
    """A session's event reaches the inbox of each of its participants with an account."""
    data = envelope.get("data") or {}
    if "audience" in data:
        return [int(u) for u in data["audience"] or ()]
    from mediation.sessions.models import SessionParticipant

    session_id = data.get("session_id")
    if session_id is None:
        return []
    return list(db_session.execute(sa.select(SessionParticipant.user_id).where(
        SessionParticipant.session_id == session_id, SessionParticipant.user_id.is_not(None))).scalars())


def _session(name: str, label: Any, progress: bool = True) -> EventType:
    return EventType(name, label, audience=SESSION_PARTICIPANTS, recipients=(session_recipients,),
                     progress=progress)


SESSION_SCHEDULED = _session("session.scheduled", _l("安排调解会"))
SESSION_POSTPONED = _session("session.postponed", _l("调解会延期"))
SESSION_CANCELLED = _session("session.cancelled", _l("调解会取消"))
SESSION_STARTED = _session("session.started", _l("调解会开始"))
SESSION_ENDED = _session("session.ended", _l("调解会结束"))
SESSION_JOINED = _session("session.joined", _l("参会签到"))
SESSION_ATTENDANCE_RECORDED = _session("session.attendance_recorded", _l("记录出席情况"))
# Who is in the room, and what is said there, is presence and talk, not work on the case.
SESSION_ENTERED = _session("session.entered", _l("进入调解室"), progress=False)
SESSION_LEFT = _session("session.left", _l("离开调解室"), progress=False)
SESSION_MESSAGE_POSTED = _session("session.message.posted", _l("调解室发言"), progress=False)
SESSION_MESSAGE_EDITED = _session("session.message.edited", _l("调解室发言已修改"), progress=False)
SESSION_MESSAGE_DELETED = _session("session.message.deleted", _l("调解室发言已删除"), progress=False)

def _caucus_admits(user: User, case: Any, data: dict) -> bool:
    return user.id in {int(u) for u in data.get("audience") or ()}


# A caucus (背靠背调解): the mediator with one side only. Not the session's participants, not
# the officials watching: only the two named in the event, through their own inboxes (no case
# room), so the other side's connection is never sent it.
CAUCUS = Audience("caucus", _caucus_admits, case_rooms=False,
                  doc="the mediator and the one side of a private channel (背靠背), nobody else")


def caucus_recipients(_db_session: Any, envelope: dict) -> list[int]:
    return [int(u) for u in (envelope.get("data") or {}).get("audience") or ()]


SESSION_CAUCUS_POSTED = EventType("session.caucus.posted", _l("背靠背谈话"), audience=CAUCUS,
                                  recipients=(caucus_recipients,), progress=False)

AGREEMENT_DRAFTED = EventType("agreement.drafted", _l("起草调解协议"))
AGREEMENT_REVISED = EventType("agreement.revised", _l("修改调解协议"))
AGREEMENT_FINALISED = EventType("agreement.finalised", _l("调解协议定稿"))
AGREEMENT_SIGNED = EventType("agreement.signed", _l("调解协议签署"))
# Derived in the transaction of the signature or revision that caused them (which count).
AGREEMENT_IN_EFFECT = EventType("agreement.in_effect", _l("调解协议生效"), progress=False)
AGREEMENT_SUPERSEDED = EventType("agreement.superseded", _l("调解协议被取代"), progress=False)
CONFIRMATION_APPLIED = EventType("agreement.confirmation_applied", _l("申请司法确认"))
CONFIRMATION_DECIDED = EventType("agreement.confirmation_decided", _l("司法确认结果"))
PERFORMANCE_ITEM_ADDED = EventType("performance.item_added", _l("添加履行事项"))
PERFORMANCE_ITEM_DONE = EventType("performance.item_done", _l("履行事项完成"))
# Derived when the last item is done (the item's own event counts).
PERFORMANCE_COMPLETED = EventType("performance.completed", _l("协议履行完毕"), progress=False)
PETITIONING_CEASED = EventType("case.petitioning_ceased", _l("息诉罢访"))
PETITIONING_RESUMED = EventType("case.petitioning_resumed", _l("再次信访"))
# What a follow-up visit found (honoured or not, satisfaction) is for the officials.
VISIT_RECORDED = EventType("followup.visit_recorded", _l("记录回访"), audience=OFFICIALS)

ALL = (SESSION_SCHEDULED, SESSION_POSTPONED, SESSION_CANCELLED, SESSION_STARTED, SESSION_ENDED,
       SESSION_JOINED, SESSION_ATTENDANCE_RECORDED, SESSION_ENTERED, SESSION_LEFT,
       SESSION_MESSAGE_POSTED, SESSION_MESSAGE_EDITED, SESSION_MESSAGE_DELETED, SESSION_CAUCUS_POSTED,
       AGREEMENT_DRAFTED, AGREEMENT_REVISED, AGREEMENT_FINALISED, AGREEMENT_SIGNED,
       AGREEMENT_IN_EFFECT, AGREEMENT_SUPERSEDED, CONFIRMATION_APPLIED, CONFIRMATION_DECIDED,
       PERFORMANCE_ITEM_ADDED, PERFORMANCE_ITEM_DONE, PERFORMANCE_COMPLETED,
       PETITIONING_CEASED, PETITIONING_RESUMED, VISIT_RECORDED)
