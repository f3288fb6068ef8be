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

import contextlib
import functools
import logging
import math
import threading
import time

from flask import current_app, has_request_context
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, RedisClusterStorage, RedisStorage, storage_from_string
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
    if not _counts_now(session, actor_id):
        return
    item, keys = _write_item(actor_id)
    strategy = _strategy()
    try:
        with _serial(strategy.storage):
            allowed = strategy.hit(item, *keys)
    except Exception:  # the counter's storage is down: writes go on, the outage is logged
        log.exception("the write rate limiter could not count; the write is let through")
        return
    if not allowed:
        _refuse(strategy, item, keys)


def _counts_now(session: Session, actor_id: int | None) -> bool:
    """Whether this transaction's write is still to be counted for the actor (a request's,
    not yet counted); marks it counted."""
    if actor_id is None or not has_request_context():
        return False
    counted: set[int] = scratch(session).setdefault("writes_counted", set())
    if actor_id in counted:
        return False
    counted.add(actor_id)
    return True


def _write_item(actor_id: int) -> tuple[RateLimitItem, tuple[str, str, str]]:
    return (_parsed(setting("MEDIATION_WRITE_LIMIT")),
            (current_app.config["RATELIMIT_KEY_PREFIX"], SCOPE, str(actor_id)))


@functools.lru_cache(maxsize=16)
def _parsed(limit: str) -> RateLimitItem:
    """A limit's text parsed (once per text: every counted write asks; an item is never
    changed by its users)."""
    return parse(limit)


def _refuse(strategy: FixedWindowRateLimiter, item: RateLimitItem, keys: tuple[str, ...]) -> None:
    reset = strategy.get_window_stats(item, *keys).reset_time
    retry = max(1, math.ceil(reset - time.time()))
    raise TooManyWrites(f"too many changes: at most {item.amount} per "
                        f"{item.get_expiry()} seconds; try again in {retry} s",
                        retry_after=retry)


def take(scope: str, item: RateLimitItem, actor_id: int, session: Session | None = None) -> bool:
    """Take one of the actor's `item` in a moving window of `scope` (e.g. messages), or say
    there is none left. Decided atomically by the same storage as the writes' counts (a Lua
    script on Redis, a lock in memory): concurrent requests never both take the last one.
    If the storage is down the request is let through (and the outage logged).

    With `session`, the write its transaction is about to make is counted in the same step
    (what `count` does at its first append, which then counts nothing more): both limits are
    checked before either is counted, in one round trip on Redis. A refused take (False)
    counts no write; a refused write (`TooManyWrites`) takes nothing."""
    app = current_app._get_current_object()
    moving = app.extensions.get("mediation.writes.moving")
    if moving is None:
        moving = app.extensions.setdefault("mediation.writes.moving",
                                           MovingWindowRateLimiter(_strategy().storage))
    keys = (current_app.config["RATELIMIT_KEY_PREFIX"], scope, str(actor_id))
    write = None
    if session is not None and _counts_now(session, actor_id):
        write = _write_item(actor_id)
    try:
        if write is None:
            with _serial(moving.storage):
                return moving.hit(item, *keys)
        verdict = _take_with_write(moving.storage, item, keys, *write)
    except Exception:
        log.exception("the %s rate limiter could not count; the request is let through", scope)
        return True
    if verdict == WRITE_REFUSED:
        _refuse(_strategy(), write[0], write[1])
    return verdict == TAKEN


TAKEN, REFUSED, WRITE_REFUSED = 1, 0, -1

# `take` with a write: KEYS the moving window's list and the writes' fixed-window counter
# (as `limits` keeps them); ARGV now, the window's limit and seconds, the writes' limit and
# seconds. The window is checked first (its refusal wins), then the writes; only when both
# admit is each counted, as `limits`' own scripts count them.
_TAKE_WITH_WRITE = """
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local expiry = tonumber(ARGV[3])
local write_limit = tonumber(ARGV[4])
local write_expiry = tonumber(ARGV[5])
if limit < 1 then
    return 0
end
local entry = redis.call('lindex', KEYS[1], limit - 1)
if entry and tonumber(entry) >= now - expiry then
    return 0
end
if tonumber(redis.call('get', KEYS[2]) or '0') >= write_limit then
    return -1
end
if redis.call('incrby', KEYS[2], 1) == 1 then
    redis.call('expire', KEYS[2], write_expiry)
end
redis.call('lpush', KEYS[1], now)
redis.call('ltrim', KEYS[1], 0, limit - 1)
redis.call('expire', KEYS[1], expiry)
return 1
"""


def _take_with_write(storage, item: RateLimitItem, keys: tuple[str, ...],
                     write: RateLimitItem, write_keys: tuple[str, ...]) -> int:
    """TAKEN (both counted), REFUSED (the window is full; nothing counted) or WRITE_REFUSED
    (the writes' limit is reached; nothing counted)."""
    window_key, write_key = item.key_for(*keys), write.key_for(*write_keys)
    if isinstance(storage, RedisStorage) and not isinstance(storage, RedisClusterStorage):
        script = getattr(storage, "_mediation_take_with_write", None)
        if script is None:
            script = storage.get_connection().register_script(_TAKE_WITH_WRITE)
            storage._mediation_take_with_write = script
        return int(script([storage.prefixed_key(window_key), storage.prefixed_key(write_key)],
                          [time.time(), item.amount, item.get_expiry(), write.amount,
                           write.get_expiry()]))
    # Memory (one process: every count of it goes through `_serial`), or a storage
    # without the script: checked, then counted, under the lock.
    with _serial(storage):
        if storage.get_moving_window(window_key, item.amount, item.get_expiry())[1] >= item.amount:
            return REFUSED
        if storage.get(write_key) >= write.amount:
            return WRITE_REFUSED
        storage.incr(write_key, write.get_expiry())
        storage.acquire_entry(window_key, item.amount, item.get_expiry())
        return TAKEN


_serial_guard = threading.Lock()


@contextlib.contextmanager
def _serial(storage):
    """In memory (one process), every count of the writes' storage made here, one at a
    time: a check-then-count of `_take_with_write` is atomic with respect to the others.
    Redis decides atomically by itself (each script is one step): no lock."""
    if isinstance(storage, RedisStorage):
        yield
        return
    lock = getattr(storage, "_mediation_serial", None)
    if lock is None:
        with _serial_guard:
            lock = storage.__dict__.setdefault("_mediation_serial", threading.Lock())
    with lock:
        yield


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
