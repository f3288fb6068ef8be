"""Who is in a session's room right now (在线): the participants, and the case's officers,
who have the room open.

A socket connection enters a room (`join_session` over Socket.IO) and leaves it
(`leave_session`, or by disconnecting). Presence is kept in the database, one row per
connection per room (`session_presence`), so that every web process sees the same room
whether the connection is held by this process or another one (Redis message queue), and
the embedded single process needs nothing more.

Stale rows. A process that dies takes its connections with it but leaves their rows. The
room page's script re-sends `join_session` every `heartbeat_seconds()` (25 s by default,
`MEDIATION_PRESENCE_HEARTBEAT_SECONDS`); it refreshes `seen_at`. Readers count only rows
seen within `stale_seconds()` (three heartbeats), so a dead process's people disappear
within about 75 s whatever happens next; the periodic sweep (`sweep`: the embedded loop,
or Celery beat with Redis) deletes those rows and says so on the timeline. The clients of a
dead process reconnect to another one and enter again. We chose a heartbeat over "clear a
process's rows at start" because a crashed process may never start again, and a process
cannot tell another's rows from its own without a registry of live processes.

Events. A change of who is present is an event on the case's timeline, `session.entered` or
`session.left`, appended only when a *person* arrives or goes (their first connection in
the room opens, their last one closes); heartbeats and a second tab append nothing. That
is cheap (one append per arrival or departure), it reaches the officials watching the case
(the case's `#session_participants` room, their region boards) and every participant (their
`user:<id>` inbox) through the same relay and audience as the session's chat, it is
replayed after a reconnect like every other event, and it refreshes the case page's and
the board's live parts, which listen to `session.` events. It also leaves an honest
record of who was in the online room and when. Each event carries who is present after the
change, so a page can show the room without asking again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from mediation import settings, timeline
from mediation.errors import Conflict, NotFound
from mediation.events import EventType
from mediation.extensions import db
from mediation.sessions import events
from mediation.sessions.commands import _officer, _participant_user_ids, get_session
from mediation.sessions.models import MediationSession, SessionPresence, SessionStatus
from mediation.timeline import iso, utcnow
from mediation.transactions import transactional
from mediation.users import User

ENTERED = events.SESSION_ENTERED
LEFT = events.SESSION_LEFT
EVENTS = (ENTERED.name, LEFT.name)
CLOSED = (SessionStatus.ENDED.value, SessionStatus.CANCELLED.value)


def heartbeat_seconds() -> int:
    """How often a room's client says it is still there."""
    return int(settings.get("MEDIATION_PRESENCE_HEARTBEAT_SECONDS"))


def stale_seconds() -> int:
    """A connection not heard of for this long is gone (three missed heartbeats)."""
    return 3 * heartbeat_seconds()


def _cutoff() -> dt.datetime:
    return utcnow() - dt.timedelta(seconds=stale_seconds())


def may_enter(actor: User, session: MediationSession, case: Any) -> bool:
    """Participants of the session, and officers of its case, may be present in its room."""
    return actor.id in _participant_user_ids(session) or _officer(actor, case)


def present(session_ids: list[int] | set[int]) -> dict[int, list[dict[str, Any]]]:
    """Who is present in each of these sessions' rooms: [{user_id, name, since}], earliest
    arrival first. Rows past the heartbeat window do not count."""
    ids = list(session_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        sa.select(SessionPresence.session_id, SessionPresence.user_id,
                  sa.func.min(SessionPresence.since).label("since"),
                  User.display_name, User.username)
        .join(User, User.id == SessionPresence.user_id)
        .where(SessionPresence.session_id.in_(ids), SessionPresence.seen_at > _cutoff())
        .group_by(SessionPresence.session_id, SessionPresence.user_id, User.display_name, User.username)
    ).all()
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    for r in sorted(rows, key=lambda r: (r.since, r.user_id)):
        found[r.session_id].append({"user_id": r.user_id, "name": r.display_name or r.username,
                                    "since": iso(r.since)})
    return found


def present_in(session_id: int) -> list[dict[str, Any]]:
    return present([session_id])[session_id]


def _lock(session_id: int) -> None:
    """Serialise the room's changes (PostgreSQL: a row lock on the session; SQLite has one
    writer at a time anyway, and every change here writes before it reads)."""
    db.session.execute(sa.select(MediationSession.id).where(MediationSession.id == session_id)
                       .with_for_update())


