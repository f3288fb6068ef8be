"""Sessions and agreements seen live: a real Socket.IO client of the officer, and one of an
invited lawyer, against `mediation serve` in its own process (embedded: SQLite, no Redis)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.conftest import build_app
from tests.factories import complete_content, consent_via, session_body, sessions_world
from tests.test_realtime_live import WAIT, Client, LiveServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[tuple[LiveServer, object]]:
    work = tmp_path_factory.mktemp("sessions-live")
    url = f"sqlite:///{work / 'live.db'}"
    world = sessions_world(build_app(url, work / "seed-instance"))
    server = LiveServer(work, url).start()
    try:
        yield server, world
    finally:
        server.stop()


def take_types(client: Client, wanted: list[str], case_id: int) -> list[dict]:
    """Envelopes of the case until every wanted type has arrived (others are skipped)."""
    missing, got = list(wanted), []
    while missing:
        envelope = client.take(1, case_id)[0]
        if envelope["type"] in missing:
            missing.remove(envelope["type"])
            got.append(envelope)
    return got


def test_the_officer_sees_the_session_a_join_a_message_and_the_agreement_take_effect(live):
    """The officer's live view of a session from scheduling to an agreement in effect, over real sockets."""
    server, w = live
    tok = w.tokens
    officer = Client(server.base, tok["officer"])
    lawyer = Client(server.base, tok["lawyer"])  # not subscribed: only its inbox
    try:
        assert officer.call("subscribe", {"case_id": w.case_id, "after": 10**6})["ok"] is True
        r = server.post(f"/api/cases/{w.case_id}/sessions", tok["mediator"], session_body(w))
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        invitation = lawyer.take(1, w.case_id)[0]
        assert invitation["type"] == "session.scheduled" and invitation["data"]["session_id"] == sid
        consent_via(server.post, w)
        assert server.post(f"/api/sessions/{sid}/start", tok["mediator"], {}).status_code == 200
        assert server.post(f"/api/sessions/{sid}/join", tok["lawyer"], {}).status_code == 200
        assert server.post(f"/api/sessions/{sid}/messages", tok["mediator"],
                           {"body": "调解会开始，请各方发言"}).status_code == 201
        seen = take_types(officer, ["session.scheduled", "session.started", "session.joined",
                                    "session.message.posted"], w.case_id)
        assert seen[2]["data"]["user_id"] == w.users["lawyer"].id
        assert seen[3]["data"]["body"] == "调解会开始，请各方发言"
        # The invited lawyer gets every event of the session in their inbox: its start, their
        # own arrival and the room's chat.
        got = [e["type"] for e in lawyer.take(3, w.case_id)]
        assert got == ["session.started", "session.joined", "session.message.posted"]

        a = server.post(f"/api/cases/{w.case_id}/agreements", tok["mediator"],
                        {"session_id": sid, **complete_content(w)}).json()
        assert server.post(f"/api/agreements/{a['id']}/finalise", tok["mediator"], {}).status_code == 200
        for who, body in (("officer", {"signer": "party", "party_index": 0, "method": "fingerprint"}),
                          ("officer", {"signer": "party", "party_index": 1, "method": "seal"}),
                          ("mediator", {"signer": "mediator", "method": "account"})):
            r = server.post(f"/api/agreements/{a['id']}/sign", tok[who], body)
            assert r.status_code == 200, r.text
        effect, moved = take_types(officer, ["agreement.in_effect", "case.status_changed"], w.case_id)[:2]
        assert effect["data"]["agreement_id"] == a["id"]
        got = requests.get(f"{server.base}/api/cases/{w.case_id}", timeout=WAIT,
                           headers={"Authorization": f"Bearer {tok['officer']}"}).json()
        assert got["status"] == "agreement_reached"
    finally:
        officer.close()
        lawyer.close()
