"""Messaging through the API: the case thread, internal notes, validation, the rate limit,
edits and deletions as new events, read markers; and who the relay sends each event to."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from mediation import timeline
from mediation.cases.models import Case
from mediation.extensions import db
from mediation.registry import registry
from realtime import relay


@pytest.fixture
def officer(api):
    return api.user("case_officer", "510104")


@pytest.fixture
def case_id(api, officer):
    return api.case(officer)["id"]


@pytest.fixture
def mediator(api, case_id):
    """A provider's user who sees the case, as an accepted referral would let them."""
    user = api.user("mediator")
    rule = lambda u: sa.select(sa.literal(case_id)) if u.id == user.id else None  # noqa: E731
    with registry(api.app).case_access.scoped("test.mediator", rule):
        yield user


def post(api, user, case_id, body, channel=None):
    payload = {"body": body} | ({"channel": channel} if channel else {})
    return api.post(f"/api/cases/{case_id}/messages", user, payload)


def thread(api, user, case_id, channel="case"):
    r = api.get(f"/api/cases/{case_id}/messages?channel={channel}", user)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def event_types(api, user, case_id):
    return [e["type"] for e in api.get(f"/api/cases/{case_id}/timeline", user).get_json()["events"]]


def test_a_message_is_a_timeline_event_and_the_thread_shows_it(api, officer, case_id):
    r = post(api, officer, case_id, "  请于周五前补充材料  ")
    assert r.status_code == 201
    msg = r.get_json()
    assert msg["body"] == "请于周五前补充材料" and msg["channel"] == "case"
    assert msg["author_id"] == officer.id and msg["deleted"] is False
    events = api.get(f"/api/cases/{case_id}/timeline", officer).get_json()["events"]
    assert (events[-1]["seq"], events[-1]["type"]) == (msg["seq"], "message.posted")
    assert events[-1]["data"] == {"channel": "case", "body": "请于周五前补充材料"}
    got = thread(api, officer, case_id)
    assert [m["seq"] for m in got["messages"]] == [msg["seq"]]
    assert got["read_seq"] == msg["seq"] and got["unread"] == 0  # one's own message is read


@pytest.mark.parametrize("channel", ["case", "internal"])
def test_a_post_answers_the_message_as_the_thread_reads_it_back(api, officer, case_id, channel):
    posted = post(api, officer, case_id, " 第一条 ", channel).get_json()
    assert posted["author"] == officer.display_name and posted["edits"] == 0
    read = [m for m in thread(api, officer, case_id, channel)["messages"] if m["seq"] == posted["seq"]]
    assert read == [posted]


@pytest.mark.parametrize("payload,field", [
    ({"body": ""}, "body"),
    ({"body": "   \n "}, "body"),
    ({"body": "长" * 4001}, "body"),
    ({}, "body"),
    ({"body": "hi", "channel": "gossip"}, "channel"),
    ({"body": "hi", "extra": 1}, "extra"),
])
def test_invalid_messages_are_422_with_the_field(api, officer, case_id, payload, field):
    r = api.post(f"/api/cases/{case_id}/messages", officer, payload)
    assert r.status_code == 422 and field in r.get_json()["errors"]
    assert "message.posted" not in event_types(api, officer, case_id)


def test_messages_need_a_visible_case_and_a_token(api, officer, case_id):
    assert post(api, officer, 999999, "hi").status_code == 404
    stranger = api.user("case_officer", "110101")
    assert post(api, stranger, case_id, "hi").status_code == 404
    assert api.get(f"/api/cases/{case_id}/messages", stranger).status_code == 404
    assert api.post(f"/api/cases/{case_id}/messages", None, {"body": "hi"}).status_code == 401


def test_the_rate_limit_is_per_user(api, app, officer, case_id, monkeypatch):
    monkeypatch.setitem(app.config, "MEDIATION_MESSAGE_RATE", "3/60")
    assert [post(api, officer, case_id, f"m{i}").status_code for i in range(3)] == [201] * 3
    r = post(api, officer, case_id, "one too many")
    assert r.status_code == 429 and r.get_json()["retry_after"] == 60
    colleague = api.user("case_officer", "5101")
    assert post(api, colleague, case_id, "mine still goes").status_code == 201


