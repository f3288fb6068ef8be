"""Mediation sessions through the API: the lifecycle legal and illegal, participants,
attendance and minutes, and who may see and do what (404 for those not in the room)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from mediation import timeline
from mediation.events import event_recipients
from mediation.extensions import db
from mediation.timeline import Event
from tests.factories import call, consent, later, session_body


def schedule(w, who: str = "mediator", **overrides):
    r = call(w, "POST", f"/api/cases/{w.case_id}/sessions", who, session_body(w, **overrides))
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def types(app, case_id: int, prefix: str) -> list[str]:
    with app.app_context():
        return list(db.session.execute(sa.select(Event.type).where(
            Event.case_id == case_id, Event.type.startswith(prefix)).order_by(Event.seq)).scalars())


def test_a_session_from_scheduled_to_ended_with_attendance_and_minutes(app, w):
    s = schedule(w)
    assert s["status"] == "scheduled" and s["mediator_id"] == w.users["mediator"].id
    kinds = [(p["kind"], p["name"]) for p in s["participants"]]
    assert ("petitioner", "张三") in kinds and ("respondent", "李科长") in kinds
    assert ("invited", "王代表") in kinds and kinds[0][0] == "mediator"
    assert any(p["kind"] == "provider" and p["user_id"] == w.users["lawyer"].id for p in s["participants"])
    sid = s["id"]
    consent(w)  # people's mediation: the petitioner's signed consent, recorded by the officer
    started = call(w, "POST", f"/api/sessions/{sid}/start", "mediator")
    assert started.status_code == 200 and started.get_json()["status"] == "in_progress"
    joined = call(w, "POST", f"/api/sessions/{sid}/join", "lawyer").get_json()
    assert [p["attended"] for p in joined["participants"] if p["user_id"] == w.users["lawyer"].id] == [True]
    petitioner = next(p for p in s["participants"] if p["kind"] == "petitioner")
    r = call(w, "POST", f"/api/sessions/{sid}/attendance", "officer",
             {"attendance": [{"participant_id": petitioner["id"], "attended": True}]})
    assert r.status_code == 200
    ended = call(w, "POST", f"/api/sessions/{sid}/end", "mediator", {"minutes": "双方陈述意见，同意调解。"})
    assert ended.status_code == 200
    body = ended.get_json()
    assert body["status"] == "ended" and body["minutes"] == "双方陈述意见，同意调解。"
    assert body["started_at"] and body["ended_at"]
    assert types(app, w.case_id, "session.") == [
        "session.scheduled", "session.started", "session.joined", "session.attendance_recorded",
        "session.ended"]


def test_postponed_sessions_get_a_new_time_and_can_still_start(w):
    s = schedule(w)
    new_time = later(3)
    r = call(w, "POST", f"/api/sessions/{s['id']}/postpone", "officer",
             {"scheduled_at": new_time, "reason": "当事人生病"})
    assert r.status_code == 200
    body = r.get_json()
    assert body["status"] == "postponed" and body["postponements"] == 1
    assert body["scheduled_at"][:16] == new_time[:16]
    again = call(w, "POST", f"/api/sessions/{s['id']}/postpone", "mediator",
                 {"scheduled_at": later(5), "reason": "再次延期"}).get_json()
    assert again["postponements"] == 2
    consent(w)
    assert call(w, "POST", f"/api/sessions/{s['id']}/start", "mediator").get_json()["status"] == "in_progress"


@pytest.mark.parametrize("setup, action, body, state", [
    ([], "end", {"minutes": "x"}, "scheduled"),
    (["start"], "start", None, "in_progress"),
    (["start"], "cancel", {"reason": "x"}, "in_progress"),
    (["start"], "postpone", {"scheduled_at": "LATER", "reason": "x"}, "in_progress"),
    (["start", "end"], "start", None, "ended"),
    (["start", "end"], "end", {"minutes": "again"}, "ended"),
    (["cancel"], "start", None, "cancelled"),
    (["cancel"], "postpone", {"scheduled_at": "LATER", "reason": "x"}, "cancelled"),
])
def test_illegal_moves_are_conflicts_with_the_current_state(w, setup, action, body, state):
    sid = schedule(w)["id"]
    consent(w)
    bodies = {"end": {"minutes": "笔录"}, "cancel": {"reason": "取消"}, "start": None}
    for step in setup:
        assert call(w, "POST", f"/api/sessions/{sid}/{step}", "mediator", bodies[step]).status_code == 200
    if body and body.get("scheduled_at") == "LATER":
        body = {**body, "scheduled_at": later(2)}
    r = call(w, "POST", f"/api/sessions/{sid}/{action}", "mediator", body)
    assert r.status_code == 409, r.get_json()
    assert r.get_json()["current_state"] == state


def test_ending_needs_minutes_and_attendance_waits_for_the_start(w):
    sid = schedule(w)["id"]
    first = call(w, "GET", f"/api/sessions/{sid}", "mediator").get_json()["participants"][0]["id"]
    r = call(w, "POST", f"/api/sessions/{sid}/attendance", "mediator",
             {"attendance": [{"participant_id": first, "attended": True}]})
    assert r.status_code == 409 and r.get_json()["current_state"] == "scheduled"
    consent(w)
    call(w, "POST", f"/api/sessions/{sid}/start", "mediator")
    r = call(w, "POST", f"/api/sessions/{sid}/end", "mediator", {"minutes": "   "})
    assert r.status_code == 422 and "minutes" in r.get_json()["errors"]
    r = call(w, "POST", f"/api/sessions/{sid}/attendance", "mediator",
             {"attendance": [{"participant_id": 999999, "attended": True}]})
    assert r.status_code == 422


def test_scheduling_without_a_mediator_holding_an_accepted_referral_is_422(w):
    r = call(w, "POST", f"/api/cases/{w.bare_case_id}/sessions", "officer",
             session_body(w, petitioner_ids=[], user_ids=[], invited_provider_ids=[]))
    assert r.status_code == 422 and "mediator_id" in r.get_json()["errors"]
    r = call(w, "POST", f"/api/cases/{w.case_id}/sessions", "officer",
             session_body(w, mediator_id=w.users["other_mediator"].id))
    assert r.status_code == 422 and "mediator_id" in r.get_json()["errors"]
    s = schedule(w, "officer", mediator_id=w.users["mediator"].id)
    assert s["mediator_id"] == w.users["mediator"].id


@pytest.mark.parametrize("field, value", [
    ("petitioner_ids", "BARE_PETITIONER"),
    ("user_ids", "COUNSELLOR"),  # a counsellor with no referral on the case
    ("invited_provider_ids", "LAWYER_PROVIDER"),  # not a deputy, CPPCC member or worthy
    ("lead_official", True),  # the case has none yet
    ("scheduled_at", "2020-01-01T09:00:00+00:00"),
    ("place", ""),
])
def test_participants_and_time_are_checked(w, field, value):
    value = {"BARE_PETITIONER": [w.bare_petitioner_id], "COUNSELLOR": [w.users["counsellor"].id],
             "LAWYER_PROVIDER": [w.lawyer_provider_id]}.get(value, value) if isinstance(value, str) \
        else value
    r = call(w, "POST", f"/api/cases/{w.case_id}/sessions", "mediator", session_body(w, **{field: value}))
    assert r.status_code == 422, r.get_json()
    assert field in r.get_json()["errors"]


def test_an_online_link_will_do_instead_of_a_place(w):
    s = schedule(w, place="", online_link="https://meet.example.cn/room/42")
    assert s["online_link"] == "https://meet.example.cn/room/42"


def test_who_sees_sessions(w):
    sid = schedule(w, user_ids=[])["id"]  # the lawyer is not invited this time
    path = f"/api/sessions/{sid}"
    for who in ("mediator", "officer", "supervisor"):
        assert call(w, "GET", path, who).status_code == 200, who
    for who in ("lawyer", "stranger", "other_mediator", "evaluator", "counsellor"):
        assert call(w, "GET", path, who).status_code == 404, who
    listed = {who: [s["id"] for s in call(w, "GET", f"/api/cases/{w.case_id}/sessions", who).get_json()]
              for who in ("mediator", "officer", "lawyer")}
    assert listed == {"mediator": [sid], "officer": [sid], "lawyer": []}
    assert call(w, "GET", f"/api/cases/{w.case_id}/sessions", "stranger").status_code == 404
    assert call(w, "GET", "/api/sessions/999999", "officer").status_code == 404
    assert w.api.get(path).status_code == 401


@pytest.mark.parametrize("action, body", [
    ("start", None), ("end", {"minutes": "x"}), ("cancel", {"reason": "x"}),
    ("postpone", {"scheduled_at": "LATER", "reason": "x"}), ("join", None),
    ("attendance", {"attendance": [{"participant_id": 1, "attended": True}]}),
])
def test_every_session_action_is_404_to_those_outside_and_403_to_guests(w, action, body):
    sid = schedule(w)["id"]
    if body and body.get("scheduled_at") == "LATER":
        body = {**body, "scheduled_at": later(2)}
    for who in ("stranger", "other_mediator", "evaluator", "counsellor"):
        r = call(w, "POST", f"/api/sessions/{sid}/{action}", who, body)
        assert r.status_code == 404, (who, r.get_json())
    if action != "join":
        # The invited lawyer is in the room but does not run it.
        r = call(w, "POST", f"/api/sessions/{sid}/{action}", "lawyer", body)
        assert r.status_code == 403, r.get_json()
    else:
        # An official watching is not in the room: joining is not theirs.
        consent(w)
        assert call(w, "POST", f"/api/sessions/{sid}/start", "mediator").status_code == 200
        assert call(w, "POST", f"/api/sessions/{sid}/join", "supervisor").status_code == 404


def test_scheduling_is_for_the_officer_or_the_mediator(w):
    for who, status in (("lawyer", 403), ("supervisor", 403), ("stranger", 404),
                        ("other_mediator", 404), ("evaluator", 404)):
        r = call(w, "POST", f"/api/cases/{w.case_id}/sessions", who, session_body(w))
        assert r.status_code == status, (who, r.get_json())


def test_invitations_name_every_participant_with_an_account(app, w):
    s = schedule(w)
    timeline.drain()
    with app.app_context():
        ev = db.session.execute(sa.select(Event).where(
            Event.case_id == w.case_id, Event.type == "session.scheduled")).scalar_one()
        who = event_recipients(db.session, ev.envelope())
    assert who == {w.users["mediator"].id, w.users["lawyer"].id, w.users["deputy"].id}
    assert s["id"] == ev.payload["session_id"]


def test_the_session_room_chat_is_for_its_participants_and_the_officials(app, w):
    sid = schedule(w)["id"]
    path = f"/api/sessions/{sid}/messages"
    r = call(w, "POST", path, "lawyer", {"body": "早到了"})
    assert r.status_code == 409 and r.get_json()["current_state"] == "scheduled"
    consent(w)
    call(w, "POST", f"/api/sessions/{sid}/start", "mediator")
    said = call(w, "POST", path, "lawyer", {"body": "  依据土地管理法第四十八条  "})
    assert said.status_code == 201 and said.get_json()["body"] == "依据土地管理法第四十八条"
    assert call(w, "POST", path, "officer", {"body": "请双方冷静"}).status_code == 201
    assert call(w, "POST", path, "mediator", {"body": "   "}).status_code == 422
    assert call(w, "POST", path, "supervisor", {"body": "旁听"}).status_code == 403  # watches only
    for who in ("stranger", "counsellor", "other_mediator"):
        assert call(w, "POST", path, who, {"body": "x"}).status_code == 404
        assert call(w, "GET", path, who).status_code == 404
    for who in ("mediator", "lawyer", "supervisor"):
        got = call(w, "GET", path, who).get_json()
        assert [m["body"] for m in got] == ["依据土地管理法第四十八条", "请双方冷静"], who
    # Another session of the case, without the lawyer: its chat is hidden from the lawyer
    # even on the case's timeline.
    other = schedule(w, user_ids=[])["id"]
    call(w, "POST", f"/api/sessions/{other}/start", "mediator")
    assert call(w, "POST", f"/api/sessions/{other}/messages", "mediator", {"body": "私下"}).status_code == 201
    seen = {who: [e["data"]["body"] for e in call(
        w, "GET", f"/api/cases/{w.case_id}/timeline", who).get_json()["events"]
        if e["type"] == "session.message.posted"] for who in ("lawyer", "officer")}
    assert seen == {"lawyer": ["依据土地管理法第四十八条", "请双方冷静"],
                    "officer": ["依据土地管理法第四十八条", "请双方冷静", "私下"]}


def test_a_rooms_messages_are_picked_and_limited_in_sql(app, w):
    """The room's API and the pages' latest messages read their own session's messages
    (and the edits naming them), not every message of the case."""
    from mediation.sessions import chat

    sids = [schedule(w)["id"], schedule(w)["id"]]
    consent(w)
    for sid in sids:
        call(w, "POST", f"/api/sessions/{sid}/start", "mediator")
    seqs = {sid: [call(w, "POST", f"/api/sessions/{sid}/messages", "mediator",
                       {"body": f"{sid}-{i}"}).get_json()["seq"] for i in range(6)] for sid in sids}
    first, second = sids
    r = w.api.patch(f"/api/cases/{w.case_id}/messages/{seqs[first][-1]}", w.users["mediator"],
                    {"body": "改过的话"})
    assert r.status_code == 200, r.get_json()
    got = call(w, "GET", f"/api/sessions/{first}/messages?after={seqs[first][1]}", "lawyer").get_json()
    assert [m["seq"] for m in got] == seqs[first][2:]
    loaded: list[int] = []
    listener = lambda target, context: loaded.append(target.seq)  # noqa: E731
    with app.app_context():
        sa.event.listen(Event, "load", listener)
        try:
            latest = chat.latest(w.case_id, [first], 3)[first]
        finally:
            sa.event.remove(Event, "load", listener)
    assert [m["seq"] for m in latest] == seqs[first][-3:]
    assert latest[-1]["body"] == "改过的话" and latest[-1]["edited"] is True
    assert sorted(loaded) == sorted([*seqs[first][-3:], max(loaded)])  # 3 posted + the edit
