"""A rate limit on every write that appends events, per user.

Each transaction that appends events for an actor counts once against that actor's
`MEDIATION_WRITE_LIMIT`, whatever the way in (API, pages, sockets), at its first append: a
refused write raises `TooManyWrites` (429 with `retry_after`) inside its own transaction,
which then rolls back, leaving no row and no event. The count is decided atomically by the
`limits` storage the app's rate limiting uses (`RATELIMIT_STORAGE_URI`): Redis when the
deployment has one (INCR: every process counts together, exactly), else this process's
memory (the embedded mode, one process). Only requests count (the command line, tasks and
sweeps act for the service). Each app holds its own counter (`app.extensions`), so that
several apps in one process (tests) never count into each other's storage.
"""

from __future__ import annotations

import logging
import math
import time

from flask import current_app, has_request_context
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter
from sqlalchemy.orm import Session

from mediation.errors import DomainError
from mediation.settings import get as setting
from mediation.transactions import scratch

log = logging.getLogger(__name__)
SCOPE = "writes"


class TooManyWrites(DomainError):
    status = 429
    code_name = "Too Many Requests"


def count(session: Session, actor_id: int | None) -> None:
    """Count this transaction's write for the actor (once per transaction), or refuse it."""
    if actor_id is None or not has_request_context():
        return
    counted: set[int] = scratch(session).setdefault("writes_counted", set())
    if actor_id in counted:
        return
    counted.add(actor_id)
    item = parse(setting("MEDIATION_WRITE_LIMIT"))
    keys = (current_app.config["RATELIMIT_KEY_PREFIX"], SCOPE, str(actor_id))
    strategy = _strategy()
    try:
        allowed = strategy.hit(item, *keys)
    except Exception:  # the counter's storage is down: writes go on, the outage is logged
        log.exception("the write rate limiter could not count; the write is let through")
        return
    if not allowed:
        reset = strategy.get_window_stats(item, *keys).reset_time
        retry = max(1, math.ceil(reset - time.time()))
        raise TooManyWrites(f"too many changes: at most {item.amount} per "
                            f"{item.get_expiry()} seconds; try again in {retry} s",
                            retry_after=retry)


def take(scope: str, item: RateLimitItem, actor_id: int) -> bool:
    """Take one of the actor's `item` in a moving window of `scope` (e.g. messages), or say
    there is none left. Decided atomically by the same storage as the writes' counts (a Lua
    script on Redis, a lock in memory): concurrent requests never both take the last one.
    If the storage is down the request is let through (and the outage logged)."""
    app = current_app._get_current_object()
    moving = app.extensions.get("mediation.writes.moving")
    if moving is None:
        moving = app.extensions.setdefault("mediation.writes.moving",
                                           MovingWindowRateLimiter(_strategy().storage))
    try:
        return moving.hit(item, current_app.config["RATELIMIT_KEY_PREFIX"], scope, str(actor_id))
    except Exception:
        log.exception("the %s rate limiter could not count; the request is let through", scope)
        return True


class QuietMemoryStorage(MemoryStorage):
    """`limits`' memory storage (the embedded mode's counts), expiring old entries in the
    counting thread at most once a second. The parent starts a thread (a Timer) to do it
    whenever the last one has finished, which is after nearly every write once writes are
    10 ms apart; expired counts are ignored on read either way, this only frees them."""

    SWEEP_SECONDS = 1.0

    def __init__(self, uri: str | None = None, **options: str) -> None:
        super().__init__(uri, **options)
        self._swept = time.monotonic()

    def _MemoryStorage__schedule_expiry(self) -> None:  # the parent's private hook, renamed
        now = time.monotonic()
        if now - self._swept >= self.SWEEP_SECONDS:
            self._swept = now
            self._MemoryStorage__expire_events()


def _storage(uri: str):
    return QuietMemoryStorage(uri) if uri.startswith("memory://") else storage_from_string(uri)


def _strategy() -> FixedWindowRateLimiter:
    app = current_app._get_current_object()
    strategy = app.extensions.get("mediation.writes")
    if strategy is None:
        storage = _storage(app.config["RATELIMIT_STORAGE_URI"])
        strategy = app.extensions.setdefault("mediation.writes", FixedWindowRateLimiter(storage))
    return strategy


def reset() -> None:
    """Forget every count of the current app (tests start each from nothing)."""
    strategy = current_app.extensions.get("mediation.writes")
    if strategy is not None:
        strategy.storage.reset()
