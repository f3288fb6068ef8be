"""One audience rule per event type, the same everywhere: the timeline API, the catch-up on
subscribe, the live relay and the case page.

- `session.*`: the session's participants and the officials who see the case. A lawyer on
  the case who is not in a session does not learn when it meets, what its minutes say or
  who is in its room.
- `referral.*`: staff and that referral's own provider. An offer carries the ranking's
  reasons (other providers' load and acceptance rates); a decline carries the provider's
  note to staff. Another provider on the case sees neither.

The world: a case with an accepted mediation referral (the mediator) and an accepted legal
referral (the lawyer); the mediator holds a session the lawyer is not invited to; a need is
offered to a counsellor, who (live) declines it with a note. Live: real Socket.IO clients
against `mediation serve` in its own process.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests

from mediation.extensions import db
from tests.conftest import DB_KIND, build_app, drop_pg_database, make_pg_database
from tests.factories import World, consent_via, session_body, sessions_world
from tests.page_client import PageClient
from tests.test_realtime_live import WAIT, Client, LiveServer

pytestmark = pytest.mark.slow


def call(server: LiveServer, method: str, path: str, token: str, json: dict | None = None):
    return requests.request(method, server.base + path, json=json, timeout=WAIT,
                            headers={"Authorization": f"Bearer {token}"})


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[World]:
    work = tmp_path_factory.mktemp("audience")
    url = make_pg_database() if DB_KIND == "postgresql" else f"sqlite:///{work / 'audience.db'}"
    app = build_app(url, work / "seed-instance")
    w = sessions_world(app)
    server = LiveServer(work, url).start()
    try:
        tok = w.tokens
        # The mediator's session without the lawyer: only the petitioner and a respondent.
        r = call(server, "POST", f"/api/cases/{w.case_id}/sessions", tok["mediator"],
                 session_body(w, user_ids=[], invited_provider_ids=[], topic="只与信访人面谈"))
        assert r.status_code == 201, r.text
        w.private_session = r.json()["id"]
        consent_via(lambda path, token, body: call(server, "POST", path, token, body), w)
        # A need offered to the counsellor, with the ranking's reasons.
        r = call(server, "POST", f"/api/cases/{w.case_id}/referrals", tok["officer"],
                 {"need": "counselling"})
        assert r.status_code == 201, r.text
        w.counselling_referral = r.json()["id"]
        w.server, w.app = server, app
        yield w
    finally:
        server.stop()
        with app.app_context():
            db.engine.dispose()
        if DB_KIND == "postgresql":
            drop_pg_database(url)


def timeline(w: World, who: str) -> list[dict]:
    r = call(w.server, "GET", f"/api/cases/{w.case_id}/timeline?after=0&limit=1000", w.tokens[who])
    assert r.status_code == 200, r.text
    return r.json()["events"]


def _own_providers(w: World, who: str) -> set[int]:
    r = call(w.server, "GET", "/api/referrals?mine=true", w.tokens[who])
    assert r.status_code == 200, r.text
    return {x["provider"]["id"] for x in r.json()["items"]}


def not_for(w: World, who: str, events: list[dict]) -> list[dict]:
    """The events among these that the rule keeps from `who` (a provider's user)."""
    own = _own_providers(w, who)
    me = w.users[who].id
    return [e for e in events
            if (e["type"].startswith("referral.") and e["data"].get("provider_id") not in own)
            or (e["type"].startswith("session.") and me not in e["data"].get("audience", [me]))]


def test_the_world_has_what_the_rule_must_hide(live):
    everything = timeline(live, "officer")
    hidden = not_for(live, "lawyer", everything)
    assert {e["type"] for e in hidden} == {"session.scheduled", "referral.offered", "referral.accepted"}
    offers = [e for e in hidden if e["type"] == "referral.offered"]
    assert len(offers) == 2 and all(e["data"]["reasons"] for e in offers)  # mediator's, counsellor's


def test_the_timeline_api_shows_a_provider_only_its_own_referrals_and_its_sessions(live):
    everything = timeline(live, "officer")
    lawyer = timeline(live, "lawyer")
    assert not_for(live, "lawyer", lawyer) == []
    assert [e["seq"] for e in lawyer] == [e["seq"] for e in everything
                                          if e not in not_for(live, "lawyer", everything)]
    mine = [e for e in lawyer if e["type"].startswith("referral.")]
    assert mine and all(e["data"]["provider_id"] in _own_providers(live, "lawyer") for e in mine)
    assert not any(e["type"] == "session.scheduled" and e["data"]["session_id"] == live.private_session
                   for e in lawyer)
    # The session's own mediator is in it: they see it; but not the lawyer's referral.
    mediator = timeline(live, "mediator")
    assert any(e["type"] == "session.scheduled" and e["data"]["session_id"] == live.private_session
               for e in mediator)
    assert not_for(live, "mediator", mediator) == []
    # Staff see everything.
    assert len(timeline(live, "supervisor")) == len(everything)


def test_the_catch_up_on_subscribe_follows_the_same_rule(live):
    c = Client(live.server.base, live.tokens["lawyer"])
    try:
        ack = c.call("subscribe", {"case_id": live.case_id, "after": 0})
        assert ack["ok"] is True, ack
        assert [e["seq"] for e in ack["missed"]] == [e["seq"] for e in timeline(live, "lawyer")]
        assert not_for(live, "lawyer", ack["missed"]) == []
    finally:
        c.close()


def test_the_live_relay_follows_the_same_rule(live):
    tok, case_id = live.tokens, live.case_id
    lawyer, officer = Client(live.server.base, tok["lawyer"]), Client(live.server.base, tok["officer"])
    counsellor = Client(live.server.base, tok["counsellor"])  # its inbox only
    try:
        for c in (lawyer, officer):
            assert c.call("subscribe", {"case_id": case_id, "after": 10**6})["ok"] is True
        # The counsellor declines with a note to staff, the private session starts, then a
        # message for everyone: the relay delivers a case's events in order, so whatever the
        # lawyer was sent before the message is all it was sent of the first two.
        r = call(live.server, "POST", f"/api/referrals/{live.counselling_referral}/decline",
                 tok["counsellor"], {"reason": "other", "note": "与信访人家属相识，需回避"})
        assert r.status_code == 200, r.text
        r = call(live.server, "POST", f"/api/sessions/{live.private_session}/start", tok["mediator"], {})
        assert r.status_code == 200, r.text
        r = call(live.server, "POST", f"/api/cases/{case_id}/messages", tok["officer"], {"body": "各位好"})
        assert r.status_code == 201, r.text

        seen: list[dict] = []
        while not seen or seen[-1]["type"] != "message.posted":
            seen += lawyer.take(1, case_id)
        # (Nobody else can take the declined need: its escalation is for everyone on the case.)
        assert [e["type"] for e in seen] == ["case.escalated", "message.posted"]

        staff: list[dict] = []
        while not staff or staff[-1]["type"] != "message.posted":
            staff += officer.take(1, case_id)
        assert [e["type"] for e in staff] == ["referral.declined", "case.escalated", "session.started",
                                              "message.posted"]
        assert staff[0]["data"]["note"] == "与信访人家属相识，需回避"  # staff read the note
        # The provider it concerns gets its own decline in its inbox.
        mine = counsellor.take(1, case_id)[0]
        assert mine["type"] == "referral.declined" and mine["seq"] == staff[0]["seq"]
    finally:
        for c in (lawyer, officer, counsellor):
            c.close()
    # Read back later, the same: the note and the session's start are not the lawyer's.
    lawyer_later = timeline(live, "lawyer")
    assert not_for(live, "lawyer", lawyer_later) == []
    assert "与信访人家属相识" not in str(lawyer_later)
    assert {"referral.declined", "session.started"} <= {e["type"] for e in timeline(live, "officer")}


def test_the_case_page_follows_the_same_rule(live):
    page = PageClient(live.app).sign_in(live.users["lawyer"])
    html = page.text(f"/cases/{live.case_id}?part=case_timeline")
    shown = sorted(int(s) for s in re.findall(r'data-seq="(\d+)"', html))
    assert shown == sorted(e["seq"] for e in timeline(live, "lawyer"))[-len(shown):]
    hidden = {e["seq"] for e in not_for(live, "lawyer", timeline(live, "officer"))}
    assert hidden and not hidden & set(shown)
    officer = PageClient(live.app).sign_in(live.users["officer"])
    staff = re.findall(r'data-seq="(\d+)"', officer.text(f"/cases/{live.case_id}?part=case_timeline"))
    assert hidden <= {int(s) for s in staff}
