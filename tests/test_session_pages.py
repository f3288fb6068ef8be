"""The mediator's pages with Flask's test client and CSRF on: scheduling a session (and its
422s), the session room (404 for those not in it, the state buttons, illegal moves shown as
409 with the current state), the agreement from draft through finalising and signing to
effect, a concurrent edit refused with the current version, performance marked done; and
the parts the case page and the board include."""

from __future__ import annotations

import datetime as dt
import re

from flask import render_template

from mediation import clock
from mediation.extensions import db
from mediation.sessions import pages as session_pages
from mediation.users import User
from tests.factories import complete_content, consent, session_body
from tests.page_client import PageClient

CST = dt.timezone(dt.timedelta(hours=8))


def as_(app, w, who: str) -> PageClient:
    """The test client signed in as one of the world's users (forms posted with CSRF)."""
    return PageClient(app).sign_in(w.users[who].username)


def text(r) -> str:
    return r.get_data(as_text=True)


def in_china(days: float = 1) -> str:
    """A datetime-local value (China time, no zone), as the browser sends it."""
    return (dt.datetime.now(CST) + dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")


def api_session(w, started: bool = False) -> int:
    r = w.api.post(f"/api/cases/{w.case_id}/sessions", w.users["mediator"], session_body(w))
    assert r.status_code == 201, r.get_json()
    sid = r.get_json()["id"]
    if started:
        consent(w)
        assert w.api.post(f"/api/sessions/{sid}/start", w.users["mediator"]).status_code == 200
    return sid


# --- scheduling ----------------------------------------------------------------------------

def test_the_mediator_schedules_a_session_from_the_form(app, w, csrf_on):
    me = as_(app, w, "mediator")
    form = text(me.get(f"/cases/{w.case_id}/sessions/new"))
    # Participants are offered from the case: its petitioner, the lawyer with an accepted
    # referral, the directory's deputy, the mediator preselected.
    assert 'name="petitioner_ids"' in form and f'value="{w.petitioner_id}"' in form
    assert f'name="user_ids" value="{w.users["lawyer"].id}"' in form
    assert "王代表" in form and 'name="invited_provider_ids"' in form
    assert re.search(rf'<option value="{w.users["mediator"].id}"\s+selected', form)
    when = in_china(2)
    r = me.post(f"/cases/{w.case_id}/sessions/new", {
        "scheduled_at": when, "place": "锦江区人民调解委员会调解室", "topic": "补偿款差额",
        "mediator_id": str(w.users["mediator"].id), "petitioner_ids": str(w.petitioner_id),
        "user_ids": str(w.users["lawyer"].id), "invited_provider_ids": str(w.deputy_provider_id),
        "respondents-0-name": "李科长", "respondents-0-unit": "区自然资源局"})
    assert r.status_code == 302, text(r)[:2000]
    sid = int(r.headers["Location"].rsplit("/", 1)[1])
    got = w.api.get(f"/api/sessions/{sid}", w.users["mediator"]).get_json()
    assert got["topic"] == "补偿款差额" and got["status"] == "scheduled"
    # The time typed is China time.
    assert dt.datetime.fromisoformat(got["scheduled_at"]).astimezone(CST).strftime("%Y-%m-%dT%H:%M") == when
    kinds = sorted(p["kind"] for p in got["participants"])
    assert kinds == ["invited", "mediator", "petitioner", "provider", "respondent"]
    room = text(me.get(f"/sessions/{sid}"))
    assert "调解会已安排" in room and "补偿款差额" in room


def test_scheduling_without_a_mediator_or_a_place_is_422_inline(app, w, csrf_on):
    officer = as_(app, w, "officer")
    # A case with no accepted mediation referral: the form says so and the command refuses.
    form = text(officer.get(f"/cases/{w.bare_case_id}/sessions/new"))
    assert "本案尚无已接受调解转介的调解员" in form
    r = officer.post(f"/cases/{w.bare_case_id}/sessions/new",
                     {"scheduled_at": in_china(), "place": "调解室"})
    assert r.status_code == 422
    html = text(r)
    assert 'id="mediator_id-error"' in html and "须为本案已接受调解转介的调解员" in html
    # On the mediated case: no place nor link, and a time in the past, each beside its field.
    r = officer.post(f"/cases/{w.case_id}/sessions/new", {
        "scheduled_at": in_china(), "mediator_id": str(w.users["mediator"].id), "topic": "留着"})
    assert r.status_code == 422
    html = text(r)
    assert 'id="f-place"' in html and 'aria-describedby="place-error"' in html
    assert "请填写地点或线上会议链接" in html and 'value="留着"' in html  # what was typed stays
    r = officer.post(f"/cases/{w.case_id}/sessions/new", {
        "scheduled_at": in_china(-1), "place": "调解室", "mediator_id": str(w.users["mediator"].id)})
    assert r.status_code == 422 and "须为将来的时间" in text(r)
    assert w.api.get(f"/api/cases/{w.case_id}/sessions", w.users["officer"]).get_json() == []


def test_the_form_post_needs_its_csrf_token(app, w, csrf_on):
    me = as_(app, w, "mediator")
    r = me.client.post(f"/cases/{w.case_id}/sessions/new", data={"scheduled_at": in_china(), "place": "x"})
    assert r.status_code == 400


# --- the room ----------------------------------------------------------------------------

def test_the_room_is_404_for_those_not_in_the_session(app, w, csrf_on):
    sid = api_session(w)
    assert as_(app, w, "counsellor").get(f"/sessions/{sid}").status_code == 404  # not in it
    assert as_(app, w, "stranger").get(f"/sessions/{sid}").status_code == 404  # other region
    assert as_(app, w, "other_mediator").get(f"/sessions/{sid}").status_code == 404
    assert as_(app, w, "stranger").post(f"/sessions/{sid}/start").status_code == 404
    lawyer = text(as_(app, w, "lawyer").get(f"/sessions/{sid}"))
    assert "调解室" in lawyer and 'data-may-enter="1"' in lawyer
    assert "开始调解会" not in lawyer  # only its mediator or an officer runs it
    watching = as_(app, w, "officer").get(f"/sessions/{sid}")
    assert watching.status_code == 200 and "开始调解会" in text(watching)


def test_start_postpone_end_through_the_buttons_and_illegal_moves_show_the_state(app, w, csrf_on):
    sid = api_session(w)
    me = as_(app, w, "mediator")
    room = text(me.get(f"/sessions/{sid}"))
    assert 'data-session-status="scheduled"' in room and "延期" in room
    new_time = in_china(3)
    r = me.post(f"/sessions/{sid}/postpone", {"scheduled_at": new_time, "reason": "当事人住院"})
    assert r.status_code == 302
    got = w.api.get(f"/api/sessions/{sid}", w.users["mediator"]).get_json()
    assert got["status"] == "postponed" and got["postponements"] == 1
    r = me.post(f"/sessions/{sid}/postpone", {"scheduled_at": new_time, "reason": ""})
    assert r.status_code == 422 and 'aria-describedby="reason-error"' in text(r)
    # People's mediation: not without the petitioner's consent, named in words.
    r = me.post(f"/sessions/{sid}/start")
    assert r.status_code == 409 and 'id="missing-consents"' in text(r)
    assert "张三" in text(r) and "尚未同意调解" in text(r)
    consent(w)
    assert me.post(f"/sessions/{sid}/start").status_code == 302
    r = me.post(f"/sessions/{sid}/end", {"minutes": ""})
    assert r.status_code == 422 and 'aria-describedby="minutes-error"' in text(r)
    r = me.post(f"/sessions/{sid}/end", {"minutes": "双方陈述意见，同意继续协商。"})
    assert r.status_code == 302
    ended = text(me.get(f"/sessions/{sid}"))
    assert "双方陈述意见，同意继续协商。" in ended and 'data-session-status="ended"' in ended
    # Starting an ended session: 409, the current state in words, nothing changed.
    r = me.post(f"/sessions/{sid}/start")
    assert r.status_code == 409
    html = text(r)
    assert "当前状态下不能这样操作" in html and 'class="badge ended">已结束' in html
    r = me.post(f"/sessions/{sid}/cancel", {"reason": "不再需要"})
    assert r.status_code == 409 and "已结束" in text(r)
    assert w.api.get(f"/api/sessions/{sid}", w.users["mediator"]).get_json()["status"] == "ended"


def test_the_room_chat_posts_as_a_form_and_shows_edits_and_deletions(app, w, csrf_on):
    sid = api_session(w)
    lawyer = as_(app, w, "lawyer")
    r = lawyer.post(f"/sessions/{sid}/messages", {"body": "还没开始"})
    assert r.status_code == 409 and "进行中" in text(r)
    consent(w)
    assert w.api.post(f"/api/sessions/{sid}/start", w.users["mediator"]).status_code == 200
    r = lawyer.post(f"/sessions/{sid}/messages", {"body": "律师意见：补偿标准有据可查"})
    assert r.status_code == 302 and r.headers["Location"].endswith("#chat")
    r = lawyer.post(f"/sessions/{sid}/messages", {"body": "  "})
    assert r.status_code == 422 and 'aria-describedby="body-error"' in text(r)
    posted = w.api.post(f"/api/sessions/{sid}/messages", w.users["mediator"], {"body": "原话"}).get_json()
    w.api.patch(f"/api/cases/{w.case_id}/messages/{posted['seq']}", w.users["mediator"], {"body": "改过的话"})
    part = text(lawyer.get(f"/sessions/{sid}?part=session_chat"))
    assert "律师意见：补偿标准有据可查" in part and "改过的话" in part and "原话" not in part
    assert "已修改" in part and "<html" not in part
    w.api.call("DELETE", f"/api/cases/{w.case_id}/messages/{posted['seq']}", w.users["mediator"])
    part = text(lawyer.get(f"/sessions/{sid}?part=session_chat"))
    assert "改过的话" not in part and "此条发言已删除" in part


def test_the_chat_form_is_rate_limited_like_the_socket(app, w, csrf_on, monkeypatch):
    monkeypatch.setitem(app.config, "MEDIATION_MESSAGE_RATE", "2/60")
    sid = api_session(w, started=True)
    lawyer = as_(app, w, "lawyer")
    for i in range(2):
        assert lawyer.post(f"/sessions/{sid}/messages", {"body": f"第{i}条"}).status_code == 302
    r = lawyer.post(f"/sessions/{sid}/messages", {"body": "第三条"})
    assert r.status_code == 429 and "发言过于频繁" in text(r)
    assert w.api.post(f"/api/sessions/{sid}/messages", w.users["lawyer"], {"body": "x"}).status_code == 429


def test_attendance_and_check_in(app, w, csrf_on):
    sid = api_session(w, started=True)
    lawyer = as_(app, w, "lawyer")
    assert "签到参会" in text(lawyer.get(f"/sessions/{sid}"))
    assert lawyer.post(f"/sessions/{sid}/join").status_code == 302
    assert "签到参会" not in text(lawyer.get(f"/sessions/{sid}"))
    s = w.api.get(f"/api/sessions/{sid}", w.users["mediator"]).get_json()
    petitioner = next(p for p in s["participants"] if p["kind"] == "petitioner")
    index = [p["id"] for p in s["participants"]].index(petitioner["id"])
    me = as_(app, w, "mediator")
    r = me.post(f"/sessions/{sid}/attendance", {f"attendance-{index}-participant_id": str(petitioner["id"]),
                                                f"attendance-{index}-attended": "0"})
    assert r.status_code == 302
    s = w.api.get(f"/api/sessions/{sid}", w.users["mediator"]).get_json()
    assert next(p for p in s["participants"] if p["id"] == petitioner["id"])["attended"] is False
    people = text(me.get(f"/sessions/{sid}?part=session_people"))
    assert "缺席" in people and "已出席" in people  # the petitioner absent, the lawyer present


# --- agreements --------------------------------------------------------------------------

def agreement_form(w, version: int | None = None, **overrides) -> dict:
    c = complete_content(w)
    data = {f"parties-{i}-{k}": str(p.get(k) or "") for i, p in enumerate(c["parties"])
            for k in ("name", "role", "details")}
    data.update({k: v for k, v in c.items() if k != "parties"})
    if version is not None:
        data["version"] = str(version)
    data.update(overrides)
    return data


def test_an_agreement_from_draft_to_effect_through_the_pages(app, w, csrf_on):
    me = as_(app, w, "mediator")
    form = text(me.get(f"/cases/{w.case_id}/agreements/new"))
    for field in ("facts", "matters_in_dispute", "responsibilities", "terms", "performance_manner",
                  "performance_time_limit", "parties-0-name", "parties-1-details"):
        assert f'name="{field}"' in form
    # A draft with only the facts: saved, its gaps listed.
    r = me.post(f"/cases/{w.case_id}/agreements/new", {"facts": "2019年征地补偿款未足额发放。"})
    assert r.status_code == 302
    aid = int(r.headers["Location"].rsplit("/", 1)[1])
    page = text(me.get(f"/agreements/{aid}"))
    assert 'name="version" value="1"' in page and "尚缺" in page
    # Finalising now: 422, the missing parts named, each beside its field.
    r = me.post(f"/agreements/{aid}/finalise")
    assert r.status_code == 422
    html = text(r)
    assert "协议缺少法定内容" in html and "当事人的基本情况" in html and "履行期限" in html
    assert 'aria-describedby="terms-error"' in html and 'id="parties-error"' in html
    assert 'aria-describedby="facts-error"' not in html  # that one is there, and still shown
    assert "2019年征地补偿款未足额发放。</textarea>" in html
    # Completed on version 1, then finalised.
    r = me.post(f"/agreements/{aid}", agreement_form(w, version=1))
    assert r.status_code == 302
    assert 'name="version" value="2"' in text(me.get(f"/agreements/{aid}"))
    assert me.post(f"/agreements/{aid}/finalise").status_code == 302
    final = text(me.get(f"/agreements/{aid}"))
    assert "待签署" in final and 'name="version"' not in final  # no more editing
    assert "本人签署" in final  # the mediator signs through the account
    assert f"/agreements/{aid}/print" in final
    # The officer records the parties' signatures in person; the mediator signs last.
    officer = as_(app, w, "officer")
    officer_view = text(officer.get(f"/agreements/{aid}"))
    assert officer_view.count("记录现场签署") == 2 and "本人签署" not in officer_view
    assert officer.post(f"/agreements/{aid}/sign", {"signer": "party", "party_index": "0",
                                                    "method": "fingerprint"}).status_code == 302
    # A lawyer may not record a signature in person: 403, shown on the page.
    r = as_(app, w, "lawyer").post(f"/agreements/{aid}/sign", {"signer": "party", "party_index": "1",
                                                               "method": "seal"})
    assert r.status_code == 403
    assert officer.post(f"/agreements/{aid}/sign", {"signer": "party", "party_index": "1",
                                                    "method": "seal"}).status_code == 302
    r = me.post(f"/agreements/{aid}/sign", {"signer": "mediator", "method": "account"})
    assert r.status_code == 302
    done = text(me.get(f"/agreements/{aid}"))
    assert "各方均已签署，调解协议生效" in done and 'id="agreement-status">已生效' in done
    part = text(me.get(f"/agreements/{aid}?part=session_agreement_signatures"))
    assert part.count('class="signed"') == 3 and "按指印" in part and "盖章" in part
    # Signing again: 409 with the status in words.
    r = me.post(f"/agreements/{aid}/sign", {"signer": "mediator", "method": "account"})
    assert r.status_code == 409 and "已生效" in text(r)


def test_a_stale_version_gets_the_409_message_with_the_current_version(app, w, csrf_on):
    me = as_(app, w, "mediator")
    r = me.post(f"/cases/{w.case_id}/agreements/new", {"facts": "原始事实"})
    aid = int(r.headers["Location"].rsplit("/", 1)[1])
    # Two tabs open on version 1: the first saves, the second is refused.
    assert me.post(f"/agreements/{aid}", agreement_form(w, version=1, terms="第一处修改")).status_code == 302
    r = me.post(f"/agreements/{aid}", agreement_form(w, version=1, terms="第二处修改"))
    assert r.status_code == 409
    html = text(r)
    assert "草稿已被他人修改" in html and 'id="current-version">第2稿' in html
    assert "第二处修改" in html  # what was typed is still in the form, to copy
    got = w.api.get(f"/api/agreements/{aid}", w.users["mediator"]).get_json()
    assert got["version"] == 2 and got["terms"] == "第一处修改"


def agreement_in_effect(w) -> dict:
    """A complete agreement, finalised and signed by both parties and the mediator."""
    mediator = w.users["mediator"]
    a = w.api.post(f"/api/cases/{w.case_id}/agreements", mediator, complete_content(w)).get_json()
    w.api.post(f"/api/agreements/{a['id']}/finalise", mediator)
    for body, who in (({"signer": "party", "party_index": 0, "method": "hand"}, "officer"),
                      ({"signer": "party", "party_index": 1, "method": "seal"}, "officer"),
                      ({"signer": "mediator", "method": "account"}, "mediator")):
        assert w.api.post(f"/api/agreements/{a['id']}/sign", w.users[who], body).status_code == 200
    return a


def test_performance_is_added_and_marked_done(app, w, csrf_on):
    mediator = w.users["mediator"]
    a = agreement_in_effect(w)
    me = as_(app, w, "mediator")
    due = (clock.today() + dt.timedelta(days=30)).isoformat()
    r = me.post(f"/agreements/{a['id']}/performance", {"kind": "payment", "description": "补发补偿款",
                                                       "obligor": "区自然资源局", "amount": "abc",
                                                       "due_on": due})
    assert r.status_code == 422 and 'aria-describedby="amount-error"' in text(r)
    r = me.post(f"/agreements/{a['id']}/performance", {"kind": "payment", "description": "补发补偿款",
                                                       "obligor": "区自然资源局", "amount": "50000",
                                                       "due_on": due})
    assert r.status_code == 302
    item = w.api.get(f"/api/cases/{w.case_id}/performance", mediator).get_json()[0]
    assert item["done"] is False and item["amount"] == "50000.00"
    r = me.post(f"/performance/{item['id']}/done", {"evidence": ""})
    assert r.status_code == 422 and f'id="evidence-{item["id"]}-error"' in text(r)
    r = me.post(f"/performance/{item['id']}/done", {"evidence": "银行转账回单 No.123"})
    assert r.status_code == 302
    part = text(me.get(f"/agreements/{a['id']}?part=session_agreement_performance"))
    assert "已履行" in part and "银行转账回单 No.123" in part
    assert as_(app, w, "lawyer").post(f"/performance/{item['id']}/done", {"evidence": "x"}).status_code == 403


def test_judicial_confirmation_is_recorded_on_the_agreement_page(app, w, csrf_on):
    mediator = w.users["mediator"]
    a = agreement_in_effect(w)
    officer = as_(app, w, "officer")
    page = text(officer.get(f"/agreements/{a['id']}"))
    assert "司法确认" in page and "记录申请" in page
    r = officer.post(f"/agreements/{a['id']}/judicial/apply", {"applied_on": "", "court": "锦江区人民法院"})
    assert r.status_code == 422 and 'id="applied_on-error"' in text(r) and "锦江区人民法院" in text(r)
    r = officer.post(f"/agreements/{a['id']}/judicial/apply", {"applied_on": clock.today().isoformat(),
                                                               "court": "锦江区人民法院"})
    assert r.status_code == 302
    r = officer.post(f"/agreements/{a['id']}/judicial/decision", {"decision": "confirmed",
                                                                  "decided_on": clock.today().isoformat()})
    assert r.status_code == 302
    got = w.api.get(f"/api/agreements/{a['id']}", mediator).get_json()
    assert got["judicial_court"] == "锦江区人民法院" and got["judicial_decision"] == "confirmed"
    assert "确认有效" in text(officer.get(f"/agreements/{a['id']}"))
    # the lawyer may read the agreement but not record for the court
    assert as_(app, w, "lawyer").post(f"/agreements/{a['id']}/judicial/apply", {
        "applied_on": clock.today().isoformat(), "court": "x"}).status_code in (403, 404)


# --- for the case page and the board --------------------------------------------------------

def test_case_sections_and_the_board_part(app, w, csrf_on):
    sid = api_session(w, started=True)
    w.api.post(f"/api/sessions/{sid}/messages", w.users["mediator"], {"body": "第一句"})
    w.api.post(f"/api/cases/{w.case_id}/agreements", w.users["mediator"], {"facts": "事实"})
    with app.test_request_context("/"):
        officer = db.session.get(User, w.users["officer"].id)
        sections = session_pages.case_sections(officer, w.case_id)
        assert [x["status"] for x in sections["sessions"]] == ["in_progress"]
        assert sections["sessions"][0]["messages"][0]["body"] == "第一句"
        assert sections["agreements"][0]["status"] == "draft" and sections["can_schedule"]
        html = render_template("sessions/parts/case_sessions.html", case_sessions=sections,
                               current_user=officer)
        assert f"/sessions/{sid}" in html and "进行中" in html and "第一句" in html and "草稿" in html
        board = session_pages.sessions_in_progress(officer)
        assert [x["id"] for x in board] == [sid]
        html = render_template("sessions/parts/board_sessions.html", board_sessions=board,
                               current_user=officer)
        assert "暂无人在线" in html and "第一句" in html
        # The counsellor sees no session of the case (not in it); the stranger no case at all.
        counsellor = db.session.get(User, w.users["counsellor"].id)
        assert session_pages.sessions_in_progress(counsellor) == []
        stranger = db.session.get(User, w.users["stranger"].id)
        assert session_pages.sessions_in_progress(stranger) == []
        db.session.remove()
