"""Caucus (背靠背调解): private channels in a session between the mediator and one side.
Through the API here; over real Socket.IO connections in `test_sessions_caucus_live.py`."""

from __future__ import annotations

import pytest

from tests.factories import call, consent, session_body


@pytest.fixture
def room(app, w):
    """A session in progress with the lawyer and the deputy in it."""
    r = call(w, "POST", f"/api/cases/{w.case_id}/sessions", "mediator", session_body(w))
    assert r.status_code == 201, r.get_json()
    sid = r.get_json()["id"]
    consent(w)
    assert call(w, "POST", f"/api/sessions/{sid}/start", "mediator").status_code == 200
    return sid


def test_a_caucus_is_the_mediator_and_one_side_only(app, w, room):
    lawyer, deputy = w.users["lawyer"].id, w.users["deputy"].id
    r = call(w, "POST", f"/api/sessions/{room}/caucus/{lawyer}/messages", "mediator",
             {"body": "私下说：对方底线是四万"})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["channel"] == f"caucus:{lawyer}"
    reply = call(w, "POST", f"/api/sessions/{room}/caucus/{lawyer}/messages", "lawyer",
                 {"body": "我方可接受"})
    assert reply.status_code == 201
    public = call(w, "POST", f"/api/sessions/{room}/messages", "mediator", {"body": "全体：休会十分钟"})
    assert public.status_code == 201
    listed = call(w, "GET", f"/api/sessions/{room}/caucus/{lawyer}/messages", "lawyer").get_json()
    assert [m["body"] for m in listed] == ["私下说：对方底线是四万", "我方可接受"]
    # The other side, the officials watching and outsiders: no such channel.
    for who in ("deputy", "officer", "supervisor", "other_mediator"):
        assert call(w, "GET", f"/api/sessions/{room}/caucus/{lawyer}/messages", who).status_code == 404, who
        assert call(w, "POST", f"/api/sessions/{room}/caucus/{lawyer}/messages", who,
                    {"body": "插话"}).status_code == 404, who
    # Not a side of this session, or the mediator himself: no channel either.
    for side in (w.users["counsellor"].id, w.users["mediator"].id):
        assert call(w, "POST", f"/api/sessions/{room}/caucus/{side}/messages", "mediator",
                    {"body": "x"}).status_code == 404
    # The other side's own channel is theirs.
    assert call(w, "POST", f"/api/sessions/{room}/caucus/{deputy}/messages", "mediator",
                {"body": "与代表单独谈"}).status_code == 201
    # The timeline and the room's chat show nothing of it to the other side or the officials.
    # (the invited deputy sees the session, not the case)
    assert call(w, "GET", f"/api/cases/{w.case_id}/timeline", "deputy").status_code == 404
    events = call(w, "GET", f"/api/cases/{w.case_id}/timeline", "officer").get_json()["events"]
    bodies = [e["data"].get("body") for e in events]
    assert "私下说：对方底线是四万" not in bodies and "我方可接受" not in bodies
    assert "session.caucus.posted" not in {e["type"] for e in events}
    chat = call(w, "GET", f"/api/sessions/{room}/messages", "officer").get_json()
    assert [m["body"] for m in chat] == ["全体：休会十分钟"]
    lawyer_tl = call(w, "GET", f"/api/cases/{w.case_id}/timeline", "lawyer").get_json()["events"]
    assert "与代表单独谈" not in [e["data"].get("body") for e in lawyer_tl]


def test_the_minutes_name_each_notes_channel(app, w, room):
    lawyer, deputy = w.users["lawyer"].id, w.users["deputy"].id
    call(w, "POST", f"/api/sessions/{room}/messages", "mediator", {"body": "全体：开始"})
    call(w, "POST", f"/api/sessions/{room}/caucus/{lawyer}/messages", "mediator", {"body": "与律师"})
    call(w, "POST", f"/api/sessions/{room}/caucus/{deputy}/messages", "mediator", {"body": "代表意见"})
    ended = call(w, "POST", f"/api/sessions/{room}/end", "mediator", {"minutes": "达成初步共识"})
    assert ended.status_code == 200
    mediator = call(w, "GET", f"/api/sessions/{room}/minutes", "mediator").get_json()
    assert mediator["minutes"] == "达成初步共识"
    assert [(n["channel"], n["body"]) for n in mediator["notes"]] == [
        ("session", "全体：开始"), (f"caucus:{lawyer}", "与律师"), (f"caucus:{deputy}", "代表意见")]
    assert mediator["notes"][1]["with"] and mediator["notes"][0]["with"] is None
    lawyer_view = call(w, "GET", f"/api/sessions/{room}/minutes", "lawyer").get_json()
    assert [n["channel"] for n in lawyer_view["notes"]] == ["session", f"caucus:{lawyer}"]
    officer = call(w, "GET", f"/api/sessions/{room}/minutes", "officer").get_json()
    assert [n["channel"] for n in officer["notes"]] == ["session"]
    assert call(w, "GET", f"/api/sessions/{room}/minutes", "other_mediator").status_code == 404
    # After the session: no more caucus.
    assert call(w, "POST", f"/api/sessions/{room}/caucus/{lawyer}/messages", "mediator",
                {"body": "会后"}).status_code == 409
