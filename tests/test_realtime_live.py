"""Live delivery as users get it: a real python-socketio client over a real socket
against `mediation serve` running as its own process (embedded: SQLite, no Redis)."""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import socketio

from tests.conftest import PII_KEY, SECRET, build_app
from tests.factories import World, make_world

pytestmark = pytest.mark.slow
WAIT = 20  # seconds: a generous bound for something that takes milliseconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """`mediation serve` as a subprocess on a free port."""

    def __init__(self, workdir: Path, database_url: str, **env: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"server-{self.port}.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIATION_")}
        self.env.update({"MEDIATION_DATABASE_URL": database_url,
                         "MEDIATION_INSTANCE_PATH": str(workdir / "instance"),
                         "MEDIATION_SECRET_KEY": SECRET, "MEDIATION_PII_KEY": PII_KEY, **env})
        self.proc: subprocess.Popen | None = None

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(Path(sys.executable).parent / "mediation"), *args],
                              env=self.env, capture_output=True, text=True, timeout=120)

    def start(self) -> LiveServer:
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "mediation"), "serve", "--host", "127.0.0.1",
             "--port", str(self.port)], env=self.env, stdout=self.log.open("w"),
            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-2000:]
            try:
                if requests.get(self.base + "/healthz", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:  # not listening yet, or its worker still starting
                pass
            time.sleep(0.2)
        raise AssertionError(f"server did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def post(self, path: str, token: str, json: dict) -> requests.Response:
        return requests.post(self.base + path, json=json, timeout=WAIT,
                             headers={"Authorization": f"Bearer {token}"})


class Client:
    """A real Socket.IO client that keeps every envelope it is sent, in arrival order."""

    def __init__(self, base: str, token: str | None,
                 transports: tuple[str, ...] = ("websocket",)) -> None:
        self.events: queue.Queue = queue.Queue()
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("event", self.events.put)
        self.resyncs: queue.Queue = queue.Queue()  # the server's "resume from your cursors"
        self.sio.on("resync", self.resyncs.put)
        self.sio.connect(base, auth={"token": token} if token else None, wait_timeout=WAIT,
                         transports=list(transports))

    def call(self, event: str, data: dict) -> dict:
        return self.sio.call(event, data, timeout=WAIT)

    def take(self, n: int, case_id: int | None = None, timeout: float = WAIT) -> list[dict]:
        got: list[dict] = []
        while len(got) < n:
            envelope = self.events.get(timeout=timeout)
            if case_id is None or envelope["case_id"] == case_id:
                got.append(envelope)
        return got

    def drop(self) -> None:
        """Cut the connection as a lost network would: no goodbye to the server."""
        self.sio.eio.ws.shutdown()

    def close(self) -> None:
        # Dropping spares each test the client's 3 s wait for the closing handshake.
        if self.sio.connected:
            self.drop()


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[World]:
    work = tmp_path_factory.mktemp("live")
    url = f"sqlite:///{work / 'live.db'}"
    app = build_app(url, work / "seed-instance")
    world = make_world(
        app,
        {"officer": ("case_officer", "510104"), "stranger": ("case_officer", "110101"),
         "supervisor": ("supervisor", "51")},
        {"a": ("officer", "510104"), "b": ("officer", "510104")})
    server = LiveServer(work, url).start()
    try:
        world.server, world.app = server, app
        yield world
    finally:
        server.stop()


def test_connect_without_credentials_is_refused(live):
    base = live.server.base
    with pytest.raises(socketio.exceptions.ConnectionError):
        Client(base, None)
    with pytest.raises(socketio.exceptions.ConnectionError):
        Client(base, "med_not-a-token")


def test_subscribing_to_a_case_without_permission_is_refused(live):
    c = Client(live.server.base, live.tokens["stranger"])
    try:
        ack = c.call("subscribe", {"case_id": live.cases["a"], "after": 0})
        assert ack["ok"] is False and ack["error"] == "case not found"
        assert c.call("subscribe", {"case_id": 999999})["ok"] is False
        assert c.call("subscribe", {"case_id": "a"})["code"] == 422
        # Nothing of that case reaches the refused connection.
        r = live.server.post(f"/api/cases/{live.cases['a']}/messages",
                                live.tokens["officer"], {"body": "not for strangers"})
        assert r.status_code == 201
        assert c.call("subscribe", {"case_id": 999999})["ok"] is False  # a round trip later
        assert c.events.empty()
    finally:
        c.close()


def test_subscribe_returns_the_history_then_events_arrive_in_seq_order(live):
    server, tok, case_id = live.server, live.tokens["officer"], live.cases["a"]
    c = Client(server.base, tok)
    try:
        ack = c.call("subscribe", {"case_id": case_id, "after": 0})
        assert ack["ok"] is True and ack["more"] is False
        assert [e["type"] for e in ack["missed"][:2]] == ["case.created", "case.classified"]
        assert [e["seq"] for e in ack["missed"]] == list(range(1, ack["last_seq"] + 1))
        for i in range(6):
            assert server.post(f"/api/cases/{case_id}/messages", tok,
                               {"body": f"第{i}条"}).status_code == 201
        got = c.take(6, case_id)
        assert [e["seq"] for e in got] == list(range(ack["last_seq"] + 1, ack["last_seq"] + 7))
        assert [e["data"]["body"] for e in got] == [f"第{i}条" for i in range(6)]
        assert set(got[0]) == {"case_id", "seq", "type", "at", "actor", "data"}
    finally:
        c.close()


def test_after_a_forced_disconnect_resuming_returns_exactly_the_missed_events(live):
    server, tok, case_id = live.server, live.tokens["officer"], live.cases["b"]
    c = Client(server.base, tok)
    ack = c.call("subscribe", {"case_id": case_id, "after": 0})
    server.post(f"/api/cases/{case_id}/messages", tok, {"body": "before"})
    last_seen = c.take(1, case_id)[0]["seq"]
    c.drop()
    missed_seqs = [server.post(f"/api/cases/{case_id}/messages", tok,
                               {"body": f"while away {i}"}).json()["seq"] for i in range(3)]
    c2 = Client(server.base, tok)
    try:
        resumed = c2.call("subscribe", {"case_id": case_id, "after": last_seen})
        assert [e["seq"] for e in resumed["missed"]] == missed_seqs
        assert [e["data"]["body"] for e in resumed["missed"]] == [f"while away {i}" for i in range(3)]
        assert resumed["last_seq"] == missed_seqs[-1] and ack["last_seq"] < last_seen
    finally:
        c.close()
        c2.close()


def test_messages_over_the_socket_are_acknowledged_with_their_seq(live):
    server, tok, case_id = live.server, live.tokens["officer"], live.cases["a"]
    c = Client(server.base, tok)
    try:
        c.call("subscribe", {"case_id": case_id, "after": 10**6})
        ack = c.call("post_message", {"case_id": case_id, "body": "  over the socket  "})
        assert ack["ok"] is True and ack["message"]["body"] == "over the socket"
        event = c.take(1, case_id)[0]
        assert (event["seq"], event["type"]) == (ack["seq"], "message.posted")
        bad = c.call("post_message", {"case_id": case_id, "body": "   "})
        assert bad["ok"] is False and bad["code"] == 422 and "body" in bad["errors"]
        edit = c.call("edit_message", {"case_id": case_id, "seq": ack["seq"], "body": "edited"})
        assert edit["ok"] and edit["message"]["body"] == "edited"
        assert c.take(1, case_id)[0]["type"] == "message.edited"
        marker = c.call("mark_read", {"case_id": case_id, "seq": event["seq"]})
        assert marker == {"ok": True, "seq": event["seq"]}
    finally:
        c.close()


def test_a_region_board_gets_the_events_of_its_cases_including_internal_notes(live):
    server, case_id = live.server, live.cases["a"]
    board = Client(server.base, live.tokens["supervisor"])
    try:
        assert board.call("subscribe_region", {"region": "51"}) == {"ok": True, "region": "51"}
        refused = board.call("subscribe_region", {"region": "11"})
        assert refused["ok"] is False and refused["code"] == 403
        tok = live.tokens["officer"]
        server.post(f"/api/cases/{case_id}/messages", tok, {"body": "thread"})
        server.post(f"/api/cases/{case_id}/messages", tok, {"body": "note", "channel": "internal"})
        got = board.take(2, case_id)
        assert [e["type"] for e in got] == ["message.posted", "internal_note.posted"]
    finally:
        board.close()


def test_readyz_is_ready_without_redis(live):
    r = requests.get(live.server.base + "/readyz", timeout=WAIT)
    assert r.status_code == 200 and r.json()["checks"]["socketio_listener"] == "ok"


def test_the_socket_io_client_library_and_module_are_served_locally(live):
    base = live.server.base
    lib = requests.get(base + "/static/vendor/socket.io.min.js", timeout=WAIT)
    assert lib.status_code == 200 and "Socket.IO v4" in lib.text[:200]
    module = requests.get(base + "/static/js/live.js", timeout=WAIT)
    assert module.status_code == 200 and "export" in module.text
