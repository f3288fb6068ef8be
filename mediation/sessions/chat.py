"""The session room's chat: messages of one session, seen by its participants and by the
officials watching the case.

The audience is registered here (realtime's channel registry names it; `mediation` never
imports `realtime`). Each message carries the user ids of the session's participants when it
was posted, so deciding who sees it needs no query: officials who see the case always do
(they join the case's `#session_participants` room, since `admits` says yes to them without
looking at the data), participants through their `user:<id>` inbox, named by the recipient
rule, where `admits` checks the message's list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from mediation import timeline
from mediation.errors import Conflict, Forbidden, Invalid, NotFound
from mediation.extensions import db
from mediation.registry import registry
from mediation.sessions import events
from mediation.sessions.commands import _officer, _participant_user_ids, get_session
from mediation.sessions.models import SessionStatus
from mediation.timeline import Event, iso
from mediation.transactions import transactional
from mediation.users import User

PREFIX = "session.message"  # event types session.message.posted|edited|deleted
POSTED = events.SESSION_MESSAGE_POSTED.name
EDITED = events.SESSION_MESSAGE_EDITED.name
DELETED = events.SESSION_MESSAGE_DELETED.name
MAX_BODY = 4000

# Checks run before a message is stored, as fn(actor), from the registry's `post_checks`:
# realtime registers its per-user rate limit there, so the session API and the socket are
# limited alike without `mediation` importing `realtime`.
PostCheck = Callable[[User], None]


def message_recipients(db_session, envelope: dict) -> list[int]:
    """A session message reaches the inbox of everyone who was in the room."""
    return list((envelope.get("data") or {}).get("audience") or [])


@transactional
def post(actor: User, session_id: int, body: Any, case_id: int | None = None) -> dict[str, Any]:
    """Say something in a session in progress (its participants and the case's officers).
    With `case_id` (posting on a case's "session" channel) the session must be that case's."""
    session, case = get_session(actor, session_id)
    if case_id is not None and case.id != case_id:
        raise NotFound("session")
    members = _participant_user_ids(session)
    if actor.id not in members and not _officer(actor, case):
        raise Forbidden("only the session's participants and the case's officers may speak in it")
    if session.status != SessionStatus.IN_PROGRESS:
        raise Conflict("messages are posted while the session is in progress",
                       current_state=session.status)
    text = body.strip() if isinstance(body, str) else ""
    if not text or len(text) > MAX_BODY:
        raise Invalid({"body": [f"between 1 and {MAX_BODY} characters"]})
    for check in registry().post_checks.values():
        check(actor)
    ev = timeline.append(db.session, case.id, events.SESSION_MESSAGE_POSTED, {
        "channel": "session", "session_id": session.id, "body": text,
        "audience": sorted(members)}, actor.id)
    return {"seq": ev.seq, "session_id": session.id, "author_id": actor.id, "body": text,
            "at": iso(ev.at)}


def messages(actor: User, session_id: int, after: int = 0, limit: int = 200) -> list[dict[str, Any]]:
    """The session's messages after `after` (a case seq), oldest first: one page, picked and
    limited in SQL."""
    session, case = get_session(actor, session_id)
    rows = db.session.execute(
        sa.select(Event).where(Event.case_id == case.id, Event.seq > after, Event.type == POSTED,
                               timeline.data_int(Event.data, "session_id") == session.id)
        .order_by(Event.seq).limit(limit)).scalars()
    return [{"seq": e.seq, "session_id": session.id, "author_id": e.actor_id,
             "body": e.payload.get("body"), "at": iso(e.at)} for e in rows]


def room_messages(actor: User, session_id: int, limit: int = 200) -> list[dict[str, Any]]:
    """The session room's latest messages as its edits and deletions leave them, oldest
    first, with their authors' names (for the pages)."""
    session, case = get_session(actor, session_id)
    return latest(case.id, [session.id], limit)[session.id]


def latest(case_id: int, session_ids: list[int], limit: int = 3) -> dict[int, list[dict[str, Any]]]:
    """The latest `limit` messages of each of a case's sessions (edits applied, deleted ones
    marked), oldest first. The caller has checked that the reader sees these sessions."""
    found: dict[int, dict[int, dict[str, Any]]] = {sid: {} for sid in session_ids}
    posted: list[Event] = []
    for sid in session_ids:  # each room's last `limit` messages, in SQL
        posted += db.session.execute(
            sa.select(Event).where(Event.case_id == case_id, Event.type == POSTED,
                                   timeline.data_int(Event.data, "session_id") == sid)
            .order_by(Event.seq.desc()).limit(limit)).scalars().all()
    seqs = [ev.seq for ev in posted]
    changes = db.session.execute(
        sa.select(Event).where(Event.case_id == case_id, Event.type.in_([EDITED, DELETED]),
                               Event.seq > min(seqs),
                               timeline.data_int(Event.data, "message_seq").in_(seqs))
    ).scalars().all() if seqs else []
    for ev in sorted([*posted, *changes], key=lambda e: e.seq):
        data = ev.payload
        room = found.get(data.get("session_id"))
        if room is None:
            continue
        if ev.type == POSTED:
            room[ev.seq] = {"seq": ev.seq, "session_id": data["session_id"], "author_id": ev.actor_id,
                            "body": data.get("body"), "at": iso(ev.at), "edited": False,
                            "deleted": False}
        elif (msg := room.get(data.get("message_seq"))) is not None and not msg["deleted"]:
            if ev.type == EDITED:
                msg.update(body=data.get("body"), edited=True)
            else:
                msg.update(body=None, deleted=True)
    authors = {m["author_id"] for room in found.values() for m in room.values()} - {None}
    names = {u.id: u.display_name or u.username for u in db.session.execute(
        sa.select(User).where(User.id.in_(authors))).scalars()} if authors else {}
    out: dict[int, list[dict[str, Any]]] = {}
    for sid, room in found.items():
        msgs = list(room.values())[-limit:]
        for m in msgs:
            m["author"] = names.get(m["author_id"], "")
        out[sid] = msgs
    return out


# --- caucus (背靠背调解): the mediator with one side, in private ---------------------------------

CAUCUS = events.SESSION_CAUCUS_POSTED.name


def caucus_channel(side_user_id: int) -> str:
    return f"caucus:{side_user_id}"


def _caucus(actor: User, session_id: int, side_user_id: int):
    """The session, its case and the channel's two members, if the actor is one of them;
    404 for anyone else (the channel does not exist for them)."""
    session, case = get_session(actor, session_id)
    members = _participant_user_ids(session)
    if side_user_id == session.mediator_id or side_user_id not in members:
        raise NotFound("caucus")
    pair = {session.mediator_id, side_user_id}
    if actor.id not in pair:
        raise NotFound("caucus")
    return session, case, pair


@transactional
def post_caucus(actor: User, session_id: int, side_user_id: int, body: Any) -> dict[str, Any]:
    """Say something in the private channel between the mediator and one side; the event
    names the two of them, and only their connections are sent it."""
    session, case, pair = _caucus(actor, session_id, side_user_id)
    if session.status != SessionStatus.IN_PROGRESS:
        raise Conflict("a caucus is held while the session is in progress", current_state=session.status)
    text = body.strip() if isinstance(body, str) else ""
    if not text or len(text) > MAX_BODY:
        raise Invalid({"body": [f"between 1 and {MAX_BODY} characters"]})
    for check in registry().post_checks.values():
        check(actor)
    ev = timeline.append(db.session, case.id, events.SESSION_CAUCUS_POSTED, {
        "channel": caucus_channel(side_user_id), "session_id": session.id, "side_user_id": side_user_id,
        "body": text, "audience": sorted(pair)}, actor.id)
    return {"seq": ev.seq, "session_id": session.id, "channel": caucus_channel(side_user_id),
            "author_id": actor.id, "body": text, "at": iso(ev.at)}


def caucus_messages(actor: User, session_id: int, side_user_id: int) -> list[dict[str, Any]]:
    session, case, _pair = _caucus(actor, session_id, side_user_id)
    rows = db.session.execute(
        sa.select(Event).where(Event.case_id == case.id, Event.type == CAUCUS,
                               timeline.data_int(Event.data, "session_id") == session.id,
                               timeline.data_int(Event.data, "side_user_id") == side_user_id)
        .order_by(Event.seq)).scalars()
    return [{"seq": e.seq, "session_id": session.id, "channel": caucus_channel(side_user_id),
             "author_id": e.actor_id, "body": e.payload.get("body"), "at": iso(e.at)} for e in rows]


def minutes(actor: User, session_id: int) -> dict[str, Any]:
    """The session's minutes with its notes, each naming the channel it came from: the whole
    room ("session") or a caucus ("caucus:<side user id>", with whom). A reader gets the
    caucus notes of the channels they were in only: the mediator all of them."""
    session, case = get_session(actor, session_id)
    rows = db.session.execute(
        sa.select(Event).where(Event.case_id == case.id, Event.type.in_([POSTED, CAUCUS]),
                               timeline.data_int(Event.data, "session_id") == session.id)
        .order_by(Event.seq)).scalars().all()
    people = {p.user_id: p.name for p in session.participants if p.user_id is not None}
    notes = []
    for e in rows:
        data = e.payload
        if e.type == CAUCUS and actor.id not in set(data.get("audience") or ()):
            continue
        side = data.get("side_user_id")
        notes.append({"seq": e.seq, "channel": data.get("channel", "session"),
                      "with": people.get(side) if side is not None else None,
                      "author_id": e.actor_id, "body": data.get("body"), "at": iso(e.at)})
    return {"session_id": session.id, "status": session.status, "minutes": session.minutes,
            "notes": notes}
