"""A database outage answers as an outage: 503 with Retry-After, one log line per failure.

While PostgreSQL is down (restarting, failing over, unreachable) every request that needs
it fails the same way. Each such failure is answered 503 with `Retry-After` (JSON on the
API, a short page on the pages), and logged as one line with a running count of failures
since the database last answered — not a traceback per request. The engine's pool pings
a connection before lending it (`pool_pre_ping`, in the config), so once the database is
back the first request after it gets a fresh connection.

The ping is a round trip, and a request may take a connection from the pool twice (once
more after its commit): on PostgreSQL a connection that came back to the pool less than
`RECENT_CHECKIN` seconds ago and has nothing waiting on its socket is lent without one
(`quick_pre_ping`). A server that ended the connection since — a restart, a failover, a
terminated backend — has said so on that socket (its last message, then the end of the
stream), so such a connection still gets the full ping, fails it and is replaced; so does
any connection idle for longer.
"""

from __future__ import annotations

import contextlib
import logging
import select
import threading
import time
import weakref
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, jsonify, request

log = logging.getLogger(__name__)

RETRY_AFTER = 5  # seconds: a restart or a failover takes about that long

# The errors that mean "the database cannot be reached or used right now" rather than
# "this request is wrong": connection loss, refused connections, a pool that cannot lend one.
UNAVAILABLE = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError)


class _Count:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.failures = 0

    def failed(self) -> int:
        with self.lock:
            self.failures += 1
            return self.failures

    def answered(self) -> int:
        with self.lock:
            was, self.failures = self.failures, 0
            return was


_count = _Count()


def is_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, UNAVAILABLE)


def describe(exc: BaseException) -> str:
    """The error's class and first line (PostgreSQL's primary message: no statement, no
    parameters, which may hold names and numbers)."""
    orig = getattr(exc, "orig", None) or exc
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
    return f"{type(orig).__name__}: {first[:200]}"


def record_failure(exc: BaseException, where: str) -> int:
    """Log one line for an outage failure; returns the running count."""
    n = _count.failed()
    log.error("database unavailable (%s) on %s; %d failure(s) since it last answered",
              describe(exc), where, n)
    return n


def _database_unavailable(exc: Exception):
    from mediation.extensions import db

    with contextlib.suppress(Exception):  # the rollback needs the connection that is gone
        db.session.rollback()
    record_failure(exc, f"{request.method} {request.url_rule.rule if request.url_rule else request.path}")
    headers = {"Retry-After": str(RETRY_AFTER)}
    wants_page = (not request.path.startswith("/api/")
                  and request.accept_mimetypes.best_match(["application/json", "text/html"])
                  == "text/html")
    if wants_page:
        # A page of its own, rendered without the context processors: the usual layout
        # (and Flask-Login's processor) ask the database who is signed in.
        from mediation.i18n import LANGUAGES, select_locale

        page = current_app.jinja_env.get_template("outage.html").render(
            retry_after=RETRY_AFTER, html_lang=LANGUAGES[select_locale()][0])
        return page, 503, headers
    body = {"code": 503, "status": "Service Unavailable",
            "message": "the database is unavailable; retry after the time in Retry-After",
            "retry_after": RETRY_AFTER}
    return jsonify(body), 503, headers


def _answered(*_args) -> None:
    # A connection lent by the pool (pinged first): the database answers again.
    if _count.failures:
        was = _count.answered()
        if was:
            log.warning("database answers again after %d failure(s)", was)


RECENT_CHECKIN = 5.0  # seconds


def _quiet(dbapi_connection: Any) -> bool:
    """Nothing to read on the connection's socket (no goodbye from the server, no end of
    stream) and libpq holds it open and idle."""
    if dbapi_connection.closed or dbapi_connection.broken:
        return False
    pgconn = dbapi_connection.pgconn
    try:
        fd = pgconn.socket
    except Exception:  # no socket any more
        return False
    from psycopg import pq

    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    return not poller.poll(0) and pgconn.transaction_status == pq.TransactionStatus.IDLE


def quick_pre_ping(engine: sa.Engine) -> None:
    """Skip the pool's ping round trip for a PostgreSQL (psycopg) connection checked in
    less than RECENT_CHECKIN seconds ago whose socket is quiet; ping every other."""
    dialect = engine.dialect
    if getattr(dialect, "_mediation_quick_ping", False):
        return
    checked_in: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()

    def _checked_in(dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection is not None:
            checked_in[dbapi_connection] = time.monotonic()

    def do_ping(dbapi_connection: Any) -> bool:
        at = checked_in.pop(dbapi_connection, None)
        if at is not None and time.monotonic() - at < RECENT_CHECKIN and _quiet(dbapi_connection):
            return True
        return type(dialect).do_ping(dialect, dbapi_connection)  # SQLAlchemy's: a round trip

    sa.event.listen(engine, "checkin", _checked_in)
    dialect.do_ping = do_ping  # type: ignore[method-assign]
    dialect._mediation_quick_ping = True  # type: ignore[attr-defined]


def init_app(app: Flask) -> None:
    for exc_type in UNAVAILABLE:
        app.register_error_handler(exc_type, _database_unavailable)
    if not sa.event.contains(sa.pool.Pool, "checkout", _answered):
        sa.event.listen(sa.pool.Pool, "checkout", _answered)


__all__ = ["init_app", "is_unavailable", "quick_pre_ping", "record_failure", "RETRY_AFTER"]
