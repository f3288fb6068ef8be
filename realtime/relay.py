"""The relay: committed timeline events to the Socket.IO rooms of those who may see them.

`mediation.timeline` calls `publish` after each commit, and its sweep calls it for events
still pending. Each envelope goes, in one emit (a connection in several of the rooms gets
it once), to:
- the case's room for the event's audience (`case:<id>`, or `case:<id>#officials`);
- the region boards of that audience, for each prefix the case's region falls under;
- the `user:<id>` inbox of every user the recipient rules name (an offer reaches the
  provider's users without any subscription), if the event's audience admits them.
An exception leaves the events in the outbox; the sweep publishes them again (a client
drops duplicates by `(case_id, seq)`). A message that reached no queue listener while web
processes exist is not published: `NotPublished` says how many went out before it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import redis
import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.orm import Session

from mediation import access
from mediation.cases.models import Case
from mediation.events import event_audience, event_recipients
from mediation.extensions import db
from mediation.timeline import NotPublished, case_regions, claiming_session
from mediation.users import User
from realtime import eviction, rooms
from realtime.queue import NotDelivered, listener_here, shared_emitter

log = logging.getLogger(__name__)

EVENT = "event"  # the one Socket.IO event name for delivered envelopes
NAMESPACE = "/"


def rooms_for(envelope: dict[str, Any], case: Case, session) -> list[str]:
    """Every room the envelope goes to (no room: nobody may be told)."""
    return _rooms(envelope, case.id, case.region_code, session, lambda: case)


def _rooms(envelope: dict[str, Any], case_id: int, region_code: str, session,
           load_case: Callable[[], Case | None]) -> list[str]:
    """`rooms_for` from the case's id and region (what its rooms need); the case itself is
    loaded only for an event whose recipient rules name someone."""
    audience = event_audience(envelope["type"])
    targets: list[str] = []
    if audience.case_rooms:
        targets.append(rooms.case_room(case_id, audience.name))
        targets.extend(rooms.region_room(p, audience.name)
                       for p in rooms.region_prefixes(region_code))
    recipients = event_recipients(session, envelope)
    if recipients:
        case = load_case()
        if case is None:
            return targets
        # A rule naming a user vouches that the event concerns them, even when they no
        # longer see the case (an offer withdrawn from a provider); the event's audience
        # still decides (an internal note never reaches a provider this way).
        users = session.execute(sa.select(User).where(User.id.in_(recipients))).scalars()
        targets.extend(rooms.user_room(u.id) for u in users
                       if u.active and audience.admits(u, case, envelope["data"]))
    return targets


class _Reads:
    """The session the relay reads through, found on its first use: most batches read
    nothing (their regions known, their types without recipient rules), and building a
    session and closing it cost more than the rest of the relay's work on one event.
    Not the request's session: running after a commit, it would begin a new transaction
    and hold its connection until the request ends. On PostgreSQL, the transaction that
    claimed the outbox rows (its reads give up behind a lock: see `claiming_session`);
    elsewhere a session of its own, closed at the end."""

    __slots__ = ("_session", "_own")

    def __init__(self) -> None:
        self._session: Session | None = None
        self._own: Session | None = None

    def __getattr__(self, name: str) -> Any:
        if self._session is None:
            self._session = claiming_session()
            if self._session is None:
                self._session = self._own = Session(db.engine)
        return getattr(self._session, name)

    def __enter__(self) -> _Reads:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._own is not None:
            self._own.close()


# The cases' ids and regions (all that the rooms of an event without recipients need),
# read as plain rows rather than whole cases.
_CASES = Case.__table__
_REGIONS = (sa.select(_CASES.c.id, _CASES.c.region_code)
            .where(_CASES.c.id.in_(sa.bindparam("ids", expanding=True))))


def emit(app: Flask, envelope: dict[str, Any], to: list[str]) -> None:
    """Send one envelope: through the Redis queue when configured, else in this process."""
    url = app.config.get("MEDIATION_REDIS_URL")
    if url:
        here = listener_here(app.extensions["socketio"].server)
        shared_emitter(url).emit_delivered(EVENT, envelope, NAMESPACE, to, listener_here=here)
    else:
        app.extensions["socketio"].emit(EVENT, envelope, namespace=NAMESPACE, to=to)


def publish(envelopes: list[dict[str, Any]]) -> None:
    """The timeline's publisher (runs after the commit, and in the sweep)."""
    app = current_app._get_current_object()
    if "socketio" not in app.extensions:
        return
    # The cases' regions: as their writer knew them (events sent from memory), else read.
    known = case_regions()
    wanted = {e["case_id"] for e in envelopes}
    regions = {case_id: known[case_id] for case_id in wanted if case_id in known}
    with _Reads() as session:
        if len(regions) < len(wanted):
            regions.update(session.connection().execute(
                _REGIONS, {"ids": sorted(wanted - regions.keys())}).all())
        for done, envelope in enumerate(envelopes):
            case_id = envelope["case_id"]
            region = regions.get(case_id)
            if region is None:
                continue
            targets = _rooms(envelope, case_id, region, session,
                             lambda case_id=case_id: session.get(Case, case_id))
            try:
                if access.changes_access(envelope["type"]):
                    # Who sees the case may have changed: connections that lost it leave its
                    # rooms before this event and any later one go out (the same queue, in order).
                    eviction.request_recheck(app, set(), {case_id})
                if targets:
                    emit(app, envelope, targets)
            except (NotDelivered, redis.RedisError, OSError) as exc:
                raise NotPublished(done, f"{exc.__class__.__name__}: {exc}") from exc
