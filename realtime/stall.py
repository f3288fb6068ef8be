"""A client that stops reading cannot hold the server.

In threading mode each WebSocket is written by a thread of its own (Engine.IO's writer)
with a plain blocking `socket.send`: a client that keeps its connection open but reads
nothing fills the TCP buffers, and that thread then blocks for as long as the client
stays, while the connection's queue of packets grows. The middleware here hands the
WebSocket server a socket whose `send` waits for the buffer to drain at most
`MEDIATION_SOCKET_SEND_STALL_SECONDS` without progress; then it shuts the connection down
(the reader sees the end, Engine.IO closes the session and every thread of the
connection ends) and raises, so that the writer stops.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import time
from typing import Any

log = logging.getLogger(__name__)

# Where simple-websocket finds the connection's socket in the WSGI environment.
SOCKET_KEYS = ("werkzeug.socket", "gunicorn.socket")
# As a plain int: `flags | socket.MSG_DONTWAIT` goes through the IntFlag's Python `__or__`
# (0.44 us against 0.01 us), once per frame sent: a thousand times per fan-out.
_DONTWAIT = int(socket.MSG_DONTWAIT)


class SendStalled(ConnectionError):
    """The peer read nothing for the whole stall limit."""


class GuardedSocket:
    """A socket whose `send` sends everything or gives up after `stall` seconds without
    progress (the rest is delegated to the real socket)."""

    def __init__(self, sock: socket.socket, stall: float, peer: str) -> None:
        self._sock = sock
        self._stall = stall
        self._peer = peer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def send(self, data: bytes, flags: int = 0) -> int:
        # Almost always the buffer takes it all at once: no selector then (making one per
        # send was a quarter of the writer threads' time in a fan-out to 1,000 connections).
        try:
            sent = self._sock.send(data, flags | _DONTWAIT)
        except (BlockingIOError, InterruptedError, TimeoutError):
            sent = 0
        if sent < len(data):
            self._send_rest(memoryview(data), sent, flags)
        return len(data)

    def _send_rest(self, view: memoryview, sent: int, flags: int) -> None:
        """Send `view[sent:]`, waiting while the buffer is full, at most the stall limit
        without progress."""
        waited_since = time.monotonic()
        with selectors.DefaultSelector() as sel:
            sel.register(self._sock, selectors.EVENT_WRITE)
            while sent < len(view):
                try:
                    n = self._sock.send(view[sent:], flags | _DONTWAIT)
                except (BlockingIOError, InterruptedError, TimeoutError):
                    n = 0
                if n:
                    sent, waited_since = sent + n, time.monotonic()
                    continue
                left = self._stall - (time.monotonic() - waited_since)
                if left <= 0:
                    self._give_up(len(view) - sent)
                sel.select(left)

    def sendall(self, data: bytes, flags: int = 0) -> None:
        self.send(data, flags)

    def _give_up(self, unsent: int) -> None:
        log.warning("closing the live connection of %s: it has read nothing for %.0f s "
                    "(%d bytes unsent)", self._peer, self._stall, unsent)
        with contextlib.suppress(OSError):  # already gone
            self._sock.shutdown(socket.SHUT_RDWR)
        raise SendStalled(f"the client read nothing for {self._stall:.0f} s")


class StallGuard:
    """WSGI middleware: WebSocket upgrades get a `GuardedSocket`."""

    def __init__(self, wsgi_app: Any, stall: Any) -> None:
        self.wsgi_app = wsgi_app
        self.stall = stall  # a number, or a callable returning one (read per connection)

    def __call__(self, environ: dict, start_response: Any) -> Any:
        if environ.get("HTTP_UPGRADE", "").lower() == "websocket":
            stall = float(self.stall() if callable(self.stall) else self.stall)
            for key in SOCKET_KEYS:
                sock = environ.get(key)
                if sock is not None and not isinstance(sock, GuardedSocket):
                    environ[key] = GuardedSocket(sock, stall, environ.get("REMOTE_ADDR", "?"))
        return self.wsgi_app(environ, start_response)
