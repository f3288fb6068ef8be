"""Messaging: a case's thread for all its participants, internal notes for officials.

Messages are timeline events, so they are hash-chained, delivered live by the relay and
caught up by cursor like every other event. A message is identified by the sequence
number of its `*.posted` event; an edit or a deletion is a new event naming that number,
so history is never rewritten (the original text stays on the timeline, visible to the
same audience). A read marker per user per case says how far they have read.

Channels live in the app's registry (`channels`): besides the case's thread and internal
notes, a session room's chat, whose event types (the sessions area's) admit the session's
participants and go to their inboxes, not to the whole case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Flask
from limits import RateLimitItemPerSecond
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased

from mediation import driver, settings, timeline, writes
from mediation.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from mediation.events import EventType, admits, can_see_event
from mediation.extensions import db
from mediation.permissions import Action, can, require_case
from mediation.registry import registry
from mediation.sessions import chat as session_chat
from mediation.sessions import events as session_events
from mediation.timeline import Event, iso, utcnow
from mediation.transactions import transactional
from mediation.users import User
from realtime import events as rt_events
from realtime.models import ReadMarker

MAX_BODY = 4000
VERBS = ("posted", "edited", "deleted")


@dataclass(frozen=True)
class Channel:
    """A channel of messages: its three event types (declared in the catalogue), whose
    audience is the channel's."""

    name: str
    posted: EventType
    edited: EventType
    deleted: EventType

    def type(self, verb: str) -> EventType:
        return getattr(self, verb)

    @property
    def types(self) -> list[str]:
        return [self.type(v).name for v in VERBS]


CASE_THREAD = Channel("case", rt_events.MESSAGE_POSTED, rt_events.MESSAGE_EDITED, rt_events.MESSAGE_DELETED)
INTERNAL_NOTES = Channel("internal", rt_events.INTERNAL_NOTE_POSTED, rt_events.INTERNAL_NOTE_EDITED,
                         rt_events.INTERNAL_NOTE_DELETED)
# A session room's chat (`mediation.sessions.chat` posts it; its types are the sessions').
SESSION_CHAT = Channel("session", session_events.SESSION_MESSAGE_POSTED,
                       session_events.SESSION_MESSAGE_EDITED, session_events.SESSION_MESSAGE_DELETED)
CHANNELS = (CASE_THREAD, INTERNAL_NOTES, SESSION_CHAT)


def register_channels(app: Flask) -> None:
    """The channels into the app's registry (their event types are declared by their areas)."""
    store = registry(app).channels
    for channel in CHANNELS:
        store.register(channel.name, channel)


def _by_type() -> dict[str, tuple[Channel, str]]:
    """Every channel's event types: name -> (channel, verb)."""
    return {channel.type(verb).name: (channel, verb)
            for channel in registry().channels.values() for verb in VERBS}


def channel_named(name: str) -> Channel:
    channels = registry().channels
    if name not in channels:
        raise Invalid({"channel": [f"one of {', '.join(sorted(channels))}"]})
    return channels[name]


class RateLimited(DomainError):
    status = 429
    code_name = "Too Many Requests"


def clean_body(body: Any) -> str:
    """The text as stored: stripped, not empty, not too long."""
    if not isinstance(body, str):
        raise Invalid({"body": ["a string"]})
    text = body.strip()
    if not text:
        raise Invalid({"body": ["must not be empty"]})
    if len(text) > MAX_BODY:
        raise Invalid({"body": [f"at most {MAX_BODY} characters"]})
    return text


def rate_limit() -> tuple[int, int]:
    """(messages, seconds) from MEDIATION_MESSAGE_RATE, e.g. "20/60"."""
    raw = str(settings.get("MEDIATION_MESSAGE_RATE"))
    count, _, seconds = raw.partition("/")
    return int(count), int(seconds or 60)


def _check_rate(actor: User) -> None:
    # Taken atomically from the write limiter's storage (Redis when there is one: every
    # process counts together), just before the message is stored: counting events on the
    # timeline let concurrent posts all see the same count and all pass. The transaction's
    # write is counted in the same step (one round trip on Redis), only if the message is
    # admitted too: a refused message is not a write, a refused write takes no message.
    limit, seconds = rate_limit()
    if not writes.take("messages", RateLimitItemPerSecond(limit, seconds), actor.id,
                       session=db.session):
        raise RateLimited(f"at most {limit} messages in {seconds} seconds; try again shortly",
                          retry_after=seconds)


def _require_channel(actor: User, case, channel: Channel) -> None:
    if not can_see_event(actor, case, channel.type("posted")):
        raise Forbidden(f"the {channel.name} channel of this case is not open to your role")


def _original(case, seq: int, actor: User) -> tuple[Event, Channel]:
    ev = db.session.execute(
        sa.select(Event).where(Event.case_id == case.id, Event.seq == seq)
    ).scalar_one_or_none()
    kind = _by_type().get(ev.type) if ev is not None else None
    if kind is None or kind[1] != "posted" or not can_see_event(actor, case, ev.type, ev.payload):
        raise NotFound("message")
    return ev, kind[0]


