"""Searches by number, throttled and recorded; security alerts for admins.

A search by identity or phone number (blind index) answers "is this number on file?", so
it can confirm guesses one at a time. It is open only to the roles that may reveal
numbers anyway (`Action.PII_SEARCH`), and each user gets at most
`MEDIATION_PII_SEARCH_RATE` searches (N per S seconds, fixed windows). The count is kept
where every web process sees the same one, with one atomic step per search: Redis `INCR`
when `MEDIATION_REDIS_URL` is set, else an upsert that adds one to a row of
`throttle_windows` (the database serialises concurrent upserts of one row, so parallel
requests cannot all read the same count).

Every search, refused ones included, is a row of `pii_searches`: who, when, which kind of
number, why and how many petitioners it found — never the number, nor its index. The first
search over the limit in a window (exactly one, since each request gets its own count)
raises a `SecurityAlert` that admins read at `GET /api/security/alerts`, and is logged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Mapped, mapped_column

from mediation.errors import DomainError
from mediation.extensions import UTCDateTime, db
from mediation.settings import get as setting
from mediation.timeline import iso, utcnow

log = logging.getLogger(__name__)


class RateLimited(DomainError):
    status = 429
    code_name = "Too Many Requests"


class PiiSearch(db.Model):
    """One search by number: the audit trail (the number itself is never kept)."""

    __tablename__ = "pii_searches"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str] = mapped_column(sa.String(500))
    # petitioners found (None when the search was refused by the throttle)
    results: Mapped[int | None] = mapped_column()
    refused: Mapped[bool] = mapped_column(default=False)


class SecurityAlert(db.Model):
    """Something admins must look at (a burst of number searches)."""

    __tablename__ = "security_alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)


class ThrottleWindow(db.Model):
    """Attempts of one subject in one fixed window, when there is no Redis."""

    __tablename__ = "throttle_windows"

    key: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    window_start: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(default=0)


def _rate(name: str) -> tuple[int, int]:
    count, _, seconds = str(setting(name)).partition("/")
    return int(count), int(seconds or 60)


def _redis_key(key: str, window: int) -> str:
    # One database, one namespace: apps sharing a Redis (tests, staging) never share counts.
    url = str(current_app.config.get("MEDIATION_DATABASE_URL") or current_app.config.get(
        "SQLALCHEMY_DATABASE_URI", ""))
    scope = hashlib.sha256(url.encode()).hexdigest()[:12]
    return f"mediation:{scope}:throttle:{key}:{window}"


def hit(key: str, seconds: int) -> int:
    """Count one attempt for `key` in the current window of `seconds`; the count so far,
    this attempt included. One atomic step in Redis or in the database (the caller's
    transaction: the count is kept when it commits)."""
    window = int(time.time()) // seconds * seconds
    url = current_app.config.get("MEDIATION_REDIS_URL")
    if url:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=5)
        name = _redis_key(key, window)
        pipe = client.pipeline()
        pipe.incr(name)
        pipe.expire(name, seconds + 60)
        count, _ = pipe.execute()
        return int(count)
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    table = ThrottleWindow.__table__
    stmt = insert(table).values(key=key, window_start=window, count=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.key, table.c.window_start],
        set_={"count": table.c.count + 1}).returning(table.c.count)
    # Old windows are of no use: drop them now and then rather than keep a sweeper.
    if window % (seconds * 16) == 0:
        db.session.execute(sa.delete(ThrottleWindow).where(
            ThrottleWindow.key == key, ThrottleWindow.window_start < window))
    return int(db.session.execute(stmt).scalar_one())


def search_allowed(user_id: int, kind: str, reason: str) -> None:
    """Count a search by number; over the limit, record the refusal (and the alert, for
    the first refusal of the window), commit that, and answer 429.

    The refusal commits here, before the 429 rolls the command back: a search is a command
    of its own (the API's), never part of another's transaction."""
    limit, seconds = _rate("MEDIATION_PII_SEARCH_RATE")
    count = hit(f"pii-search:{user_id}", seconds)
    if count <= limit:
        return
    db.session.add(PiiSearch(user_id=user_id, kind=kind, reason=reason, results=None, refused=True))
    if count == limit + 1:
        db.session.add(SecurityAlert(kind="pii.search_burst", user_id=user_id, detail={
            "limit": limit, "seconds": seconds}))
        log.warning("number searches: user %s went over %s in %s s; admins alerted",
                    user_id, limit, seconds)
    db.session.commit()
    raise RateLimited(f"at most {limit} searches by number in {seconds} seconds; "
                      "try again later", retry_after=seconds)


def record_search(user_id: int, kind: str, reason: str, results: int) -> None:
    db.session.add(PiiSearch(user_id=user_id, kind=kind, reason=reason, results=results))


def alert_view(alert: SecurityAlert) -> dict[str, Any]:
    return {"id": alert.id, "at": iso(alert.at), "kind": alert.kind, "user_id": alert.user_id,
            "detail": alert.detail or {}}


def search_view(row: PiiSearch) -> dict[str, Any]:
    return {"id": row.id, "at": iso(row.at), "user_id": row.user_id, "kind": row.kind,
            "reason": row.reason, "results": row.results, "refused": row.refused}
