"""The Redis message queue that joins web processes, Celery workers and the CLI.

Two sides, both on one channel:
- a web process's listener (`ListeningRedisManager`): receives what any process emits
  and delivers it to its own connections; it records whether it is subscribed, so that
  `/readyz` can tell a silently dead listener;
- the process-wide emitter (`QueueEmitter`, one per process and URL, shared by every
  request and task): publishes, and raises when Redis does not take the message, or when
  it reached no listener while web processes exist (Redis answers PUBLISH with the number
  of subscribers: 0 then means nobody got it), so that the events stay in the outbox for
  the sweep (the stock manager logs and drops them).

A listener that lost Redis retries every few seconds; once subscribed again it tells each
connection of its process to `resync` (resume its cases from its cursors and fetch its
inbox again), since whatever was published meanwhile never reached it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import socketio

log = logging.getLogger(__name__)

CHANNEL = "mediation-socketio"
RECHECK = "mediation.recheck"  # a queue message asking every process to re-check access
RESYNC = "resync"  # the Socket.IO event telling a connection to resume from its cursors
# Each subscribed listener keeps this key alive: "web processes exist", so a publish that
# reached none of them was lost (none existing, nobody is connected to be told).
LISTENERS_TTL = 60
LISTENERS_REFRESH = 15.0
# A lost listener retries this soon, doubling up to the cap: Redis back, it resubscribes
# within a few seconds (every event meanwhile is resumed by the resync, not lost).
RETRY_FIRST, RETRY_MAX = 0.25, 2.0


class NotDelivered(ConnectionError):
    """Redis took the message, but no listener was subscribed to receive it."""


def listeners_key(channel: str) -> str:
    return f"{channel}.listeners"


def channel_for(url: str) -> str:
    """The queue's channel for a Redis URL. Publish/subscribe ignores the database
    number, so it goes into the channel's name: one Redis database, one deployment."""
    from urllib.parse import urlparse

    db = (urlparse(url).path or "/").strip("/") or "0"
    return CHANNEL if db == "0" else f"{CHANNEL}.db{db}"
# Fail fast when Redis is gone (a request must not hang on it); keepalive notices a
# connection that died without a reset.
REDIS_OPTIONS = {"socket_connect_timeout": 3, "socket_timeout": 5, "socket_keepalive": True}
LISTENER_OPTIONS = {"socket_connect_timeout": 3, "socket_keepalive": True,
                    "health_check_interval": 15}


