"""A client that stops reading cannot hold the server: a raw WebSocket that never reads,
while the server pushes megabytes at it, is disconnected once its send buffer has stayed
full for MEDIATION_SOCKET_SEND_STALL_SECONDS, and every thread the connection held ends.
Real server process, real TCP socket."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy.orm import Session

from mediation import timeline
from mediation.extensions import db
from tests.conftest import build_app
from tests.factories import make_world
from tests.test_realtime_live import WAIT, Client, LiveServer

pytestmark = pytest.mark.slow
STALL = 2.0


def _frame(text: str) -> bytes:
    """One masked client text frame."""
    data = text.encode()
    head = bytearray([0x81])
    if len(data) < 126:
        head.append(0x80 | len(data))
    else:
        head.append(0x80 | 126)
        head += len(data).to_bytes(2, "big")
    mask = os.urandom(4)
    return bytes(head) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def _read_exact(sock: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        assert chunk, "the server closed the connection early"
        out += chunk
    return out


def _read_frame(sock: socket.socket) -> str:
    b1, b2 = _read_exact(sock, 2)
    n = b2 & 0x7F
    if n == 126:
        n = int.from_bytes(_read_exact(sock, 2), "big")
    elif n == 127:
        n = int.from_bytes(_read_exact(sock, 8), "big")
    return _read_exact(sock, n).decode()


def _threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def _connections(server: LiveServer) -> float:
    text = requests.get(server.base + "/metrics", timeout=WAIT).text
    return float(re.search(r"^mediation_socketio_connections (\S+)$", text, re.M).group(1))


def _wait(predicate, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_client_that_stops_reading_is_disconnected_and_its_threads_end(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'stall.db'}"
    app = build_app(url, tmp_path / "seed-instance")
    world = make_world(app, {"officer": ("case_officer", "510104")}, {"a": ("officer", "510104")})
    case_id = world.cases["a"]
    with app.app_context(), Session(db.engine) as s:
        # About 3.6 MB of history: each catch-up the client asks for is that much to send.
        body = "长" * 4000
        for _ in range(300):
            timeline.append(s, case_id, "message.posted", {"channel": "case", "body": body}, None)
        s.commit()
        timeline.drain()
    server = LiveServer(tmp_path, url, MEDIATION_SOCKET_SEND_STALL_SECONDS=str(STALL)).start()
    try:
        pid = server.proc.pid
        # A first connection starts the process's own threads (the periodic re-check).
        Client(server.base, world.tokens["officer"]).sio.disconnect()
        _wait(lambda: _connections(server) == 0, "the server to settle")
        time.sleep(1)  # the closed connection's threads finish their last step
        before = _threads(pid)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # read nothing, hold little
        sock.settimeout(WAIT)
        sock.connect(("127.0.0.1", server.port))
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall((f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                      f"Host: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                      f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head
        assert _read_frame(sock).startswith("0{")  # Engine.IO open
        sock.sendall(_frame("40" + json.dumps({"token": world.tokens["officer"]})))
        assert _read_frame(sock).startswith("40{")  # Socket.IO connected
        assert _connections(server) == 1
        during = _threads(pid)
        # Ask for the whole history again and again, and read none of it.
        for i in range(5):
            sock.sendall(_frame(f"42{i}" + json.dumps(["subscribe", {"case_id": case_id, "after": 0}])))
        _wait(lambda: _connections(server) == 0, "the server to drop the non-reading client")
        _wait(lambda: _threads(pid) <= before, f"the connection's threads to end ({before} before)")
        log = server.log.read_text()
        assert "has read nothing for" in log, log[-3000:]
        assert during > before  # the connection did hold threads while it was open
        sock.close()
        # The server still serves everybody else.
        assert requests.get(server.base + "/healthz", timeout=WAIT).status_code == 200
    finally:
        server.stop()
