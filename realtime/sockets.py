"""Socket.IO handlers on the default namespace: connect, subscriptions, messaging.

Every handler answers through its acknowledgement: `{"ok": true, ...}` or
`{"ok": false, "error": ..., "code": <HTTP-like status>, "errors"?: {...}}`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from functools import wraps
from typing import Any

import marshmallow as ma
from flask import current_app, request
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, Namespace, join_room, leave_room

from mediation import outages, settings
from mediation.errors import DomainError, Invalid, NotFound
from mediation.events import audiences, visible_events
from mediation.extensions import db
from mediation.permissions import Action, can, can_view_case
from mediation.regions import normalize_region, region_prefix
from mediation.users import User, token_hash, user_for_token
from mediation.validation import INT_MAX, NUL_MESSAGE, nul_paths, refused_by_database
from realtime import eviction, messaging, rooms
from realtime.packets import RawJSON

log = logging.getLogger(__name__)

# One acknowledgement carries at most this many missed events; `more` says to ask again.
CATCH_UP_LIMIT = 1000


class Refused(DomainError):
    status = 403
    code_name = "Forbidden"


def _authenticate(auth: Any) -> tuple[User | None, str | None]:
    """A bearer token in `auth`, else the pages' login cookie: (user, the token's hash)."""
    token = auth.get("token") if isinstance(auth, dict) else None
    if isinstance(token, str) and token:
        return user_for_token(token), token_hash(token)
    if current_user and current_user.is_authenticated and current_user.active:
        return current_user._get_current_object(), None
    return None, None


# Counting a user's connections and joining the new one are one step per process.
_connect_lock = threading.Lock()


def _int(data: dict, key: str, default: int | None = None) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= INT_MAX:
        raise Invalid({key: [f"an integer from 0 to {INT_MAX}"]})
    return value


def _case(user: User, data: dict):
    from mediation.cases.models import Case

    case = db.session.get(Case, _int(data, "case_id"))
    if case is None or not can_view_case(user, case):
        raise NotFound("case")  # as the API says it: unknown and invisible look alike
    return case


def acknowledged(fn: Callable) -> Callable:
    """Run a handler as the connection's user; turn every failure into `{ok: false}`."""

    @wraps(fn)
    def wrapper(self: LiveNamespace, data: Any = None) -> dict[str, Any]:
        try:
            user = self.user()
            if user is None:
                return {"ok": False, "error": "not authenticated", "code": 401}
            if not isinstance(data, dict):
                raise Invalid({"_": ["send an object"]})
            if nul := nul_paths(data):  # as the request check does for HTTP
                raise Invalid({where: [NUL_MESSAGE] for where in nul})
            return {"ok": True, **fn(self, user, data)}
        except DomainError as exc:
            db.session.rollback()
            return {"ok": False, "error": exc.message, "code": exc.status,
                    **{k: v for k, v in exc.extra.items() if k in ("errors", "retry_after")}}
        except ma.ValidationError as exc:
            return {"ok": False, "error": "validation failed", "code": 422,
                    "errors": exc.normalized_messages()}
        except Exception as exc:
            with contextlib.suppress(Exception):  # with the database gone, so is its connection
                db.session.rollback()
            refusal = refused_by_database(exc)
            if refusal is not None:
                return {"ok": False, "error": refusal.message, "code": refusal.status,
                        "errors": refusal.extra.get("errors", {})}
            if outages.is_unavailable(exc):
                outages.record_failure(exc, f"socket {fn.__name__}")
                return {"ok": False, "error": "the database is unavailable; retry later",
                        "code": 503, "retry_after": outages.RETRY_AFTER}
            log.exception("socket handler %s failed", fn.__name__)
            return {"ok": False, "error": "internal error", "code": 500}

    return wrapper


