"""The notification centre: every user's list of the events that concern them.

An event type's recipient rules (`recipients` in the event catalogue, `mediation/events.py`)
name the users an event concerns; the event's audience still decides (the same rule as the
live relay to their `user:<id>` inbox). `record` runs in the event's own transaction, as an
append hook of the timeline, so the list holds an event exactly when the timeline does.
Nobody is notified of their own act.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from flask import url_for

from mediation import clock
from mediation.events import event_audience, event_recipients, event_type, has_recipient_rules
from mediation.notifications.models import Notification
from mediation.permissions import Action, Rule  # noqa: E402 - after the models
from mediation.users import (
    Role,  # noqa: E402
    User,
)

# The delivery log names who was sent what, when and why it failed: admins only.
RULES = (Rule(Action.DELIVERIES_READ, frozenset({Role.ADMIN}), doc="admins"),)

PAGE = 50
MAX_PAGE = 200


def record(session: Any, events: Sequence[Any]) -> int:
    """Add a notification for each user each event concerns (in the caller's transaction)."""
    from mediation.cases.models import Case

    rows = []
    for ev in events:
        if not has_recipient_rules(ev.type):  # most events: no envelope to build for nobody
            continue
        envelope = ev.envelope()
        recipients = event_recipients(session, envelope) - {ev.actor_id}
        if not recipients:
            continue
        case = session.get(Case, ev.case_id)
        audience = event_audience(ev.type)
        users = session.execute(sa.select(User).where(User.id.in_(recipients))).scalars()
        rows.extend({"user_id": u.id, "event_id": ev.id, "case_id": ev.case_id, "type": ev.type,
                     "created_at": ev.at, "read_at": None}
                    for u in users if u.active and audience.admits(u, case, envelope["data"]))
    if rows:
        from mediation.notifications import outbound

        ids = list(session.execute(sa.insert(Notification).returning(Notification.id,
                                                                     sort_by_parameter_order=True),
                                   rows).scalars())
        outbound.plan(session, ids)
    return len(rows)


def unread_count(session: Any, user: User) -> int:
    return session.execute(
        sa.select(sa.func.count()).select_from(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
    ).scalar_one()


def listing(session: Any, user: User, *, unread: bool = False, before: int | None = None,
            limit: int = PAGE) -> tuple[list[Notification], bool]:
    """The user's notifications, newest first: (page, more). `before`: an id, for the next page."""
    q = sa.select(Notification).where(Notification.user_id == user.id)
    if unread:
        q = q.where(Notification.read_at.is_(None))
    if before is not None:
        q = q.where(Notification.id < before)
    limit = max(1, min(limit, MAX_PAGE))
    found = list(session.execute(q.order_by(Notification.id.desc()).limit(limit + 1)).scalars())
    return found[:limit], len(found) > limit


def mark_read(session: Any, user: User, ids: Sequence[int] | None = None) -> int:
    """Mark the user's notifications read: those of `ids` (others' ids are ignored, as if
    they did not exist), or all when `ids` is None. Returns how many this call marked; one
    already read stays as it was (a conditional update: two tabs do not fight)."""
    q = (sa.update(Notification)
         .where(Notification.user_id == user.id, Notification.read_at.is_(None))
         .values(read_at=clock.now()).execution_options(synchronize_session=False))
    if ids is not None:
        if not ids:
            return 0
        q = q.where(Notification.id.in_(list(ids)))
    return session.execute(q).rowcount


def link(user: User, n: Notification) -> str:
    """Where the notification leads: the case page if the user sees the case, else the
    provider's inbox (an offer is about a case its provider does not see yet), or a
    department's hand-overs (a department sees no case)."""
    from mediation.cases.models import Case
    from mediation.extensions import db
    from mediation.permissions import Action, can, can_view_case

    case = db.session.get(Case, n.case_id)
    if case is not None and can_view_case(user, case):
        return url_for("pages.case_page", case_id=n.case_id)
    if can(user, Action.REFERRALS_RESPOND):
        return url_for("provider_pages.inbox")
    if user.role == "department":  # a hand-over's news: that hand-over's page
        from mediation.timeline import Event

        event = db.session.get(Event, n.event_id)
        handover_id = event.payload.get("handover_id") if event is not None else None
        if handover_id:
            return url_for("department_pages.handover", handover_id=handover_id)
        return url_for("department_pages.handovers")
    return url_for("notification_pages.index")


def view(user: User, n: Notification) -> dict[str, Any]:
    """The one shape of a notification, for the API and the pages."""
    from mediation.cases.models import Case
    from mediation.extensions import db
    from mediation.registry import UndeclaredEventType

    try:
        words = str(event_type(n.type).label)
    except UndeclaredEventType:
        words = n.type
    case = db.session.get(Case, n.case_id)
    return {"id": n.id, "type": n.type, "label": words, "case_id": n.case_id,
            "case_reference": case.reference if case is not None else None,
            "event_id": n.event_id, "created_at": n.created_at, "read_at": n.read_at,
            "read": n.read_at is not None, "link": link(user, n)}