def test_edits_and_deletions_are_new_events_and_history_stays(api, app, officer, case_id):
    seq = post(api, officer, case_id, "first text").get_json()["seq"]
    r = api.patch(f"/api/cases/{case_id}/messages/{seq}", officer, {"body": "second text"})
    assert r.status_code == 200
    assert (r.get_json()["body"], r.get_json()["edits"]) == ("second text", 1)
    colleague = api.user("case_officer", "5101")
    assert api.patch(f"/api/cases/{case_id}/messages/{seq}", colleague,
                     {"body": "not mine"}).status_code == 403
    assert api.patch(f"/api/cases/{case_id}/messages/{seq}", officer, {"body": " "}).status_code == 422
    # An officer of the case may withdraw anyone's message (moderation).
    r = api.call("DELETE", f"/api/cases/{case_id}/messages/{seq}", colleague)
    assert r.status_code == 200 and r.get_json()["deleted"] is True and r.get_json()["body"] is None
    assert api.patch(f"/api/cases/{case_id}/messages/{seq}", officer,
                     {"body": "too late"}).status_code == 409
    assert thread(api, officer, case_id)["messages"][0]["deleted"] is True
    events = api.get(f"/api/cases/{case_id}/timeline", officer).get_json()["events"]
    posted = next(e for e in events if e["seq"] == seq)
    assert posted["data"]["body"] == "first text"  # never rewritten
    assert [e["type"] for e in events if e["seq"] > seq] == ["message.edited", "message.deleted"]
    assert [e["data"]["message_seq"] for e in events if e["seq"] > seq] == [seq, seq]
    assert api.patch(f"/api/cases/{case_id}/messages/1", officer, {"body": "x"}).status_code == 404
    with app.app_context():
        assert timeline.verify(case_id)[1] == []
        db.session.remove()


def test_read_markers_are_per_user_and_only_move_forward(api, officer, case_id):
    colleague = api.user("case_officer", "5101")
    seqs = [post(api, officer, case_id, f"m{i}").get_json()["seq"] for i in range(3)]
    got = thread(api, colleague, case_id)
    assert (got["read_seq"], got["unread"]) == (0, 3)
    marker = f"/api/cases/{case_id}/read-marker"
    assert api.put(marker, colleague, {"seq": seqs[1]}).get_json() == {"seq": seqs[1]}
    assert api.put(marker, colleague, {"seq": seqs[0]}).get_json() == {"seq": seqs[1]}  # not back
    assert api.get(marker, colleague).get_json() == {"seq": seqs[1]}
    assert thread(api, colleague, case_id)["unread"] == 1
    assert api.put(marker, colleague, {"seq": seqs[2] + 1}).status_code == 422
    assert api.put(marker, colleague, {"seq": -1}).status_code == 422
    assert api.get(marker, officer).get_json() == {"seq": seqs[2]}  # their own, apart


def test_internal_notes_are_for_officials_only(api, officer, case_id, mediator):
    assert post(api, mediator, case_id, "调解员到场").status_code == 201
    assert post(api, officer, case_id, "内部：当事人情绪不稳", "internal").status_code == 201
    assert post(api, mediator, case_id, "let me in", "internal").status_code == 403
    assert api.get(f"/api/cases/{case_id}/messages?channel=internal", mediator).status_code == 403
    assert [m["body"] for m in thread(api, officer, case_id, "internal")["messages"]] == [
        "内部：当事人情绪不稳"]
    assert "internal_note.posted" in event_types(api, officer, case_id)
    seen = api.get(f"/api/cases/{case_id}/timeline", mediator).get_json()
    assert "internal_note.posted" not in [e["type"] for e in seen["events"]]
    assert "message.posted" in [e["type"] for e in seen["events"]]
    assert "内部" not in str(seen)
    # The mediator's unread count leaves out what they may not see.
    assert thread(api, mediator, case_id)["unread"] == 0


def test_the_timeline_pages_over_hidden_events(api, officer, case_id, mediator):
    for i in range(5):
        post(api, officer, case_id, f"note {i}", "internal")
    post(api, officer, case_id, "for everyone")
    r = api.get(f"/api/cases/{case_id}/timeline?after=2&limit=1", mediator).get_json()
    assert [e["data"]["body"] for e in r["events"]] == ["for everyone"]
    assert r["has_more"] is False and r["last_seq"] == 8


