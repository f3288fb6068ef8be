"""The embedded mode's write counts (limits' memory storage) without a thread per count."""

from __future__ import annotations

import threading
import time

from limits import parse
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

from mediation.writes import QuietMemoryStorage


def _timers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if isinstance(t, threading.Timer) and t.is_alive()]


def test_counting_starts_no_thread_and_still_limits():
    storage = QuietMemoryStorage("memory://")
    time.sleep(0.05)  # the parent's constructor starts one Timer: let it finish
    before = len(_timers())
    limiter = FixedWindowRateLimiter(storage)
    item = parse("3 per minute")
    allowed = []
    for _ in range(4):
        allowed.append(limiter.hit(item, "writes", "7"))
        assert len(_timers()) == before  # the parent would have one running for 10 ms
        time.sleep(0.015)  # past the parent's 10 ms timer, so it would start another
    assert allowed == [True, True, True, False]
    assert limiter.hit(item, "writes", "8")  # another user's count is its own


def test_expired_entries_are_freed_in_the_counting_thread():
    storage = QuietMemoryStorage("memory://")
    storage.SWEEP_SECONDS = 0.0
    moving = MovingWindowRateLimiter(storage)
    item = parse("5 per 1 second")
    assert moving.hit(item, "messages", "1")
    key = item.key_for("messages", "1")
    assert storage.events[key]
    storage.events[key][0].expiry = time.time() - 1  # as if the second had passed
    assert moving.hit(item, "messages", "2")  # any count sweeps
    assert key not in storage.events or not storage.events[key]
