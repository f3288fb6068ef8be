"""Presence in session rooms, and the session chat's audience and rate.

Live: `mediation serve` in its own process (embedded: SQLite, no Redis) and real Socket.IO
clients: an officer watching the case sees a participant enter the room and leave it (by
disconnecting), someone not in the session is refused like a 404, an edit and a deletion of
a session message reach a participant who is not subscribed to the case (their inbox, as
the message did), and the (N+1)th message in the rate window is refused with a clear error.

In-process, on the suite's database (SQLite or PostgreSQL): a second tab announces nothing,
a heartbeat keeps a connection present, a row past the heartbeat window (its process died)
no longer counts and the sweep says that person left.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from mediation.extensions import db
from mediation.sessions import presence
from mediation.sessions.models import SessionPresence
from mediation.timeline import Event
from mediation.users import User
from tests.conftest import build_app
from tests.factories import consent_via, session_body
from tests.test_realtime_live import Client, LiveServer

RATE = 3  # messages per minute on the live server, so the limit is reached quickly


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[tuple[LiveServer, object]]:
    from tests.factories import sessions_world

    work = tmp_path_factory.mktemp("presence-live")
    url = f"sqlite:///{work / 'live.db'}"
    world = sessions_world(build_app(url, work / "seed-instance"))
    server = LiveServer(work, url, MEDIATION_MESSAGE_RATE=f"{RATE}/60").start()
    try:
        yield server, world
    finally:
        server.stop()


def started_session(server: LiveServer, w) -> int:
    r = server.post(f"/api/cases/{w.case_id}/sessions", w.tokens["mediator"], session_body(w))
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    consent_via(server.post, w)
    assert server.post(f"/api/sessions/{sid}/start", w.tokens["mediator"], {}).status_code == 200
    return sid


def next_of(client: Client, case_id: int, types: tuple[str, ...], session_id: int) -> dict:
    """The next envelope of these types about this session (others are skipped)."""
    while True:
        envelope = client.take(1, case_id)[0]
        if envelope["type"] in types and envelope["data"].get("session_id") == session_id:
            return envelope


@pytest.mark.slow
def test_the_officer_sees_a_participant_enter_and_leave_the_room(live):
    server, w = live
    sid = started_session(server, w)
    officer = Client(server.base, w.tokens["officer"])
    lawyer = Client(server.base, w.tokens["lawyer"])
    try:
        assert officer.call("subscribe", {"case_id": w.case_id, "after": 10**6})["ok"] is True
        ack = lawyer.call("join_session", {"session_id": sid})
        assert ack["ok"] is True and ack["entered"] is True
        assert [p["user_id"] for p in ack["present"]] == [w.users["lawyer"].id]
        assert ack["heartbeat"] > 0
        seen = next_of(officer, w.case_id, ("session.entered", "session.left"), sid)
        assert seen["type"] == "session.entered" and seen["data"]["user_id"] == w.users["lawyer"].id
        assert [p["user_id"] for p in seen["data"]["present"]] == [w.users["lawyer"].id]
        # The lawyer hears of it too, in their inbox (they are a participant).
        mine = next_of(lawyer, w.case_id, ("session.entered",), sid)
        assert mine["seq"] == seen["seq"]
        # A heartbeat (join again on the same connection) announces nothing new.
        again = lawyer.call("join_session", {"session_id": sid})
        assert again["ok"] is True and again["entered"] is False
        # The officer enters too: both present.
        both = officer.call("join_session", {"session_id": sid})
        assert {p["user_id"] for p in both["present"]} == {w.users["lawyer"].id, w.users["officer"].id}
        next_of(officer, w.case_id, ("session.entered",), sid)
        # The lawyer closes the page: the connection goes, and so do they.
        lawyer.sio.disconnect()
        gone = next_of(officer, w.case_id, ("session.entered", "session.left"), sid)
        assert gone["type"] == "session.left" and gone["data"]["user_id"] == w.users["lawyer"].id
        assert gone["data"]["reason"] == "disconnected"
        assert [p["user_id"] for p in gone["data"]["present"]] == [w.users["officer"].id]
        # Leaving explicitly works as well.
        left = officer.call("leave_session", {"session_id": sid})
        assert left["ok"] is True and left["left"] is True and left["present"] == []
    finally:
        officer.close()
        lawyer.close()


@pytest.mark.slow
def test_someone_not_in_the_session_is_refused_like_a_404(live):
    server, w = live
    sid = started_session(server, w)
    for who in ("counsellor", "stranger", "supervisor", "other_mediator"):
        c = Client(server.base, w.tokens[who])
        try:
            ack = c.call("join_session", {"session_id": sid})
            assert ack["ok"] is False and ack["code"] == 404 and ack["error"] == "session not found", who
        finally:
            c.close()
    c = Client(server.base, w.tokens["lawyer"])
    try:
        assert c.call("join_session", {"session_id": 10**6})["code"] == 404
        assert c.call("join_session", {"session_id": "x"})["code"] == 422
    finally:
        c.close()


@pytest.mark.slow
def test_edits_and_deletions_of_a_session_message_reach_a_participant(live):
    server, w = live
    sid = started_session(server, w)
    mediator = Client(server.base, w.tokens["mediator"])
    lawyer = Client(server.base, w.tokens["lawyer"])  # not subscribed: its inbox only
    try:
        missing = mediator.call("post_message", {"case_id": w.case_id, "channel": "session", "body": "x"})
        assert missing["ok"] is False and missing["code"] == 422 and "session_id" in missing["errors"]
        ack = mediator.call("post_message", {"case_id": w.case_id, "session_id": sid, "channel": "session",
                                             "body": "请双方陈述"})
        assert ack["ok"] is True and ack["message"]["session_id"] == sid
        posted = next_of(lawyer, w.case_id, ("session.message.posted",), sid)
        assert posted["seq"] == ack["seq"] and posted["data"]["body"] == "请双方陈述"
        edit = mediator.call("edit_message", {"case_id": w.case_id, "seq": ack["seq"],
                                              "body": "请双方依次陈述"})
        assert edit["ok"] is True
        edited = next_of(lawyer, w.case_id, ("session.message.edited",), sid)
        assert edited["data"]["message_seq"] == ack["seq"] and edited["data"]["body"] == "请双方依次陈述"
        assert w.users["lawyer"].id in edited["data"]["audience"]
        assert mediator.call("delete_message", {"case_id": w.case_id, "seq": ack["seq"]})["ok"] is True
        deleted = next_of(lawyer, w.case_id, ("session.message.deleted",), sid)
        assert deleted["data"]["message_seq"] == ack["seq"]
        # And the room's history, as the lawyer reads it, shows the message withdrawn.
        thread = lawyer.call("subscribe", {"case_id": w.case_id, "after": ack["seq"] - 1})
        assert [e["type"] for e in thread["missed"] if e["data"].get("session_id") == sid] == [
            "session.message.posted", "session.message.edited", "session.message.deleted"]
    finally:
        mediator.close()
        lawyer.close()


@pytest.mark.slow
def test_session_chat_refuses_the_message_beyond_the_rate(live):
    server, w = live
    sid = started_session(server, w)
    officer = Client(server.base, w.tokens["officer"])  # speaks nowhere else in this module
    try:
        body = {"case_id": w.case_id, "session_id": sid, "channel": "session"}
        for i in range(RATE):
            assert officer.call("post_message", {**body, "body": f"第{i + 1}条"})["ok"] is True
        refused = officer.call("post_message", {**body, "body": "一条太多"})
        assert refused["ok"] is False and refused["code"] == 429
        assert refused["error"] == f"at most {RATE} messages in 60 seconds; try again shortly"
        assert refused["retry_after"] == 60
        # The session API counts against the same rate.
        r = server.post(f"/api/sessions/{sid}/messages", w.tokens["officer"], {"body": "API 也不行"})
        assert r.status_code == 429
    finally:
        officer.close()


# --- in-process, on the suite's database ---------------------------------------------------

def entered_and_left(case_id: int, session_id: int) -> list[tuple[str, int, str | None]]:
    rows = db.session.execute(sa.select(Event).where(
        Event.case_id == case_id, Event.type.in_(presence.EVENTS)).order_by(Event.seq)).scalars()
    return [(e.type, e.payload["user_id"], e.payload.get("reason")) for e in rows
            if e.payload["session_id"] == session_id]


def test_tabs_heartbeats_and_a_dead_process(app, w):
    r = w.api.post(f"/api/cases/{w.case_id}/sessions", w.users["mediator"], session_body(w))
    sid = r.get_json()["id"]
    with app.app_context():
        lawyer = db.session.get(User, w.users["lawyer"].id)
        mediator = db.session.get(User, w.users["mediator"].id)
        assert presence.enter(lawyer, sid, "tab-1")["entered"] is True
        assert presence.enter(lawyer, sid, "tab-2")["entered"] is False  # a second tab
        assert presence.enter(mediator, sid, "m-1")["entered"] is True
        assert [p["user_id"] for p in presence.present_in(sid)] == [lawyer.id, mediator.id]
        # One tab closes: still there. Both close: gone.
        assert presence.disconnected("tab-1") == 0
        assert presence.disconnected("tab-2") == 1
        assert [p["user_id"] for p in presence.present_in(sid)] == [mediator.id]
        # The mediator's process dies: no goodbye. Within the window they still count ...
        window = presence.stale_seconds()
        db.session.execute(sa.update(SessionPresence).values(
            seen_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=window - 10)))
        db.session.commit()
        assert [p["user_id"] for p in presence.present_in(sid)] == [mediator.id]
        # ... a heartbeat would have kept them; past the window they are not present any more,
        db.session.execute(sa.update(SessionPresence).values(
            seen_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=window + 1)))
        db.session.commit()
        assert presence.present_in(sid) == []
        # and the sweep removes the row and says so.
        assert presence.sweep() == 1
        assert db.session.execute(sa.select(sa.func.count()).select_from(SessionPresence)).scalar_one() == 0
        assert presence.sweep() == 0
        assert entered_and_left(w.case_id, sid) == [
            ("session.entered", lawyer.id, None), ("session.entered", mediator.id, None),
            ("session.left", lawyer.id, "disconnected"), ("session.left", mediator.id, "timed_out")]
        # Coming back after being swept away is an arrival again.
        assert presence.enter(mediator, sid, "m-2")["entered"] is True
        db.session.remove()


def test_a_heartbeat_keeps_a_connection_present(app, w):
    r = w.api.post(f"/api/cases/{w.case_id}/sessions", w.users["mediator"], session_body(w))
    sid = r.get_json()["id"]
    with app.app_context():
        lawyer = db.session.get(User, w.users["lawyer"].id)
        presence.enter(lawyer, sid, "tab")
        old = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=presence.stale_seconds() - 5)
        db.session.execute(sa.update(SessionPresence).values(seen_at=old))
        db.session.commit()
        assert presence.enter(lawyer, sid, "tab")["entered"] is False  # the heartbeat
        db.session.remove()
        seen = db.session.execute(sa.select(SessionPresence.seen_at)).scalar_one()
        seen = seen if seen.tzinfo else seen.replace(tzinfo=dt.UTC)
        assert seen > old + dt.timedelta(seconds=4)
        assert presence.sweep() == 0
        db.session.remove()


def test_presence_is_refused_once_the_session_is_over_and_to_watchers(app, w):
    r = w.api.post(f"/api/cases/{w.case_id}/sessions", w.users["mediator"], session_body(w))
    sid = r.get_json()["id"]
    w.api.post(f"/api/sessions/{sid}/cancel", w.users["mediator"], {"reason": "改期另议"})
    with app.app_context():
        from mediation.errors import Conflict, NotFound

        lawyer = db.session.get(User, w.users["lawyer"].id)
        with pytest.raises(Conflict) as refused:
            presence.enter(lawyer, sid, "tab")
        assert refused.value.extra["current_state"] == "cancelled"
        supervisor = db.session.get(User, w.users["supervisor"].id)  # sees the session, is not in it
        with pytest.raises(NotFound):
            presence.enter(supervisor, sid, "tab-s")
        db.session.remove()