def _fold(events: list[Event]) -> dict[int, dict[str, Any]]:
    """Messages by seq, as their events leave them."""
    messages: dict[int, dict[str, Any]] = {}
    by_type = _by_type()
    for ev in events:
        channel, verb = by_type[ev.type]
        data = ev.payload
        if verb == "posted":
            messages[ev.seq] = {"seq": ev.seq, "channel": channel.name, "author_id": ev.actor_id,
                                "at": iso(ev.at), "body": data.get("body"), "edited_at": None,
                                "edits": 0, "deleted": False, "deleted_at": None}
            continue
        msg = messages.get(data.get("message_seq"))
        if msg is None or msg["deleted"]:
            continue
        if verb == "edited":
            msg.update(body=data.get("body"), edited_at=iso(ev.at), edits=msg["edits"] + 1)
        else:
            msg.update(body=None, deleted=True, deleted_at=iso(ev.at))
    return messages


def _with_authors(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = {m["author_id"] for m in messages if m["author_id"] is not None}
    names = dict(db.session.execute(
        sa.select(User.id, User.display_name).where(User.id.in_(ids))).all()) if ids else {}
    for m in messages:
        m["author"] = names.get(m["author_id"])
    return messages


def _message_seq(column: Any) -> Any:
    """The `message_seq` an edit or a deletion names, read from its event's JSON in SQL."""
    return timeline.data_int(column, "message_seq")


def _messages(case_id: int, posted: list[Event]) -> dict[int, dict[str, Any]]:
    """These messages (their `posted` events, oldest first) as their edits and deletions
    leave them: only the events naming them are read, never the rest of the case."""
    if not posted:
        return {}
    seqs = [ev.seq for ev in posted]
    changes = [t for t, (_, verb) in _by_type().items() if verb != "posted"]
    later = db.session.execute(
        sa.select(Event).where(Event.case_id == case_id, Event.seq > seqs[0],
                               Event.type.in_(changes), _message_seq(Event.data).in_(seqs))
        .order_by(Event.seq)
    ).scalars().all()
    return _fold(sorted([*posted, *later], key=lambda ev: ev.seq))


def message_state(case_id: int, seq: int) -> dict[str, Any]:
    """One message as its events leave it."""
    posted = db.session.execute(
        sa.select(Event).where(Event.case_id == case_id, Event.seq == seq)).scalars().all()
    return _with_authors([_messages(case_id, list(posted))[seq]])[0]


def _advance_marker(user_id: int, case_id: int, seq: int) -> int:
    """Move the marker forward to `seq` (never back), creating it at the first read: one
    upsert (concurrent first reads: one inserts, the other updates). The marker's value
    afterwards."""
    conn = db.session.connection()
    # on the driver's cursor (every message posted moves its author's marker); utcnow() is
    # in UTC already, as the column's bind processing would make it
    upsert = driver.prepared(_ADVANCE[conn.dialect.name], conn.dialect)
    moved = driver.rows(conn, upsert, {"user_id": user_id, "case_id": case_id, "seq": seq,
                                       "updated_at": utcnow()})
    if not moved:  # already at or past `seq`
        current = read_seq(user_id, case_id)
        return seq if current is None else current
    return seq


def _advance_statement(insert: Any) -> Any:
    markers = ReadMarker.__table__
    upsert = insert(markers).values(
        {c: sa.bindparam(c, type_=markers.c[c].type) for c in ("user_id", "case_id", "seq", "updated_at")})
    return upsert.on_conflict_do_update(
        index_elements=[markers.c.user_id, markers.c.case_id],
        set_={"seq": upsert.excluded.seq, "updated_at": upsert.excluded.updated_at},
        where=markers.c.seq < upsert.excluded.seq,
    ).returning(markers.c.seq)


# The marker's upsert, built once for each database.
_ADVANCE = {"postgresql": _advance_statement(postgresql.insert), "sqlite": _advance_statement(sqlite.insert)}


def read_seq(user_id: int, case_id: int) -> int | None:
    return db.session.execute(
        sa.select(ReadMarker.seq).where(ReadMarker.user_id == user_id, ReadMarker.case_id == case_id)
    ).scalar_one_or_none()


# --- commands ------------------------------------------------------------------------------

def post_message(actor: User, case_id: int, body: Any, channel: str = CASE_THREAD.name,
                 session_id: int | None = None) -> dict:
    """Post a message on a case's channel; the author has read up to it. The "session"
    channel is a session room's chat: it needs the `session_id` (of a session of this case)
    and goes through `mediation.sessions.chat.post`, which checks the room's rules."""
    ch = channel_named(channel)
    if ch is SESSION_CHAT:
        if session_id is None or isinstance(session_id, bool) or not isinstance(session_id, int):
            raise Invalid({"session_id": ["the session channel needs the session's id"]})
        message = session_chat.post(actor, session_id, body, case_id=case_id)
        return {**message_state(case_id, message["seq"]), "session_id": message["session_id"]}
    return _post_case_message(actor, case_id, body, ch)


@transactional
def _post_case_message(actor: User, case_id: int, body: Any, ch: Channel) -> dict:
    case = require_case(actor, case_id)
    _require_channel(actor, case, ch)
    text = clean_body(body)
    _check_rate(actor)
    ev = timeline.append(db.session, case.id, ch.posted,
                         {"channel": ch.name, "body": text}, actor.id)
    _advance_marker(actor.id, case.id, ev.seq)
    return posted_state(ev, actor)


def posted_state(ev: Event, author: User) -> dict[str, Any]:
    """A message just posted in this transaction, as `message_state` would read it back:
    nothing can name it yet (its seq is not committed), so its event alone is its state."""
    message = _fold([ev])[ev.seq]
    message["author"] = author.display_name
    return message


def _carried(original: Event) -> dict[str, Any]:
    """What an edit or a deletion repeats of its message so that it reaches exactly the
    message's audience: a session message's session and the user ids of its room."""
    data = original.payload
    return {k: data[k] for k in ("session_id", "audience") if k in data}


@transactional
def edit_message(actor: User, case_id: int, seq: int, body: Any) -> dict:
    """Replace a message's text by a new event; only its author may."""
    case = require_case(actor, case_id)
    original, ch = _original(case, seq, actor)
    if original.actor_id != actor.id:
        raise Forbidden("only its author may edit a message")
    current = message_state(case.id, seq)
    if current["deleted"]:
        raise Conflict("the message was deleted", current_state="deleted")
    text = clean_body(body)
    if text == current["body"]:
        return current
    _check_rate(actor)
    timeline.append(db.session, case.id, ch.edited,
                    {"channel": ch.name, "message_seq": seq, "body": text, **_carried(original)},
                    actor.id)
    return message_state(case.id, seq)


@transactional
def delete_message(actor: User, case_id: int, seq: int) -> dict:
    """Withdraw a message by a new event; its author, or an officer of the case, may."""
    case = require_case(actor, case_id)
    original, ch = _original(case, seq, actor)
    current = message_state(case.id, seq)
    if current["deleted"]:
        return current
    if original.actor_id != actor.id and not can(actor, Action.CASE_EDIT, case):
        raise Forbidden("only its author or the case's officers may delete a message")
    timeline.append(db.session, case.id, ch.deleted,
                    {"channel": ch.name, "message_seq": seq, **_carried(original)}, actor.id)
    return message_state(case.id, seq)


@transactional
def mark_read(actor: User, case_id: int, seq: int) -> int:
    """Say the user has read the case up to `seq`; the marker never moves back."""
    case = require_case(actor, case_id)
    if not 0 <= seq <= case.last_seq:
        raise Invalid({"seq": [f"between 0 and the case's last seq {case.last_seq}"]})
    return _advance_marker(actor.id, case.id, seq)


# --- queries -------------------------------------------------------------------------------

def thread(actor: User, case_id: int, channel: str = CASE_THREAD.name, after: int = 0,
           limit: int = 100) -> dict[str, Any]:
    """The channel's messages posted after `after`, oldest first, with the read marker.
    Keyset pagination by seq: one page of `posted` events (LIMIT in SQL, one more to know
    whether there are more), the edits and deletions naming them, and counts in SQL."""
    ch = channel_named(channel)
    case = require_case(actor, case_id)
    _require_channel(actor, case, ch)
    posted = list(db.session.execute(
        sa.select(Event).where(Event.case_id == case.id, Event.seq > after,
                               Event.type == ch.posted.name).order_by(Event.seq).limit(limit + 1)
    ).scalars())
    messages = list(_messages(case.id, posted[:limit]).values())
    marker = read_seq(actor.id, case.id) or 0
    return {"messages": _with_authors(messages), "has_more": len(posted) > limit,
            "read_seq": marker, "unread": unread(actor, case, marker), "last_seq": case.last_seq}


def unread(actor: User, case, marker: int) -> int:
    """Messages by others after the marker, in every channel the user sees, not deleted
    (counted in SQL)."""
    channels = [c for c in registry().channels.values() if admits(actor, case, c.posted.name, {})]
    if not channels:
        return 0
    message, change = aliased(Event), aliased(Event)
    deleted = sa.exists().where(change.case_id == message.case_id, change.seq > message.seq,
                                change.type.in_([c.deleted.name for c in channels]),
                                _message_seq(change.data) == message.seq)
    return db.session.execute(
        sa.select(sa.func.count()).select_from(message)
        .where(message.case_id == case.id, message.seq > marker,
               message.type.in_([c.posted.name for c in channels]),
               sa.or_(message.actor_id.is_(None), message.actor_id != actor.id), ~deleted)
    ).scalar_one()
