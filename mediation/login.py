"""Signing in, for the pages and the API alike, and the pages' sessions.

- Failed sign-ins are throttled per account and per client address (flask-limiter's
  storage: Redis in production, so every process counts together; memory when embedded).
  Once a limit is reached every attempt on that account (or from that address) is refused
  with 429 until the window has passed, right password or not.
- An unknown or inactive account costs the same password check and gets the same answer
  as a wrong password, so neither the answer nor its time tells which accounts exist.
- A pages session carries the user's session generation (see `User.get_id`): logout
  raises it, which ends that session and every other one of the user. Sessions also end
  after `MEDIATION_SESSION_IDLE_MINUTES` without a request and
  `MEDIATION_SESSION_MAX_HOURS` after signing in, whatever happens.
"""

from __future__ import annotations

import functools
import math
import secrets
import time
from typing import Any

import sqlalchemy as sa
from flask import Flask, Request, Response, current_app, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_user, logout_user
from limits import parse
from werkzeug.security import check_password_hash, generate_password_hash

from mediation.errors import DomainError
from mediation.extensions import db, login_manager
from mediation.settings import get as setting
from mediation.users import User, end_sessions, user_for_session_id

LOGIN_SCOPE = "login"
LIMITER = "mediation.login_limiter"
SEEN_EVERY = 60  # seconds: how stale "last seen" may get before the cookie is rewritten


class WrongCredentials(DomainError):
    status = 401
    code_name = "Unauthorized"

    def __init__(self) -> None:
        super().__init__("wrong username or password")


class TooManyAttempts(DomainError):
    status = 429
    code_name = "Too Many Requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many failed sign-ins: try again later", retry_after=retry_after)


@functools.cache
def _dummy_hash() -> str:
    # Checked in place of an unknown account's hash: same method, same cost.
    return generate_password_hash(secrets.token_urlsafe(16))


def _limits(account: str) -> list[tuple[str, str]]:
    """(limit, key) pairs this attempt counts against."""
    name = account.strip().lower()[:64]
    return [(setting("MEDIATION_LOGIN_ACCOUNT_LIMIT"), f"account:{name}"),
            (setting("MEDIATION_LOGIN_IP_LIMIT"), f"ip:{request.remote_addr or '-'}")]


def authenticate(username: str, password: str) -> User:
    """The active user these credentials belong to; WrongCredentials or TooManyAttempts.

    Each attempt first takes its place in both counts, atomically (Redis INCRBY, or a lock
    in memory), so a burst of parallel guesses cannot all pass a check made before any of
    them is counted; a refused attempt gives its places back, a successful one too (and
    starts the account's count again), so only failures are left counted."""
    strategy = current_app.extensions[LIMITER].limiter
    scope = (current_app.config["RATELIMIT_KEY_PREFIX"], LOGIN_SCOPE)
    counted: list[tuple[Any, str]] = []

    def give_back() -> None:
        for item, key in counted:
            strategy.hit(item, *scope, key, cost=-1)

    for limit, key in _limits(username):
        item = parse(limit)
        counted.append((item, key))
        if not strategy.hit(item, *scope, key):
            give_back()
            reset = strategy.get_window_stats(item, *scope, key).reset_time
            raise TooManyAttempts(max(1, math.ceil(reset - time.time())))
    user = db.session.execute(sa.select(User).where(User.username == username)).scalar_one_or_none()
    valid = check_password_hash(user.password_hash if user is not None else _dummy_hash(), password)
    if user is None or not valid or not user.active:
        raise WrongCredentials()  # the attempt stays counted
    give_back()
    account, key = counted[0]
    strategy.clear(account, *scope, key)  # the account's count starts again; the address's does not
    return user


# What a session keeps across signing in and out; anything else (a pending upload, say)
# belonged to whoever used this browser before.
KEPT = ("lang", "csrf_token")


def _fresh_session() -> None:
    kept = {k: session[k] for k in KEPT if k in session}
    session.clear()
    session.update(kept)


def start_session(user: User) -> None:
    """Sign the user in to the pages, in a fresh session."""
    _fresh_session()
    login_user(user)
    now = int(time.time())
    session["signed_in_at"] = now
    session["seen_at"] = now


def end_session() -> None:
    """Log out: this session and every other pages session of the user end."""
    if current_user.is_authenticated:
        end_sessions(current_user)
        db.session.commit()
    logout_user()
    _fresh_session()


def _expired() -> bool:
    """This pages session has outlived its idle or absolute lifetime."""
    now = time.time()
    return (now - session.get("signed_in_at", 0) > setting("MEDIATION_SESSION_MAX_HOURS") * 3600
            or now - session.get("seen_at", 0) > setting("MEDIATION_SESSION_IDLE_MINUTES") * 60)


def load_user(session_id: str) -> User | None:
    """Flask-Login's loader, for pages and cookie-authenticated sockets alike."""
    if _expired():
        return None
    return user_for_session_id(session_id)


def _touch_session() -> None:
    """Before every page request: an expired session is emptied; a live one is seen now."""
    if "_user_id" not in session:
        return
    if _expired():
        logout_user()
        for key in ("signed_in_at", "seen_at"):
            session.pop(key, None)
        return
    now = int(time.time())
    if now - session.get("seen_at", 0) >= SEEN_EVERY:
        session["seen_at"] = now


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, without their signing machinery on the requests that
    carry no session cookie and leave the session empty (every API call: bearer tokens).
    Flask builds a serializer (key derivation, signer) to open any session, even when there
    is no cookie to read, and reads seven cookie settings to save an empty one."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and not self._cookie(app, request):
            return self.session_class()  # what Flask answers then, too
        return super().open_session(app, request)

    def _cookie(self, app: Flask, request: Request) -> str | None:
        # No Cookie header (a program's call): no cookie to parse. `cookies.get` of a
        # missing name raises and catches werkzeug's BadRequestKeyError inside; `in` does not.
        if not request.environ.get("HTTP_COOKIE"):
            return None
        cookies, name = request.cookies, self.get_cookie_name(app)
        return cookies[name] if name in cookies else None  # noqa: SIM401 (get raises inside)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not session and not session.modified:  # Flask would set and delete no cookie
            if session.accessed:
                if "Vary" in response.headers:
                    response.vary.add("Cookie")
                else:  # what adding to the empty set writes, without parsing the header
                    response.headers["Vary"] = "Cookie"
            return
        super().save_session(app, session, response)


def _unhook(app: Flask, limiter: Limiter) -> None:
    """Take flask-limiter's own per-request hooks off the app when no limit is declared for
    routes (none is: sign-in and the public codes count through `limiter.limiter`, the
    strategy, themselves). They would look for limits on every request and find none."""
    if any(app.config.get(key) for key in ("RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION")):
        return

    def ours(fn: Any) -> bool:  # a bound method of the limiter, or a partial on it
        return (getattr(fn, "__self__", None) is limiter
                or any(arg is limiter for arg in getattr(fn, "args", ())))

    for hooks in (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs):
        if None in hooks:
            hooks[None] = [fn for fn in hooks[None] if not ours(fn)]


def init_app(app: Flask) -> None:
    # One Limiter per app: flask-limiter keeps its storage on the instance, and a process
    # that builds several apps (tests, tools) must not share counts between them. Its
    # storage is RATELIMIT_STORAGE_URI: Redis when the deployment has it, else memory.
    limiter = app.extensions[LIMITER] = Limiter(get_remote_address, app=app)
    _unhook(app, limiter)
    login_manager.user_loader(load_user)
    app.session_interface = CookieSessions()
    app.before_request(_touch_session)
