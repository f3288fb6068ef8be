"""Caucus over real sockets: a `mediation serve` process, real Socket.IO clients of the
mediator, the side in the caucus, the other side and the officer watching the case. Every
frame each connection receives is kept (a catch-all handler, whatever the event's name): the
other side's and the officer's frames never carry the private messages, while they do carry
the room's public message sent after them (so delivery itself was working)."""

from __future__ import annotations

import json
import queue
from collections.abc import Iterator

import pytest
import socketio

from tests.conftest import build_app
from tests.factories import consent_via, session_body, sessions_world
from tests.test_realtime_live import WAIT, Client, LiveServer

pytestmark = pytest.mark.slow

SECRET = "背靠背：对方底线是四万元"
REPLY = "我方可以接受四万五"
PUBLIC = "全体：休会结束，继续调解"


class FrameClient(Client):
    """A client that also keeps every Engine.IO message frame it is sent, as received (before
    Socket.IO decodes it, whatever event it carries), its JSON decoded to readable text."""

    def __init__(self, base: str, token: str) -> None:
        self.events, self.resyncs, self.frames = queue.Queue(), queue.Queue(), queue.Queue()
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("event", self.events.put)
        self.sio.on("resync", self.resyncs.put)
        decode = self.sio._handle_eio_message

        def spy(data):
            self.frames.put(_readable(data))
            return decode(data)

        self.sio.eio.on("message", spy)
        self.sio.connect(base, auth={"token": token}, wait_timeout=WAIT, transports=["websocket"])

    def seen(self) -> list[str]:
        out = []
        while True:
            try:
                out.append(self.frames.get_nowait())
            except queue.Empty:
                return out


def _readable(frame) -> str:
    """A Socket.IO packet (`42[...]`) with its JSON's escapes undone, so a body can be looked for."""
    text = frame if isinstance(frame, str) else repr(frame)
    start = min([i for i in (text.find("["), text.find("{")) if i >= 0], default=-1)
    if start < 0:
        return text
    try:
        return text[:start] + json.dumps(json.loads(text[start:]), ensure_ascii=False)
    except ValueError:
        return text


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[tuple[LiveServer, object]]:
    work = tmp_path_factory.mktemp("caucus-live")
    url = f"sqlite:///{work / 'live.db'}"
    world = sessions_world(build_app(url, work / "seed-instance"))
    server = LiveServer(work, url).start()
    try:
        yield server, world
    finally:
        server.stop()


def _until(client: Client, body: str, case_id: int) -> dict:
    while True:
        envelope = client.take(1, case_id)[0]
        if (envelope.get("data") or {}).get("body") == body:
            return envelope


def test_the_other_side_never_receives_the_caucus(live):
    server, w = live
    tok, lawyer_id = w.tokens, w.users["lawyer"].id
    r = server.post(f"/api/cases/{w.case_id}/sessions", tok["mediator"], session_body(w))
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    consent_via(server.post, w)
    assert server.post(f"/api/sessions/{sid}/start", tok["mediator"], {}).status_code == 200
    mediator, lawyer = Client(server.base, tok["mediator"]), Client(server.base, tok["lawyer"])
    # The other side (the invited deputy) and the officer watching the case, every frame kept.
    deputy, officer = FrameClient(server.base, tok["deputy"]), FrameClient(server.base, tok["officer"])
    try:
        assert officer.call("subscribe", {"case_id": w.case_id, "after": 10**6})["ok"] is True
        r = server.post(f"/api/sessions/{sid}/caucus/{lawyer_id}/messages", tok["mediator"], {"body": SECRET})
        assert r.status_code == 201, r.text
        r = server.post(f"/api/sessions/{sid}/caucus/{lawyer_id}/messages", tok["lawyer"], {"body": REPLY})
        assert r.status_code == 201, r.text
        # The two in the caucus get both messages, live.
        for client in (mediator, lawyer):
            got = _until(client, SECRET, w.case_id)
            assert got["type"] == "session.caucus.posted" and got["data"]["channel"] == f"caucus:{lawyer_id}"
            assert _until(client, REPLY, w.case_id)["type"] == "session.caucus.posted"
        # Then a message to the whole room: once it reaches the other side and the officer,
        # anything sent before it would have too.
        public = server.post(f"/api/sessions/{sid}/messages", tok["mediator"], {"body": PUBLIC})
        assert public.status_code == 201, public.text
        for client in (deputy, officer):
            assert _until(client, PUBLIC, w.case_id)["type"] == "session.message.posted"
        for client in (deputy, officer):
            frames = client.seen()
            assert any(PUBLIC in f for f in frames)
            assert not any(SECRET in f or REPLY in f or "session.caucus" in f for f in frames), frames
        # Catching up from the start on subscribe (the acknowledgement carries what was
        # missed) gives the officer none of it either; the frame of that answer is checked too.
        catch_up = FrameClient(server.base, tok["officer"])
        try:
            answer = catch_up.call("subscribe", {"case_id": w.case_id, "after": 0})
            assert answer["ok"] is True, answer
            bodies = [(e.get("data") or {}).get("body") for e in answer["missed"]]
            assert PUBLIC in bodies and SECRET not in bodies and REPLY not in bodies
            frames = catch_up.seen()
            assert any(PUBLIC in f for f in frames)
            assert not any(SECRET in f or REPLY in f for f in frames)
        finally:
            catch_up.close()
    finally:
        for client in (mediator, lawyer, deputy, officer):
            client.close()