def _still_here(session_id: int, user_id: int) -> bool:
    return db.session.execute(
        sa.select(SessionPresence.id).where(SessionPresence.session_id == session_id,
                                            SessionPresence.user_id == user_id,
                                            SessionPresence.seen_at > _cutoff()).limit(1)
    ).first() is not None


def _announce(session: MediationSession, type_: EventType, user_id: int, reason: str | None = None) -> None:
    who = db.session.get(User, user_id)
    data: dict[str, Any] = {
        "session_id": session.id, "user_id": user_id,
        "name": (who.display_name or who.username) if who else "",
        # Who sees it besides the officials: the participants (their inboxes), as for chat.
        "audience": sorted(_participant_user_ids(session)),
        "present": [{"user_id": p["user_id"], "name": p["name"]} for p in present_in(session.id)]}
    if reason:
        data["reason"] = reason
    timeline.append(db.session, session.case_id, type_, data, user_id)


@transactional
def enter(actor: User, session_id: int, sid: str) -> dict[str, Any]:
    """This connection has the room open (first time, or a heartbeat). Not a participant nor
    an officer of the case: 404, as for a session one may not see; a session that is over:
    409 with its state."""
    session, case = get_session(actor, session_id)
    if not may_enter(actor, session, case):
        raise NotFound("session")
    if session.status in CLOSED:
        raise Conflict("the session is over", current_state=session.status)
    _lock(session.id)
    now = utcnow()
    refreshed = db.session.execute(
        sa.update(SessionPresence)
        .where(SessionPresence.session_id == session.id, SessionPresence.sid == sid,
               SessionPresence.user_id == actor.id, SessionPresence.seen_at > _cutoff())
        .values(seen_at=now).execution_options(synchronize_session=False)).rowcount
    entered = False
    if not refreshed:
        # A row past the window (or of another user on a reused sid) is replaced.
        db.session.execute(sa.delete(SessionPresence).where(SessionPresence.session_id == session.id,
                                                            SessionPresence.sid == sid))
        others = _still_here(session.id, actor.id)
        try:
            with db.session.begin_nested():
                db.session.add(SessionPresence(session_id=session.id, user_id=actor.id, sid=sid,
                                               since=now, seen_at=now))
        except IntegrityError:  # the same connection entered twice at once: one row is enough
            others = True
        if not others:
            _announce(session, ENTERED, actor.id)
            entered = True
    return {"session_id": session.id, "case_id": session.case_id, "entered": entered,
            "present": present_in(session.id), "heartbeat": heartbeat_seconds()}


def _leave_rows(rows: list[SessionPresence], reason: str) -> int:
    """Delete these rows; announce everyone who, without them, is no longer in the room."""
    gone = 0
    by_session: dict[int, set[int]] = {}
    for row in rows:
        by_session.setdefault(row.session_id, set()).add(row.user_id)
    for session_id, users in sorted(by_session.items()):
        _lock(session_id)
        db.session.execute(sa.delete(SessionPresence).where(
            SessionPresence.id.in_([r.id for r in rows if r.session_id == session_id])))
        session = db.session.get(MediationSession, session_id)
        for user_id in sorted(users):
            if not _still_here(session_id, user_id):
                _announce(session, LEFT, user_id, reason)
                gone += 1
    return gone


@transactional
def leave(actor: User, session_id: int, sid: str) -> dict[str, Any]:
    """This connection closed the room (the page went away). Leaving a room one is not in
    is a no-op."""
    rows = list(db.session.execute(sa.select(SessionPresence).where(
        SessionPresence.session_id == session_id, SessionPresence.sid == sid,
        SessionPresence.user_id == actor.id)).scalars())
    left = bool(_leave_rows(rows, "left")) if rows else False
    return {"session_id": session_id, "left": left, "present": present_in(session_id)}


@transactional
def disconnected(sid: str) -> int:
    """The connection is gone: it leaves every room it was in. Returns how many people left."""
    rows = list(db.session.execute(sa.select(SessionPresence).where(SessionPresence.sid == sid)).scalars())
    return _leave_rows(rows, "disconnected") if rows else 0


@transactional
def sweep() -> int:
    """Remove rows past the heartbeat window (their process died); announce who left."""
    rows = list(db.session.execute(sa.select(SessionPresence).where(
        SessionPresence.seen_at <= _cutoff()).limit(1000)).scalars())
    return _leave_rows(rows, "timed_out") if rows else 0
