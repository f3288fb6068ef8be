"""Live access ends when access ends: connections re-checked against the database.

A connection keeps what its user was allowed when it subscribed (a case's rooms, a region's
board). When `mediation.access` says that access changed — for some users (deactivated,
tokens revoked) or for some cases (a referral withdrawn or completed, another owner) — every
web process re-checks its own connections concerned:
- a connection whose user is gone or deactivated, or whose bearer token is revoked or
  expired, is disconnected;
- any other leaves each case and region room its user may no longer be in.
Across processes the request travels on the Socket.IO message queue (Redis) as a message of
its own (`RECHECK`), ordered with the events around it; without Redis it runs in this
process. Each process also re-checks all its connections every
`MEDIATION_ACCESS_RECHECK_SECONDS`, for changes made where no queue reaches (a command line
on the embedded database) and for tokens that simply expire.

Handlers re-check too: every acknowledged handler loads the connection's user and token
again (`LiveNamespace.user`), and subscribing or posting asks the permission rules each time,
so a connection that lost a case can neither read it back nor post to it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from flask import Flask, current_app, has_app_context

from mediation.cases.models import Case
from mediation.events import PARTICIPANTS, audiences
from mediation.extensions import db
from mediation.permissions import Action, can, can_view_case
from mediation.registry import registry
from mediation.users import User, token_hash_is_live
from realtime import rooms
from realtime.queue import RECHECK

log = logging.getLogger(__name__)

NAMESPACE = "/"


def _audience(name: str):
    return next((a for a in audiences() if a.name == name), None)


def _admitted(user: User, room: str, cases: dict[int, Case | None]) -> bool:
    """May the user still be in this case or region room?"""
    kind, _, rest = room.partition(":")
    base, _, audience_name = rest.partition("#")
    audience = _audience(audience_name or PARTICIPANTS.name)
    if audience is None:
        return False
    if kind == "case" and base.isdigit():
        case_id = int(base)
        if case_id not in cases:
            cases[case_id] = db.session.get(Case, case_id)
        case = cases[case_id]
        return case is not None and can_view_case(user, case) and audience.admits(user, case, {})
    if kind == "region":
        return can(user, Action.BOARD_VIEW, base.ljust(6, "0")) and audience.admits_region(user)
    return True  # not a room this re-check governs (the user's inbox, the sid's own room)


def _sids(server, user_ids: Iterable[int], case_ids: Iterable[int]) -> set[str]:
    """This process's connections of these users or in these cases' rooms."""
    manager = server.manager
    found: set[str] = set()
    for uid in user_ids:
        found.update(sid for sid, _ in manager.get_participants(NAMESPACE, rooms.user_room(uid)))
    prefixes = tuple(f"case:{cid}" for cid in case_ids)
    if prefixes:
        names = [r for r in list(manager.rooms.get(NAMESPACE, {}))
                 if isinstance(r, str) and (r in prefixes or r.split("#", 1)[0] in prefixes)]
        for name in names:
            found.update(sid for sid, _ in manager.get_participants(NAMESPACE, name))
    return found


def all_sids(server) -> set[str]:
    """Every connection of this process on the namespace."""
    return {sid for sid, _ in server.manager.get_participants(NAMESPACE, None)}


def connection_holds(user: User | None, saved: dict,
                     live_tokens: dict[str, bool] | None = None) -> bool:
    """A connection's user may stay connected: active, the token it was opened with still
    live, or (opened with the pages' cookie) that sign-in not ended by a logout since.
    `live_tokens` keeps the tokens' answers for one re-check of many connections."""
    if user is None or not user.active:
        return False
    token, generation = saved.get("token_hash"), saved.get("generation")
    if token:
        if live_tokens is None:
            return token_hash_is_live(token)
        if token not in live_tokens:
            live_tokens[token] = token_hash_is_live(token)
        return live_tokens[token]
    return generation is None or generation == user.session_generation


def rooms_by_sid(server) -> dict[str, list[str]]:
    """The rooms of every connection of this process, from one copy of the namespace's
    rooms. (The manager's `rooms(sid)` walks its live dict of rooms, once per connection: a
    room made or emptied meanwhile by another thread's join or leave breaks the walk with
    a RuntimeError, and N connections cost N walks of every room.)"""
    manager = server.manager
    found: dict[str, list[str]] = {}
    for name in list(manager.rooms.get(NAMESPACE, {})):
        if name is None:
            continue
        try:
            members = list(manager.get_participants(NAMESPACE, name))  # (a copy)
        except KeyError:  # emptied meanwhile
            continue
        for sid, _ in members:
            found.setdefault(sid, []).append(name)
    return found


def recheck(app: Flask, sids: Iterable[str]) -> dict[str, int]:
    """Re-check connections of this process: disconnect those whose user or token no longer
    holds, take the others out of the rooms they may no longer be in."""
    server = app.extensions["socketio"].server
    outcome = {"disconnected": 0, "left": 0}
    with app.app_context():
        try:
            # One answer per token, per case and per (user, room), whatever the connections
            # sharing them: an official's 50 tabs are one question, not 50 (a thousand
            # connections cost a thousand token lookups, a third of a second of this
            # process's time every round, stolen from the threads delivering events).
            cases: dict[int, Case | None] = {}
            live_tokens: dict[str, bool] = {}
            admitted: dict[tuple[int, str], bool] = {}
            holding: list[tuple[str, User]] = []
            for sid in sids:
                if not server.manager.is_connected(sid, NAMESPACE):
                    continue
                try:
                    saved = server.get_session(sid, namespace=NAMESPACE)
                except KeyError:
                    continue  # gone meanwhile
                uid = saved.get("user_id")
                user = db.session.get(User, uid) if uid is not None else None
                if not connection_holds(user, saved, live_tokens):
                    server.disconnect(sid, namespace=NAMESPACE, ignore_queue=True)
                    outcome["disconnected"] += 1
                    continue
                holding.append((sid, user))
            rooms_of = rooms_by_sid(server)  # (after the checks above: as late as it can be)
            for sid, user in holding:
                for room in rooms_of.get(sid, ()):
                    if room == sid:
                        continue
                    key = (user.id, room)
                    if key not in admitted:
                        admitted[key] = _admitted(user, room, cases)
                    if not admitted[key]:
                        server.leave_room(sid, room, namespace=NAMESPACE)
                        outcome["left"] += 1
        finally:
            db.session.rollback()
            db.session.remove()
    return outcome


def handle(app: Flask, user_ids: Iterable[int], case_ids: Iterable[int]) -> dict[str, int]:
    """This process's part of a re-check request."""
    server = app.extensions["socketio"].server
    return recheck(app, _sids(server, user_ids, case_ids))


def request_recheck(app: Flask, user_ids: set[int], case_ids: set[int]) -> None:
    """Ask every web process (through the queue) or this one (embedded) to re-check."""
    if not (user_ids or case_ids):
        return
    url = app.config.get("MEDIATION_REDIS_URL")
    if url:
        from realtime.queue import shared_emitter

        shared_emitter(url)._publish({"method": RECHECK, "user_ids": sorted(user_ids),
                                      "case_ids": sorted(case_ids)})
    elif "socketio" in app.extensions:
        handle(app, user_ids, case_ids)


class PeriodicRecheck:
    """One thread per web process re-checking all of its connections now and then."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started: set[int] = set()

    def ensure(self, app: Flask, seconds: float) -> None:
        with self._lock:
            if id(app) in self._started:
                return
            self._started.add(id(app))
        server = app.extensions["socketio"].server
        server.start_background_task(self._run, app, seconds)

    @staticmethod
    def _run(app: Flask, seconds: float) -> None:
        server = app.extensions["socketio"].server
        stop = threading.Event()
        while not stop.wait(seconds):
            try:
                recheck(app, all_sids(server))
            except Exception:  # the next round retries; a handler re-checks on every call
                log.exception("re-checking the live connections failed")


periodic = PeriodicRecheck()


def _on_access_changed(user_ids: set[int], case_ids: set[int]) -> None:
    """`mediation.access`'s listener: runs after a commit, in that app's context."""
    if has_app_context() and "socketio" in current_app.extensions:
        request_recheck(current_app._get_current_object(), user_ids, case_ids)


def init_app(app: Flask) -> None:
    """Listen to `mediation.access`, and to the queue's re-check requests."""
    registry(app).access_listeners.register("realtime.eviction", _on_access_changed)
    manager = app.extensions["socketio"].server.manager
    if hasattr(manager, "on_recheck"):
        manager.on_recheck = lambda users, cases: handle(app, users, cases)
