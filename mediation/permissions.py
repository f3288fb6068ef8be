"""One place that says who may do what. The API, the pages and the sockets all ask here.

Who sees a case: admins; officers and supervisors whose region covers the case's; the
case's lead official; providers with a live referral on it (the referrals package adds
that rule through `register_case_access`). Everyone else is told the case does not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from mediation.errors import Forbidden, NotFound
from mediation.regions import region_prefix
from mediation.users import Role, User

# Extra rules that grant sight of cases: each takes a user and returns a SELECT of case ids
# (or None). Lets `referrals` extend visibility without `mediation` importing it.
CaseAccessRule = Callable[[User], Any]
_case_access_rules: list[CaseAccessRule] = []


def register_case_access(rule: CaseAccessRule) -> None:
    if rule not in _case_access_rules:
        _case_access_rules.append(rule)


def _regional(user: User) -> bool:
    return user.role in (Role.CASE_OFFICER, Role.SUPERVISOR)


def _jurisdiction_prefix(user: User) -> str:
    """The region prefix the user's jurisdiction covers; "" (all) for national users."""
    return region_prefix(user.region) if user.region else ""


def visible_cases_filter(user: User):
    """A SQL condition on `Case` true exactly for the cases the user may see."""
    from mediation.cases.models import Case

    if user.role == Role.ADMIN:
        return sa.true()
    conditions = [Case.lead_official_id == user.id]
    if _regional(user):
        conditions.append(Case.region_code.startswith(_jurisdiction_prefix(user), autoescape=True))
    for rule in _case_access_rules:
        ids = rule(user)
        if ids is not None:
            conditions.append(Case.id.in_(ids))
    return sa.or_(*conditions)


def can_view_case(user: User, case) -> bool:
    if user.role == Role.ADMIN or case.lead_official_id == user.id:
        return True
    if _regional(user) and case.region_code.startswith(_jurisdiction_prefix(user)):
        return True
    from mediation.cases.models import Case
    from mediation.extensions import db

    extra = [rule(user) for rule in _case_access_rules]
    extra = [ids for ids in extra if ids is not None]
    if not extra:
        return False
    return db.session.execute(
        sa.select(Case.id).where(Case.id == case.id, sa.or_(*[Case.id.in_(i) for i in extra]))
    ).first() is not None


def _officer_of(user: User, case) -> bool:
    return user.role == Role.ADMIN or (
        user.role == Role.CASE_OFFICER and case.region_code.startswith(_jurisdiction_prefix(user))
    )


# action -> predicate(user, case) evaluated once the case is known to be visible.
CASE_ACTIONS: dict[str, Callable[[User, Any], bool]] = {
    "view": lambda u, c: True,
    "edit": _officer_of,
    "transition": _officer_of,
    "classify": _officer_of,
    "assign_owner": _officer_of,
    "extend_clock": _officer_of,
    "investigate": _officer_of,
    # The owner records their own hearings and meetings; officers record them too.
    "record_contact": lambda u, c: _officer_of(u, c) or c.lead_official_id == u.id,
    # Full identity and phone numbers: officers who contact the petitioner and the owner
    # who must meet them. Supervisors and providers see masked numbers only.
    "reveal_pii": lambda u, c: _officer_of(u, c) or c.lead_official_id == u.id,
}