def test_the_relay_sends_each_event_to_those_who_may_see_it(api, app, officer, case_id, mediator,
                                                           monkeypatch):
    post(api, officer, case_id, "hello")
    post(api, officer, case_id, "internal", "internal")
    # Say both events concern both users (as a recipient rule would): the audience decides.
    monkeypatch.setattr(relay, "event_recipients", lambda session, envelope: {mediator.id, officer.id})
    with app.app_context():
        case = db.session.get(Case, case_id)
        by_type = {e.type: e.envelope() for e in timeline.events_after(case_id)}
        public = relay.rooms_for(by_type["message.posted"], case, db.session)
        internal = relay.rooms_for(by_type["internal_note.posted"], case, db.session)
        db.session.remove()
    assert sorted(public) == sorted([f"case:{case_id}", "region:51", "region:5101", "region:510104",
                                     f"user:{mediator.id}", f"user:{officer.id}"])
    assert sorted(internal) == sorted([f"case:{case_id}#officials", "region:51#officials",
                                       "region:5101#officials", "region:510104#officials",
                                       f"user:{officer.id}"])


def test_the_relay_loads_the_case_only_for_an_event_that_names_someone(api, app, officer, case_id,
                                                                       mediator):
    post(api, officer, case_id, "hello")
    post(api, officer, case_id, f"@{mediator.username} please look")
    loads: list[int] = []

    def load() -> Case:
        loads.append(1)
        return db.session.get(Case, case_id)

    with app.app_context():
        plain, named = [e.envelope() for e in timeline.events_after(case_id)
                        if e.type == "message.posted"]
        rooms = relay._rooms(plain, case_id, "510104", db.session, load)
        assert loads == []  # the id and the region are all its rooms need
        assert sorted(rooms) == sorted([f"case:{case_id}", "region:51", "region:5101", "region:510104"])
        assert f"user:{mediator.id}" in relay._rooms(named, case_id, "510104", db.session, load)
        assert loads == [1]  # the audience's check for the named user needs the case
        db.session.remove()


def test_the_thread_reads_only_the_page_it_returns(api, app, officer, case_id, mediator):
    """Keyset pagination: the events loaded for a page are the page's messages (one more,
    to know there are more) and the edits and deletions naming them, whatever follows."""
    from mediation.timeline import Event

    monkey_rate = app.config.get("MEDIATION_MESSAGE_RATE")
    app.config["MEDIATION_MESSAGE_RATE"] = "1000/60"
    try:
        seqs = [post(api, officer, case_id, f"第{i}条").get_json()["seq"] for i in range(60)]
    finally:
        app.config["MEDIATION_MESSAGE_RATE"] = monkey_rate
    api.patch(f"/api/cases/{case_id}/messages/{seqs[1]}", officer, {"body": "改过"})
    api.call("DELETE", f"/api/cases/{case_id}/messages/{seqs[2]}", officer)
    api.patch(f"/api/cases/{case_id}/messages/{seqs[50]}", officer, {"body": "后面的改动"})
    loaded: list[int] = []
    listener = lambda target, context: loaded.append(target.seq)  # noqa: E731
    sa.event.listen(Event, "load", listener)
    try:
        r = api.get(f"/api/cases/{case_id}/messages?limit=5", mediator)
    finally:
        sa.event.remove(Event, "load", listener)
    page = r.get_json()
    assert [m["seq"] for m in page["messages"]] == seqs[:5] and page["has_more"] is True
    assert page["messages"][1]["body"] == "改过" and page["messages"][2]["deleted"] is True
    # 6 posted (the page and one more) + the edit and the deletion of the page's messages.
    assert len(loaded) == 8, loaded
    assert page["unread"] == 59  # by someone else, after no marker, one deleted: in SQL
    last = api.get(f"/api/cases/{case_id}/messages?after={seqs[-3]}&limit=5", mediator).get_json()
    assert [m["seq"] for m in last["messages"]] == seqs[-2:] and last["has_more"] is False
