"""The Redis message queue that joins web processes, Celery workers and the CLI.

Two sides, both on one channel:
- a web process's listener (`ListeningRedisManager`): receives what any process emits
  and delivers it to its own connections; it records whether it is subscribed, so that
  `/readyz` can tell a silently dead listener;
- the process-wide emitter (`QueueEmitter`, one per process and URL, shared by every
  request and task): publishes, and raises when Redis does not take the message, so that
  the events stay in the outbox for the sweep (the stock manager logs and drops them).
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
        delay = 1.0
        while True:
            try:
                self._redis_connect()
                self.pubsub.subscribe(self.channel)
                self.listening, self.listener_error, delay = True, None, 1.0
                self.ready.set()
                log.info("Socket.IO queue listener subscribed to %s", self.channel)
                yield from self.pubsub.listen()
                raise ConnectionError("the subscription ended")
            except Exception as exc:
                self.listening = False
                self.listener_error = f"{exc.__class__.__name__}: {exc}"[:200]
                self.ready.set()
                log.error("Socket.IO queue listener lost Redis (%s); retrying in %.0f s",
                          self.listener_error, delay)
                time.sleep(delay)
                delay = min(delay * 2, 30.0)


class QueueEmitter(socketio.RedisManager):
    """A write-only publisher to the queue that raises instead of dropping a message."""

    def __init__(self, url: str) -> None:
        super().__init__(url, channel=channel_for(url), write_only=True,
                         redis_options=dict(REDIS_OPTIONS))

    def _publish(self, data: Any) -> Any:
        payload = self.json.dumps(data)
        for attempt in (1, 2):  # one reconnect: the pooled connection may have gone stale
            try:
                if not self.connected:
                    self._redis_connect()
                return self.redis.publish(self.channel, payload)
            except Exception:
                self.connected = False
                if attempt == 2:
                    raise
        return None


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


def listener_status(server: socketio.Server) -> str:
    """"ok" when this process receives from the queue, else why not (for /readyz)."""
    manager = server.manager
    if not isinstance(manager, ListeningRedisManager):
        return "ok"
    ensure_listening(server)
    thread = getattr(manager, "thread", None)
    if thread is None or not thread.is_alive():
        return "error: the Socket.IO queue listener is not running"
    if not manager.listening:
        return f"error: the Socket.IO queue listener is disconnected ({manager.listener_error})"
    return "ok"