class LiveNamespace(Namespace):
    """The default namespace: who is connected, and what they subscribe to."""

    def user(self) -> User | None:
        """The connection's user, asked again on every call: None once the user is
        deactivated or the token the connection was opened with is revoked or expired."""
        saved = self.socketio.server.get_session(request.sid, namespace=self.namespace)
        uid = saved.get("user_id")
        user = db.session.get(User, uid) if uid is not None else None
        return user if eviction.connection_holds(user, saved) else None

    def on_connect(self, auth: Any = None) -> None:
        user, token = _authenticate(auth)
        if user is None:
            raise ConnectionRefusedError("authentication required: a bearer token or the login")
        server = self.socketio.server
        cap = settings.get("MEDIATION_MAX_SOCKETS_PER_USER")
        inbox = rooms.user_room(user.id)
        # Each open connection holds a thread of this process: the cap is per process.
        with _connect_lock:
            if sum(1 for _ in server.manager.get_participants(self.namespace, inbox)) >= cap:
                raise ConnectionRefusedError(
                    f"too many connections: at most {cap} per user; close another tab first")
            # A cookie connection keeps the sign-in's generation: a logout ends it too.
            server.save_session(request.sid, {"user_id": user.id, "token_hash": token,
                                              "generation": None if token else user.session_generation},
                                namespace=self.namespace)
            join_room(inbox)
        eviction.periodic.ensure(current_app._get_current_object(),
                                 settings.get("MEDIATION_ACCESS_RECHECK_SECONDS"))

    def on_disconnect(self, reason: Any = None) -> None:
        # Rooms go with the connection; presence in session rooms is in the database (it
        # must be seen by every process), so the connection leaves it here.
        from mediation.sessions import presence

        try:
            presence.disconnected(request.sid)
        except Exception:  # the heartbeat window and the sweep clear what is left
            db.session.rollback()
            log.exception("leaving the session rooms of %s failed", request.sid)

    @acknowledged
    def on_subscribe(self, user: User, data: dict) -> dict[str, Any]:
        """Join a case's rooms, then answer with what was missed after `after`."""
        case = _case(user, data)
        after = _int(data, "after", 0)
        # Join before reading: an event committed meanwhile comes live, or in the reply,
        # or both (the client drops duplicates), never neither.
        for audience in audiences():
            if audience.case_rooms and audience.admits(user, case, {}):
                join_room(rooms.case_room(case.id, audience.name))
        last_seq = case.last_seq
        events, more = visible_events(user, case, after, CATCH_UP_LIMIT)
        # The envelopes as one JSON text, composed around each event's stored JSON (not
        # parsed and encoded again): the client decodes the same list of envelopes.
        missed = RawJSON("[" + ",".join(e.envelope_json() for e in events if e.seq <= last_seq) + "]")
        return {"case_id": case.id, "missed": missed, "last_seq": last_seq, "more": more}

    @acknowledged
    def on_unsubscribe(self, user: User, data: dict) -> dict[str, Any]:
        case_id = _int(data, "case_id")
        for audience in audiences():
            leave_room(rooms.case_room(case_id, audience.name))
        return {"case_id": case_id}

    @acknowledged
    def on_subscribe_region(self, user: User, data: dict) -> dict[str, Any]:
        """A supervisor's or officer's board: every event of the cases in a region."""
        try:
            code = normalize_region(str(data.get("region", "")))
        except ValueError as exc:
            raise Invalid({"region": [str(exc)]}) from exc
        if not can(user, Action.BOARD_VIEW, code):
            raise Refused("this region's board is not open to you")
        prefix = region_prefix(code)
        for audience in audiences():
            if audience.case_rooms and audience.admits_region(user):
                join_room(rooms.region_room(prefix, audience.name))
        return {"region": prefix}

    @acknowledged
    def on_unsubscribe_region(self, user: User, data: dict) -> dict[str, Any]:
        prefix = region_prefix(normalize_region(str(data.get("region", ""))))
        for audience in audiences():
            leave_room(rooms.region_room(prefix, audience.name))
        return {"region": prefix}

    @acknowledged
    def on_post_message(self, user: User, data: dict) -> dict[str, Any]:
        """Post on a case's channel; the acknowledgement carries the stored seq."""
        from realtime.views import MessageIn

        args = MessageIn().load({k: v for k, v in data.items() if k not in ("case_id", "session_id")})
        session_id = _int(data, "session_id") if data.get("session_id") is not None else None
        message = messaging.post_message(user, _int(data, "case_id"), args["body"], args["channel"],
                                         session_id=session_id)
        return {"seq": message["seq"], "message": message}

    @acknowledged
    def on_edit_message(self, user: User, data: dict) -> dict[str, Any]:
        message = messaging.edit_message(user, _int(data, "case_id"), _int(data, "seq"),
                                         data.get("body"))
        return {"seq": message["seq"], "message": message}

    @acknowledged
    def on_delete_message(self, user: User, data: dict) -> dict[str, Any]:
        message = messaging.delete_message(user, _int(data, "case_id"), _int(data, "seq"))
        return {"seq": message["seq"], "message": message}

    @acknowledged
    def on_mark_read(self, user: User, data: dict) -> dict[str, Any]:
        return {"seq": messaging.mark_read(user, _int(data, "case_id"), _int(data, "seq"))}

    @acknowledged
    def on_join_session(self, user: User, data: dict) -> dict[str, Any]:
        """Be present in a session's room (its participants and the case's officers; anyone
        else: 404). Sent again every `heartbeat` seconds while the room is open; the reply
        says who is present."""
        from mediation.sessions import presence

        return presence.enter(user, _int(data, "session_id"), request.sid)

    @acknowledged
    def on_leave_session(self, user: User, data: dict) -> dict[str, Any]:
        from mediation.sessions import presence

        return presence.leave(user, _int(data, "session_id"), request.sid)
