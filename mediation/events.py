"""The event catalogue: every type of timeline event, declared once.

A type says what it is called, what the pages call it (Chinese first, English through the
catalog), who may see it (its `Audience`), whose inbox (`user:<id>` room) it reaches
beyond the case's subscribers (its recipient rules), and whether it counts as progress on
the case (human work: a reminder, an escalation by the system, presence in a room, or
someone viewing a number is not). One rule decides visibility for the timeline API, the
catch-up on subscribe, the live relay and the case page alike.

Each area defines its types as module constants (`mediation/cases/events.py`,
`mediation/sessions/events.py`, …) and declares them into the app's registry from its
`init_app`; code appends the constant (`timeline.append(s, case_id, CASE_UPDATED, …)`).
Appending a type the app has not declared raises `UndeclaredEventType`.

    NOTE_ADDED = EventType("case.note_added", _l("添加备注"), audience=OFFICIALS)
    declare(app, NOTE_ADDED)          # in the area's init_app
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, g
from flask_babel import force_locale

from mediation.permissions import OFFICIAL_ROLES
from mediation.registry import (  # noqa: F401 - UndeclaredEventType: re-exported for callers
    DuplicateRegistration,
    UndeclaredEventType,
    registry,
)
from mediation.users import User


@dataclass(frozen=True)
class Audience:
    """Who, among those who see a case, sees an event of the types declared with it.

    `admits(user, case, data)` is asked for users who see the case, and for those a
    recipient rule names (a rule vouches that the event concerns them). The event goes
    live to the case's room of this audience, which those join whom `admits` accepts with
    no data (`{}`: officials, for an audience that depends on the event's data); everyone
    else it admits gets it in their `user:<id>` inbox, so its types must name them with
    recipient rules. Without `case_rooms` it goes live through the inboxes only.
    `admits_region(user)`: whether a region board (whose jurisdiction the user covers)
    shows these events. `doc` says in words who that is (the OpenAPI document shows it).
    """

    name: str
    admits: Callable[[User, Any, dict], bool]
    case_rooms: bool = True
    admits_region: Callable[[User], bool] = lambda user: False
    doc: str = ""


def _official(user: User) -> bool:
    return user.role in OFFICIAL_ROLES


PARTICIPANTS = Audience("participants", lambda u, c, d: True, admits_region=lambda u: True,
                        doc="everyone who sees the case")
OFFICIALS = Audience("officials", lambda u, c, d: _official(u), admits_region=_official,
                     doc="officials who see the case (admin, supervisor, case officer, lead official)")


def officials_and(name: str, members: Callable[[dict], frozenset[int]], doc: str) -> Audience:
    """An audience of the officials who see the case and the users `members(data)` names
    for an event (a referral's provider, a session's participants, a hand-over's
    department). Officials join its case rooms (admitted with no data); the members get
    each event in their `user:<id>` inbox, so its types name them with recipient rules."""
    return Audience(name, lambda user, case, data: _official(user) or user.id in members(data),
                    admits_region=_official, doc=doc)

# (db session, envelope) -> ids of the users the event concerns (they get it in `user:<id>`).
RecipientRule = Callable[[Any, dict], Iterable[int]]


@dataclass(frozen=True)
class EventType:
    """One type of timeline event (see the module's docstring). Appending one the app has
    not declared raises `UndeclaredEventType` (the registry checks it for the timeline)."""

    name: str
    label: Any  # lazily translated words, Chinese source
    audience: Audience = PARTICIPANTS
    recipients: tuple[RecipientRule, ...] = field(default=())
    progress: bool = True  # human work on the case (the stalled list counts only these)
    # After it, who sees the case may have changed: live connections are re-checked
    # (`mediation/access.py`) before it is delivered.
    changes_access: bool = False
    # What happened beyond the type's words, as a sentence in the reader's language, made
    # from the event's data (`mediation/cases/sentences.py` has the core's); None: the
    # type's words and any text someone wrote.
    sentence: Callable[[dict], str] | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return self.name


def declare(app: Flask, *types: EventType) -> None:
    """Put event types (and their audiences) into the app's catalogue; twice raises."""
    reg = registry(app)
    for t in types:
        known = reg.audiences.get(t.audience.name)
        if known is None:
            reg.audiences.register(t.audience.name, t.audience)
        elif known is not t.audience:
            raise DuplicateRegistration(f"audiences: another audience is named {t.audience.name!r}")
        reg.event_types.register(t.name, t)


def event_type(type_: EventType | str) -> EventType:
    """The declared type of that name (or that very type); undeclared raises
    `UndeclaredEventType`."""
    return registry().event_type(type_)


def catalogue() -> list[EventType]:
    return registry().event_types.values()


def audiences() -> list[Audience]:
    return registry().audiences.values()


def event_audience(type_name: str) -> Audience:
    """The audience of a type; a stored type no longer declared is for officials only."""
    found = registry().event_types.get(type_name)
    return found.audience if found is not None else OFFICIALS


def admits(user: User, case: Any, type_name: str, data: dict) -> bool:
    """Does the event's audience admit this user (who sees the case)?"""
    return event_audience(type_name).admits(user, case, data)


def can_see_event(user: User, case: Any, type_: EventType | str, data: dict | None = None) -> bool:
    """May the user see an event of this type (with this data) on this case?"""
    from mediation.permissions import can_view_case

    if user is None or not user.active or not can_view_case(user, case):
        return False
    return admits(user, case, str(type_), data or {})


def has_recipient_rules(type_: str) -> bool:
    """Whether the type has recipient rules: without any, `event_recipients` names nobody
    (a caller skips building the envelope it would ask with)."""
    found = registry().event_types.get(type_)
    return found is not None and bool(found.recipients)


def event_recipients(session: Any, envelope: dict) -> set[int]:
    """Every user the type's recipient rules say the event concerns (visibility unchecked)."""
    found = registry().event_types.get(envelope["type"])
    users: set[int] = set()
    for rule in found.recipients if found is not None else ():
        users.update(int(u) for u in rule(session, envelope) or ())
    return users


def progress_types() -> list[str]:
    """The names of the types that count as progress on a case (human work)."""
    return [t.name for t in catalogue() if t.progress]


def visible_events(user: User, case: Any, after: int = 0, limit: int = 200) -> tuple[list, bool]:
    """The case's events after `after` that the user may see, in order: (events, more).
    The caller has checked that the user sees the case (`require_case`)."""
    from mediation import timeline

    seen: list = []
    cursor = after
    batch = max(limit + 1, 200)
    types = registry().event_types
    # The two plain audiences answer by the user alone: asked once, not once per event.
    plain = {id(a): a.admits(user, case, {}) for a in (PARTICIPANTS, OFFICIALS)}
    while len(seen) <= limit:
        events = timeline.stored_events_after(case.id, cursor, batch)
        for ev in events:
            found = types.get(ev.type)
            audience = found.audience if found is not None else OFFICIALS
            known = plain.get(id(audience))
            if known if known is not None else audience.admits(user, case, ev.payload):
                seen.append(ev)
        if len(events) < batch:
            break
        cursor = events[-1].seq
    return seen[:limit], len(seen) > limit


def per_context(key: str, compute: Callable[[], Any]) -> Any:
    """A value computed once per app context (a request, a socket event, a relay batch):
    audiences that look something up (a user's providers) ask once, not once per event."""
    cache = g.setdefault("_mediation_audience_cache", {})
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def describe(app: Flask) -> list[dict[str, Any]]:
    """The catalogue as the OpenAPI document publishes it (`x-event-types`)."""
    from mediation.i18n import LANGUAGES

    out = []
    for t in registry(app).event_types.values():
        words = {}
        for lang in LANGUAGES:
            with force_locale(lang):
                words[lang] = str(t.label)
        out.append({"name": t.name, "label": words, "audience": t.audience.name,
                    "audience_doc": t.audience.doc, "inbox": bool(t.recipients),
                    "progress": t.progress, "changes_access": t.changes_access})
    return out