class ListeningRedisManager(socketio.RedisManager):
    """The stock Redis manager, telling whether its listener is subscribed right now."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, channel=channel_for(url), redis_options=dict(LISTENER_OPTIONS),
                         **kwargs)
        self.listening = False
        self.listener_error: str | None = None
        self.ready = threading.Event()
        # fn(user_ids, case_ids): a re-check of live access asked by any process
        # (`realtime.eviction`), handled in order with the events around it.
        self.on_recheck: Callable[[set[int], set[int]], Any] | None = None

    def _listen(self):
        marker = RECHECK.encode()
        for message in super()._listen():
            data = None
            if isinstance(message, bytes) and marker in message:  # skip decoding every emit
                with contextlib.suppress(ValueError):
                    data = self.json.loads(message)
            if isinstance(data, dict) and data.get("method") == RECHECK:
                if self.on_recheck is not None:
                    try:
                        self.on_recheck({int(u) for u in data.get("user_ids") or ()},
                                        {int(c) for c in data.get("case_ids") or ()})
                    except Exception:  # one failed re-check must not end the listener
                        log.exception("re-checking live access failed")
                continue
            yield message

    def _redis_listen_with_retries(self):
        delay, failures, subscribed_before = RETRY_FIRST, 0, False
        key = listeners_key(self.channel)
        while True:
            try:
                self._redis_connect()
                self.pubsub.subscribe(self.channel)
                self.redis.set(key, self.host_id, ex=LISTENERS_TTL)
                self.listening, self.listener_error, delay = True, None, RETRY_FIRST
                self.ready.set()
                if failures or subscribed_before:
                    log.warning("Socket.IO queue listener subscribed to %s again after %d failed "
                                "attempt(s); telling this process's connections to resync",
                                self.channel, failures)
                    self._resync_local()
                else:
                    log.info("Socket.IO queue listener subscribed to %s", self.channel)
                failures, subscribed_before = 0, True
                refreshed = time.monotonic()
                while True:
                    # A bounded wait, not listen(): the key is refreshed (and the
                    # connection proven) even when nothing is published.
                    message = self.pubsub.get_message(timeout=LISTENERS_REFRESH / 3)
                    if time.monotonic() - refreshed >= LISTENERS_REFRESH:
                        self.redis.set(key, self.host_id, ex=LISTENERS_TTL)
                        refreshed = time.monotonic()
                    if message is not None:
                        yield message
            except Exception as exc:
                self.listening = False
                self.listener_error = f"{exc.__class__.__name__}: {exc}"[:200]
                self.ready.set()
                failures += 1
                # One line when it is lost, then one every 30 failures (a minute): not a
                # line per attempt for the length of an outage.
                if failures == 1 or failures % 30 == 0:
                    log.error("Socket.IO queue listener lost Redis (%s); retrying every %.1f s "
                              "(%d failed attempt(s))", self.listener_error, RETRY_MAX, failures)
                time.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)

    def _resync_local(self) -> None:
        """Tell every connection of this process (not of the others: theirs did not miss
        anything through this listener) to resume from its cursors."""
        if self.server is None:
            return
        try:
            socketio.Manager.emit(self, RESYNC, {"reason": "queue"}, namespace="/")
        except Exception:  # a failed notice must not end the listener
            log.exception("telling the connections to resync failed")


class QueueEmitter(socketio.RedisManager):
    """A write-only publisher to the queue that raises instead of dropping a message."""

    def __init__(self, url: str) -> None:
        super().__init__(url, channel=channel_for(url), write_only=True,
                         redis_options=dict(REDIS_OPTIONS))
        self._local = threading.local()

    def _publish(self, data: Any) -> Any:
        payload = self.json.dumps(data)
        for attempt in (1, 2):  # one reconnect: the pooled connection may have gone stale
            try:
                if not self.connected:
                    self._redis_connect()
                count = self.redis.publish(self.channel, payload)
                self._local.count = count
                return count
            except Exception:
                self.connected = False
                if attempt == 2:
                    raise
        return None

    def emit_delivered(self, event: str, data: Any, namespace: str, room: Any,
                       listener_here: bool = False) -> int:
        """Emit, and raise `NotDelivered` when no listener received it although one should
        have: this process's own (`listener_here`), or any web process's (the key).
        Returns the number of listeners that received it."""
        self._local.count = None
        self.emit(event, data, namespace=namespace, room=room)
        count = self._local.count
        if count == 0 and (listener_here or self.redis.exists(listeners_key(self.channel))):
            raise NotDelivered(f"no Socket.IO queue listener is subscribed to {self.channel}")
        return count or 0


_emitters: dict[str, QueueEmitter] = {}
_lock = threading.Lock()


def shared_emitter(url: str) -> QueueEmitter:
    """This process's one emitter for `url` (requests and Celery tasks share it)."""
    with _lock:
        emitter = _emitters.get(url)
        if emitter is None:
            emitter = _emitters[url] = QueueEmitter(url)
        return emitter


def ensure_listening(server: socketio.Server, wait: float = 3.0) -> None:
    """Start the web process's listener now rather than at the first connection."""
    with _lock:
        if not server.manager_initialized:
            server.manager_initialized = True
            server.manager.initialize()
    ready = getattr(server.manager, "ready", None)
    if ready is not None:
        ready.wait(wait)


def listener_here(server: socketio.Server) -> bool:
    """Whether this process runs a queue listener (it serves connections)."""
    return isinstance(server.manager, ListeningRedisManager) and server.manager_initialized


def listener_status(server: socketio.Server) -> str:
    """"ok" when this process receives from the queue, else "degraded: why" (for /readyz:
    live delivery waits for Redis, while requests are still served and written)."""
    manager = server.manager
    if not isinstance(manager, ListeningRedisManager):
        return "ok"
    ensure_listening(server)
    thread = getattr(manager, "thread", None)
    if thread is None or not thread.is_alive():
        return "error: the Socket.IO queue listener is not running"
    if not manager.listening:
        return f"degraded: the Socket.IO queue listener is disconnected ({manager.listener_error})"
    return "ok"
