"""The providers' pages and the lead official's duties page, through Flask's test client with
CSRF on: the inbox (accept, decline, complete, races), the legal opinion, counselling and
support forms, and /duties — each with the same commands and permission rules as the API."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest

from mediation import clock
from mediation.cases import commands
from mediation.extensions import db
from mediation.users import User
from referrals import lifecycle
from referrals.models import CounsellingNote, LegalOpinion, Referral, SupportRecord
from tests.factories import World, make_case, make_provider, make_user, referral
from tests.page_client import PageClient


@pytest.fixture
def web(app, csrf_on) -> PageClient:
    """A client that keeps cookies and posts forms with CSRF on, as a browser would."""
    return PageClient(app)


def Browser(app, user: User) -> PageClient:  # noqa: N802 - reads like the class it was
    """The test client signed in as one user."""
    return PageClient(app).sign_in(user)


@pytest.fixture
def world(app, web) -> World:
    """An officer of 锦江区, two mediators, two lawyers, two counsellors of one centre, a union,
    a lead official, and two cases with every need."""
    with app.app_context():
        officer = make_user("case_officer", "510104")
        mediators = [make_user("mediator") for _ in range(2)]
        lawyers = [make_user("lawyer") for _ in range(2)]
        counsellors = [make_user("counsellor") for _ in range(2)]
        union = make_user("mass_org")
        lead = make_user("lead_official", "510104")
        p_med = [make_provider("mediator", members=(u,), name=f"调解委员会{i}")
                 for i, u in enumerate(mediators)]
        p_law = make_provider("lawyer", members=(lawyers[0],), specialities=["land_demolition"],
                              name="律师事务所")
        make_provider("lawyer", members=(lawyers[1],), specialities=["education"], name="另一律所")
        p_cou = make_provider("counsellor", members=tuple(counsellors), name="心理援助中心")
        p_uni = make_provider("trade_union", members=(union,), name="区总工会")
        needs = ["economic_compensation", "legal_opinion", "counselling", "group_support"]
        case = make_case(officer, title="征地补偿纠纷甲", needs=needs)
        other = make_case(officer, title="征地补偿纠纷乙", needs=needs)
        w = World({"officer": officer, "union": union, "lead": lead}, mediators=mediators,
                  lawyers=lawyers, counsellors=counsellors, p_med=[p.id for p in p_med],
                  p_law=p_law.id, p_cou=p_cou.id, p_uni=p_uni.id, case=case.id, other_case=other.id,
                  reference=case.reference, other_reference=other.reference)
        db.session.expunge_all()
        db.session.remove()
    return w


def offer(app, w: World, need: str, provider_id: int, case_id: int | None = None) -> int:
    with app.app_context():
        officer = db.session.get(User, w.officer.id)
        made = lifecycle.request_referral(officer, case_id or w.case, need, provider_id)
        rid = made.id
        db.session.remove()
    return rid


def accepted(app, w: World, need: str, provider_id: int, member: User) -> int:
    rid = offer(app, w, need, provider_id)
    with app.app_context():
        lifecycle.accept(db.session.get(User, member.id), rid)
        db.session.remove()
    return rid


def status_of(app, rid: int) -> str:
    with app.app_context():
        value = referral(rid).status
        db.session.remove()
    return value


def part(page: str, name: str) -> str:
    """The inner HTML of one live part of a page."""
    match = re.search(rf'<div id="part-{name}" data-part="{name}"[^>]*>(.*?)</div>\s*</section>', page, re.S)
    assert match, f"the page has the live part {name}"
    return match.group(1)


# --- the inbox -----------------------------------------------------------------------------------

def test_inbox_lists_only_the_users_own_offers_with_deadline_and_reasons(app, world):
    w = world
    mine = offer(app, w, "economic_compensation", w.p_med[0])
    theirs = offer(app, w, "economic_compensation", w.p_med[1], case_id=w.other_case)
    me = Browser(app, w.mediators[0])
    page = me.text("/inbox")
    offers = part(page, "inbox_offers")
    assert f'data-referral="{mine}"' in offers and f'data-referral="{theirs}"' not in offers
    assert w.reference in offers and w.other_reference not in page
    assert "经济补偿、权益保障" in offers  # the need in words
    assert "data-countdown" in offers and "答复期限" in offers
    assert "候选排名第" in offers and "服务区域：本级（510104）" in offers  # why: the stored reasons
    assert 'data-live-cases="' in page and 'data-on="referral."' in page
    # the part alone, as pages.js fetches it
    alone = me.text("/inbox?part=inbox_offers")
    assert f'data-referral="{mine}"' in alone and "<html" not in alone
    # the other mediator sees theirs, not mine
    other = Browser(app, w.mediators[1]).text("/inbox")
    assert f'data-referral="{theirs}"' in other and f'data-referral="{mine}"' not in other


def test_accept_through_the_form_moves_the_case_to_my_active_cases(app, world):
    w = world
    rid = offer(app, w, "economic_compensation", w.p_med[0])
    me = Browser(app, w.mediators[0])
    r = me.post("/inbox", {"action": "accept", "referral_id": rid}, "/inbox")
    assert r.status_code == 302 and r.headers["Location"].endswith("/inbox")
    assert status_of(app, rid) == "accepted"
    page = me.text("/inbox")
    assert "已接受邀请" in page  # flashed
    assert f'data-referral="{rid}"' not in part(page, "inbox_offers")
    active = part(page, "inbox_active")
    assert f'data-referral="{rid}"' in active and f'href="/cases/{w.case}"' in active
    assert me.text(f"/cases/{w.case}")  # the provider now sees the case


def test_decline_with_a_reason_through_the_form(app, world):
    w = world
    rid = offer(app, w, "economic_compensation", w.p_med[0])
    me = Browser(app, w.mediators[0])
    r = me.post("/inbox", {"action": "decline", "referral_id": rid, "reason": "capacity"}, "/inbox")
    assert r.status_code == 302
    assert status_of(app, rid) == "declined"
    with app.app_context():
        assert referral(rid).decline_reason == "capacity"
        db.session.remove()
    assert f'data-referral="{rid}"' not in me.text("/inbox")
    # the need went on to the next mediator, whose inbox now has it
    assert w.reference in part(Browser(app, w.mediators[1]).text("/inbox"), "inbox_offers")


def test_decline_other_without_a_note_is_422_beside_the_field_and_changes_nothing(app, world):
    w = world
    rid = offer(app, w, "economic_compensation", w.p_med[0])
    me = Browser(app, w.mediators[0])
    r = me.post("/inbox", {"action": "decline", "referral_id": rid, "reason": "other", "note": "  "},
                "/inbox")
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    field = re.search(rf'<textarea id="decline-{rid}-note"[^>]*>', page).group(0)
    assert 'aria-invalid="true"' in field and f'aria-describedby="decline-{rid}-note-error"' in field
    error = re.search(rf'<span class="field-error" id="decline-{rid}-note-error"[^>]*>(.*?)</span>', page)
    assert error and "选择“其他”时请写明原因" in html.unescape(error.group(1))
    assert re.search(r'<option value="other"\s+selected>', page)  # what was chosen is kept
    assert status_of(app, rid) == "offered"
    # with the note it goes through
    r = me.post("/inbox", {"action": "decline", "referral_id": rid, "reason": "other",
                           "note": "本人近期住院"}, "/inbox")
    assert r.status_code == 302 and status_of(app, rid) == "declined"


def test_accepting_an_offer_already_declined_is_409_with_the_current_state(app, world):
    w = world
    rid = offer(app, w, "economic_compensation", w.p_med[0])
    me = Browser(app, w.mediators[0])
    token_page = "/inbox"  # the page the user had open, before declining in another tab
    assert me.post("/inbox", {"action": "decline", "referral_id": rid, "reason": "unavailable"},
                   token_page).status_code == 302
    r = me.post("/inbox", {"action": "accept", "referral_id": rid}, token_page)
    assert r.status_code == 409
    page = r.get_data(as_text=True)
    assert "该邀请已无法接受" in page and "当前状态" in page and "已拒绝" in page
    assert status_of(app, rid) == "declined"
    # a second click on accept after accepting: also a 409, not a crash
    rid2 = offer(app, w, "economic_compensation", w.p_med[0], case_id=w.other_case)
    assert me.post("/inbox", {"action": "accept", "referral_id": rid2}, "/inbox").status_code == 302
    again = me.post("/inbox", {"action": "accept", "referral_id": rid2}, "/inbox")
    assert again.status_code == 409 and "已接受" in again.get_data(as_text=True)


def test_someone_elses_offer_is_a_404(app, world):
    w = world
    rid = offer(app, w, "economic_compensation", w.p_med[0])
    other = Browser(app, w.mediators[1])
    assert other.post("/inbox", {"action": "accept", "referral_id": rid}, "/inbox").status_code == 404
    assert other.post("/inbox", {"action": "decline", "referral_id": rid, "reason": "capacity"},
                      "/inbox").status_code == 404
    assert status_of(app, rid) == "offered"


def test_complete_an_accepted_referral_with_its_outcome(app, world):
    w = world
    rid = accepted(app, w, "economic_compensation", w.p_med[0], w.mediators[0])
    me = Browser(app, w.mediators[0])
    bad = me.post("/inbox", {"action": "complete", "referral_id": rid}, "/inbox")
    assert bad.status_code == 422
    assert f'id="complete-{rid}-outcome-error"' in bad.get_data(as_text=True)
    r = me.post("/inbox", {"action": "complete", "referral_id": rid, "outcome": "agreement_reached",
                           "note": "双方签订调解协议"}, "/inbox")
    assert r.status_code == 302 and status_of(app, rid) == "completed"
    assert f'data-referral="{rid}"' not in me.text("/inbox")


def test_active_cases_link_to_the_form_of_their_kind(app, world):
    w = world
    accepted(app, w, "legal_opinion", w.p_law, w.lawyers[0])
    accepted(app, w, "counselling", w.p_cou, w.counsellors[0])
    accepted(app, w, "group_support", w.p_uni, w.union)
    assert f'href="/cases/{w.case}/opinion"' in Browser(app, w.lawyers[0]).text("/inbox")
    assert f'href="/cases/{w.case}/counselling"' in Browser(app, w.counsellors[0]).text("/inbox")
    assert f'href="/cases/{w.case}/support"' in Browser(app, w.union).text("/inbox")


# --- what referrals produce ------------------------------------------------------------------------

def test_opinion_form_by_a_lawyer_with_an_accepted_referral(app, world):
    w = world
    accepted(app, w, "legal_opinion", w.p_law, w.lawyers[0])
    me = Browser(app, w.lawyers[0])
    path = f"/cases/{w.case}/opinion"
    page = me.text(path)
    assert "出具法律意见" in page and w.reference in page and "尚未出具意见" in page
    # nothing in the legal basis: 422 beside the fieldset, nothing saved
    bad = me.post(path, {"summary": "补偿标准适用争议", "recommendation": "按省标准补足"}, path)
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert 'id="legal_basis-error"' in text and "必填项" in text
    assert "补偿标准适用争议" in text  # what was typed stays
    r = me.post(path, {"summary": "补偿标准适用争议", "legal_basis-0-law": "中华人民共和国土地管理法",
                       "legal_basis-0-article": "第四十八条", "recommendation": "按省标准补足"}, path)
    assert r.status_code == 302
    with app.app_context():
        saved = db.session.query(LegalOpinion).one()
        assert saved.legal_basis == [{"law": "中华人民共和国土地管理法", "article": "第四十八条"}]
        db.session.remove()
    listed = me.text(path)
    assert "法律意见已提交" in listed and "《中华人民共和国土地管理法》第四十八条" in listed
    assert f'id="opinion-{saved.id}"' in listed


def test_opinion_form_is_404_without_an_accepted_referral(app, world):
    w = world
    path = f"/cases/{w.case}/opinion"
    stranger = Browser(app, w.lawyers[1])
    assert stranger.get(path).status_code == 404
    assert stranger.post(path, {"summary": "x", "legal_basis-0-law": "法", "legal_basis-0-article": "1",
                                "recommendation": "y"}, "/inbox").status_code == 404
    # an offer not yet accepted lets the lawyer see the case but not write the opinion
    offer(app, w, "legal_opinion", w.p_law)
    assert Browser(app, w.lawyers[0]).get(path).status_code == 404
    with app.app_context():
        assert db.session.query(LegalOpinion).count() == 0
        db.session.remove()


def test_counselling_note_content_is_for_its_author_only(app, world):
    w = world
    accepted(app, w, "counselling", w.p_cou, w.counsellors[0])
    path = f"/cases/{w.case}/counselling"
    author = Browser(app, w.counsellors[0])
    secret = "信访人提到家庭矛盾与失眠，需持续关注"
    future = (clock.today() + dt.timedelta(days=3)).isoformat()
    bad = author.post(path, {"session_on": future, "risk_level": "medium", "content": secret}, path)
    assert bad.status_code == 422 and "不能晚于今天" in bad.get_data(as_text=True)
    r = author.post(path, {"session_on": clock.today().isoformat(), "risk_level": "medium",
                           "content": secret}, path)
    assert r.status_code == 302
    assert secret in author.text(path)
    with app.app_context():
        assert db.session.query(CounsellingNote).count() == 1
        db.session.remove()
    # a colleague of the same centre may write their own notes but not read this one
    colleague = Browser(app, w.counsellors[1]).text(path)
    assert secret not in colleague and "尚无记录" in colleague
    # officials have no counselling page, and nothing on the case page reveals the content
    officer = Browser(app, w.officer)
    assert officer.get(path).status_code == 404
    assert secret not in officer.text(f"/cases/{w.case}")


def test_support_records_by_a_mass_organisation(app, world):
    w = world
    accepted(app, w, "group_support", w.p_uni, w.union)
    path = f"/cases/{w.case}/support"
    me = Browser(app, w.union)
    bad = me.post(path, {"kind": "employment", "given_on": clock.today().isoformat()}, path)
    assert bad.status_code == 422 and 'id="description-error"' in bad.get_data(as_text=True)
    r = me.post(path, {"kind": "employment", "given_on": clock.today().isoformat(),
                       "description": "联系三家企业提供岗位"}, path)
    assert r.status_code == 302
    page = me.text(path)
    assert "联系三家企业提供岗位" in page and "就业帮扶" in page
    with app.app_context():
        assert db.session.query(SupportRecord).count() == 1
        db.session.remove()
    assert Browser(app, w.lawyers[0]).get(path).status_code == 404


def test_provider_pages_are_not_for_other_roles(app, world, web):
    w = world
    accepted(app, w, "legal_opinion", w.p_law, w.lawyers[0])
    officer = Browser(app, w.officer)
    for path in ("/inbox", f"/cases/{w.case}/opinion", f"/cases/{w.case}/counselling",
                 f"/cases/{w.case}/support"):
        assert officer.get(path).status_code == 404, path
        r = web.get(path)
        assert r.status_code == 302 and "/login" in r.headers["Location"], path
    lead = Browser(app, w.lead)
    assert lead.get("/inbox").status_code == 404
    # the mediator has no opinion page, the lawyer no counselling page
    assert Browser(app, w.lawyers[0]).get(f"/cases/{w.case}/counselling").status_code == 404
    # the navigation shows the inbox to providers only
    assert "待办邀请" in Browser(app, w.mediators[0]).text("/")
    assert "待办邀请" not in officer.text("/")


# --- the lead official's duties ---------------------------------------------------------------------

def _own(app, w: World, case_id: int, days_ago: int) -> None:
    with app.app_context():
        officer = db.session.get(User, w.officer.id)
        commands.assign_owner(officer, case_id, w.lead.id, "county",
                              clock.today() - dt.timedelta(days=days_ago))
        db.session.remove()


def _duty(page: str, case_id: int, kind: str) -> dict[str, str]:
    section = re.search(rf'<section class="card duty-case[^"]*" id="case-{case_id}".*?</section>', page, re.S)
    assert section, f"case {case_id} is listed"
    row = re.search(rf'<tr class="[^"]*" data-duty="{kind}" data-state="(\w+)" data-due="([\d-]+)">',
                    section.group(0))
    assert row, f"{kind} is listed for case {case_id}"
    return {"state": row.group(1), "due": row.group(2)}


def test_duties_lists_own_cases_overdue_first_and_one_click_resets_the_duty(app, world):
    w = world
    _own(app, w, w.case, 2)  # fresh: nothing overdue
    _own(app, w, w.other_case, 40)  # a progress hearing and a meeting are both overdue
    with app.app_context():
        officer_case = make_case(make_user("case_officer", "510104"), title="别人包案的案件")
        not_mine = officer_case.reference
        db.session.remove()
    lead = Browser(app, w.lead)
    page = lead.text("/duties")
    assert not_mine not in page
    first, second = page.index(f'id="case-{w.other_case}"'), page.index(f'id="case-{w.case}"')
    assert first < second  # overdue first, although created later
    assert _duty(page, w.other_case, "progress_hearing")["state"] == "overdue"
    assert _duty(page, w.other_case, "petitioner_meeting")["state"] == "overdue"
    assert _duty(page, w.case, "progress_hearing")["state"] == "running"
    today = clock.today()
    r = lead.post("/duties", {"case_id": w.other_case, "kind": "progress_hearing",
                              "held_on": today.isoformat(), "note": "听取专班汇报"}, "/duties")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/duties#case-{w.other_case}")
    page = lead.text("/duties")
    hearing = _duty(page, w.other_case, "progress_hearing")
    assert hearing == {"state": "running", "due": (today + dt.timedelta(days=30)).isoformat()}
    assert _duty(page, w.other_case, "petitioner_meeting")["state"] == "overdue"  # the other stays
    assert "已记录听取汇报" in page
    # the meeting too, without a note: the case is no longer overdue and moves down
    assert lead.post("/duties", {"case_id": w.other_case, "kind": "petitioner_meeting",
                                 "held_on": today.isoformat()}, "/duties").status_code == 302
    page = lead.text("/duties")
    meeting = _duty(page, w.other_case, "petitioner_meeting")
    assert meeting["due"] == (today + dt.timedelta(days=15)).isoformat()
    assert 'data-overdue="0"' in page


def test_duties_refuse_what_the_command_refuses(app, world):
    w = world
    _own(app, w, w.case, 40)
    lead = Browser(app, w.lead)
    future = (clock.today() + dt.timedelta(days=2)).isoformat()
    r = lead.post("/duties", {"case_id": w.case, "kind": "progress_hearing", "held_on": future}, "/duties")
    assert r.status_code == 422 and "不能晚于今天" in r.get_data(as_text=True)
    assert _duty(lead.text("/duties"), w.case, "progress_hearing")["state"] == "overdue"  # unchanged
    # a case owned by someone else is a 404, like in the API
    assert lead.post("/duties", {"case_id": w.other_case, "kind": "progress_hearing",
                                 "held_on": clock.today().isoformat()}, "/duties").status_code == 404


def test_duties_page_is_for_lead_officials_only(app, world, web):
    w = world
    assert "包案职责" in Browser(app, w.lead).text("/")
    for user in (w.officer, w.mediators[0]):
        b = Browser(app, user)
        assert b.get("/duties").status_code == 404
        assert "包案职责" not in b.text("/")
    r = web.get("/duties")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_forms_without_their_csrf_token_are_refused(app, world):
    w = world
    rid = offer(app, w, "economic_compensation", w.p_med[0])
    me = Browser(app, w.mediators[0])
    r = me.client.post("/inbox", data={"action": "accept", "referral_id": rid})
    assert r.status_code == 400 and status_of(app, rid) == "offered"
    with app.app_context():
        assert db.session.get(Referral, rid).status == "offered"
        db.session.remove()