def can(user: User, action: str, target: Any = None) -> bool:
    """May the user do `action` (to `target`)? Unknown actions are refused."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.active:
        return False
    if action == "case.create":
        return user.role in (Role.ADMIN, Role.CASE_OFFICER)
    if action == "user.manage":
        return user.role == Role.ADMIN
    if action.startswith("case."):
        name = action.removeprefix("case.")
        rule = CASE_ACTIONS.get(name)
        return rule is not None and can_view_case(user, target) and rule(user, target)
    return False


def require_case(user: User, case_id: int, action: str = "view"):
    """The case if the user may see it and do the action; 404 if invisible, 403 if seen
    but the action is not theirs."""
    from mediation.cases.models import Case
    from mediation.extensions import db

    case = db.session.get(Case, case_id)
    if case is None or not can_view_case(user, case):
        raise NotFound("case")
    if action != "view" and not can(user, f"case.{action}", case):
        raise Forbidden(f"your role may not {action.replace('_', ' ')} this case")
    return case


# --- events: who may see each one, and whom it concerns -----------------------------------
# One rule for the timeline API and live delivery alike. Every event of a case is seen by
# those who see the case, unless its type is registered to a narrower audience (internal
# notes: officials only). Packages register their audiences and event types here.

OFFICIAL_ROLES = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.CASE_OFFICER, Role.LEAD_OFFICIAL})


@dataclass(frozen=True)
class Audience:
    """Who, among those who see a case, sees an event of the types registered to it.

    `admits(user, case, data)` is asked for users who see the case, and for those a
    recipient rule names (a rule vouches that the event concerns them). With `case_rooms`
    the event also goes live to the case's subscribers and region boards, so `admits` must
    then not depend on `data`; without it (say, a session's chat) it goes live only to the
    users its recipient rules name, each checked with `admits`. `admits_region(user)`:
    whether a region board (whose jurisdiction the user covers) shows these events.
    """

    name: str
    admits: Callable[[User, Any, dict], bool]
    case_rooms: bool = True
    admits_region: Callable[[User], bool] = lambda user: False


PARTICIPANTS = Audience("participants", lambda u, c, d: True, admits_region=lambda u: True)
OFFICIALS = Audience("officials", lambda u, c, d: u.role in OFFICIAL_ROLES,
                     admits_region=lambda u: u.role in OFFICIAL_ROLES)

_audiences: dict[str, Audience] = {a.name: a for a in (PARTICIPANTS, OFFICIALS)}
# event type -> audience name; unregistered types go to everyone who sees the case.
_event_audiences: dict[str, str] = {
    # Who was shown a petitioner's full numbers, and why, is for officials' eyes.
    "pii.revealed": OFFICIALS.name,
}

# Rules naming the users an event concerns beyond a case's subscribers (an offer reaches
# the provider's users): (db session, envelope) -> user ids. Keyed by event type, or "*".
RecipientRule = Callable[[Any, dict], Iterable[int]]
_recipient_rules: dict[str, list[RecipientRule]] = {}


def register_audience(audience: Audience) -> None:
    _audiences[audience.name] = audience


def register_event_audience(event_type: str, audience_name: str) -> None:
    if audience_name not in _audiences:
        raise KeyError(f"unknown audience {audience_name!r}: register it first")
    _event_audiences[event_type] = audience_name


def audiences() -> list[Audience]:
    return list(_audiences.values())


def event_audience(event_type: str) -> Audience:
    return _audiences[_event_audiences.get(event_type, PARTICIPANTS.name)]


def can_see_event(user: User, case, event_type: str, data: dict | None = None) -> bool:
    """May the user see an event of this type (with this data) on this case?"""
    if user is None or not user.active or not can_view_case(user, case):
        return False
    return event_audience(event_type).admits(user, case, data or {})


def register_event_recipients(event_type: str, rule: RecipientRule) -> None:
    """Add a rule naming the users an event type concerns (they get it in `user:<id>`)."""
    rules = _recipient_rules.setdefault(event_type, [])
    if rule not in rules:
        rules.append(rule)


def event_recipients(session, envelope: dict) -> set[int]:
    """Every user the registered rules say the event concerns (visibility not yet checked)."""
    users: set[int] = set()
    for rule in [*_recipient_rules.get(envelope["type"], []), *_recipient_rules.get("*", [])]:
        users.update(int(u) for u in rule(session, envelope) or ())
    return users


def visible_events(user: User, case, after: int = 0, limit: int = 200) -> tuple[list, bool]:
    """The case's events after `after` that the user may see, in order: (events, more).
    The caller has checked that the user sees the case (`require_case`)."""
    from mediation import timeline

    seen: list = []
    cursor = after
    batch = max(limit + 1, 200)
    while len(seen) <= limit:
        events = timeline.events_after(case.id, cursor, batch)
        for ev in events:
            if event_audience(ev.type).admits(user, case, ev.payload):
                seen.append(ev)
        if len(events) < batch:
            break
        cursor = events[-1].seq
    return seen[:limit], len(seen) > limit
