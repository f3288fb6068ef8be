"""The case officer's pages through a client that keeps cookies and posts forms with CSRF on:
the intake form (errors beside their fields, nothing written on failure), the board
(filters, live parts, referral countdowns), the case page (sections, routing actions, the
thread) and who may see what."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from mediation.cases.models import Case, Petitioner
from mediation.extensions import db
from mediation.timeline import Event
from referrals.models import Referral
from tests.factories import World, make_case, make_provider, make_user
from tests.page_client import PageClient


@pytest.fixture
def web(app, csrf_on) -> PageClient:
    return PageClient(app)


def counts() -> tuple[int, int, int]:
    db.session.expire_all()
    return (db.session.scalar(sa.select(sa.func.count()).select_from(Case)),
            db.session.scalar(sa.select(sa.func.count()).select_from(Petitioner)),
            db.session.scalar(sa.select(sa.func.count()).select_from(Event)))


@pytest.fixture
def world(ctx):
    officer = make_user("case_officer", "510104")
    mediator = make_user("mediator")
    lawyer = make_user("lawyer")
    make_provider("mediator", members=(mediator,), name="锦江调解室")
    make_provider("mediator", name="青羊调解室")
    make_provider("lawyer", members=(lawyer,), specialities=["land_demolition"], name="蜀都律所")
    case = make_case(officer, needs=["economic_compensation", "legal_opinion"])
    other = make_case(make_user("case_officer", "510105"), region_code="510105", title="青羊区的案件")
    return World({"officer": officer, "mediator": mediator, "lawyer": lawyer}, case=case, other=other)


def test_intake_shows_each_error_beside_its_field_and_writes_nothing(web, world):
    web.sign_in(world.officer)
    before = counts()
    r = web.post("/cases/new", {"title": "", "region_code": "5101049", "received_on": "2099-01-01",
                                "petitioners-0-name": "李四", "petitioners-0-id_number": "123",
                                "petitioners-0-phone": "13800138000"})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    for field in ("title", "region_code", "received_on", "petitioners-0-id_number"):
        assert f'id="{field}-error"' in html, field
        assert re.search(rf'id="f-{field}"[^>]*aria-invalid="true"', html, re.S), field
    assert "必填项" in html and "请填写18位居民身份证号码" in html and "不能晚于今天" in html
    assert 'value="李四"' in html  # what was typed is kept
    assert counts() == before  # no case, no petitioner, no event


def test_intake_takes_a_case_in_and_opens_its_page_masked(web, world):
    web.sign_in(world.officer)
    r = web.post("/cases/new", {
        "title": "物业维修基金纠纷", "region_code": "510104", "received_on": "2025-06-01",
        "departments": "区住建局、街道办", "livelihood_fields": "property_management",
        "livelihood_fields-present": "1",
        "petitioners-0-name": "刘女士", "petitioners-0-id_number": "510104198512120021",
        "petitioners-0-phone": "13911112222", "petitioners-0-groups": "woman",
        "petitioners-1-name": "", "petitioners-1-id_number": ""})
    assert r.status_code == 302
    db.session.expire_all()
    case = db.session.execute(sa.select(Case).where(Case.title == "物业维修基金纠纷")).scalar_one()
    assert r.headers["Location"].endswith(f"/cases/{case.id}")
    assert case.departments == ["区住建局", "街道办"] and case.livelihood_fields == ["property_management"]
    assert [p.name for p in case.petitioners] == ["刘女士"]  # the blank second row is no petitioner
    page = web.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "案件已登记" in page and case.reference in page and "刘女士" in page
    assert "510104198512120021" not in page and "13911112222" not in page


def test_only_officers_may_take_cases_in_or_see_the_board(web, world):
    web.sign_in(world.mediator)
    assert web.get("/cases/new").status_code == 404
    assert web.get("/board").status_code == 404
    assert "/board" not in web.get("/").get_data(as_text=True)  # and no link to it


def test_board_lists_visible_cases_filters_and_serves_its_live_part(web, world):
    web.sign_in(world.officer)
    page = web.get("/board").get_data(as_text=True)
    assert world.case.reference in page and world.other.reference not in page
    assert 'data-live-regions="510104"' in page
    assert 'data-part="board_cases"' in page
    # filters: a status the case does not have hides it
    assert world.case.reference not in web.get("/board?status=resolved").get_data(as_text=True)
    assert world.case.reference in web.get("/board?status=intake").get_data(as_text=True)
    # a bad filter is shown beside its field, not a crash
    bad = web.get("/board?owner=abc")
    assert bad.status_code == 422 and 'id="owner-error"' in bad.get_data(as_text=True)
    part = web.get("/board?part=board_cases")
    html = part.get_data(as_text=True)
    assert part.status_code == 200 and "<html" not in html and world.case.reference in html
    assert part.headers["Cache-Control"] == "no-store"
    assert web.get("/board?part=nope").status_code == 404


def test_officer_routes_from_the_case_page_and_the_board_counts_down(web, world):
    web.sign_in(world.officer)
    page = web.get(f"/cases/{world.case.id}").get_data(as_text=True)
    assert "锦江调解室" in page and "候选人" in page  # ranked candidates with reasons
    assert "承接量：0 / 3" in page and "服务区域" in page
    r = web.post(f"/cases/{world.case.id}/routing", {}, token_from=f"/cases/{world.case.id}")
    assert r.status_code == 302
    db.session.expire_all()
    offered = db.session.execute(sa.select(Referral).where(Referral.case_id == world.case.id)).scalars().all()
    assert sorted(r.need for r in offered) == ["economic_compensation", "legal_opinion"]
    assert {r.status for r in offered} == {"offered"}
    board = web.get("/board").get_data(as_text=True)
    assert board.count("data-countdown") >= 2 and "待答复" in board
    # withdrawing needs a reason: refused with the message, nothing changed
    ref = offered[0]
    r = web.post(f"/referrals/{ref.id}/withdraw", {"reason": ""}, token_from=f"/cases/{world.case.id}")
    assert r.status_code == 302
    assert "请检查标红的项目" in web.get(f"/cases/{world.case.id}").get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Referral, ref.id).status == "offered"
    r = web.post(f"/referrals/{ref.id}/withdraw", {"reason": "当事人另行委托"},
                 token_from=f"/cases/{world.case.id}")
    db.session.expire_all()
    assert db.session.get(Referral, ref.id).status == "withdrawn"
    # withdrawing it again is a conflict, reported with the current state
    r = web.post(f"/referrals/{ref.id}/withdraw", {"reason": "再次"}, token_from=f"/cases/{world.case.id}")
    assert "withdrawn" in web.get(f"/cases/{world.case.id}").get_data(as_text=True)


def test_offer_to_a_chosen_candidate(web, world, ctx):
    web.sign_in(world.officer)
    from referrals.models import Provider

    chosen = db.session.execute(sa.select(Provider).where(Provider.name == "青羊调解室")).scalar_one()
    web.post(f"/cases/{world.case.id}/referrals", {"need": "economic_compensation",
                                                    "provider_id": str(chosen.id)},
             token_from=f"/cases/{world.case.id}")
    db.session.expire_all()
    ref = db.session.execute(sa.select(Referral).where(Referral.case_id == world.case.id)).scalar_one()
    assert ref.provider_id == chosen.id and ref.status == "offered"


def test_case_page_sections_are_live_parts_and_hide_what_a_role_may_not_see(web, world):
    web.sign_in(world.officer)
    web.post(f"/cases/{world.case.id}/messages", {"body": "请核实补偿标准", "channel": "case"},
             token_from=f"/cases/{world.case.id}")
    web.post(f"/cases/{world.case.id}/messages", {"body": "内部：领导关注", "channel": "internal"},
             token_from=f"/cases/{world.case.id}")
    web.post(f"/cases/{world.case.id}/routing", {}, token_from=f"/cases/{world.case.id}")
    page = web.get(f"/cases/{world.case.id}").get_data(as_text=True)
    for part in ("case_dossier", "case_referrals", "case_opinions", "case_thread", "case_timeline"):
        assert f'data-part="{part}"' in page, part
    assert f'data-live-cases="{world.case.id}"' in page
    assert "请核实补偿标准" in page and "内部：领导关注" in page
    thread = web.get(f"/cases/{world.case.id}?part=case_thread").get_data(as_text=True)
    assert "请核实补偿标准" in thread and "<html" not in thread
    web.post("/logout", token_from=f"/cases/{world.case.id}")

    # The lawyer, once the legal referral is accepted, sees the case but not the internal
    # notes — neither in the thread nor on the timeline — nor the other provider's referral.
    db.session.expire_all()
    legal = db.session.execute(sa.select(Referral).where(
        Referral.case_id == world.case.id, Referral.need == "legal_opinion")).scalar_one()
    from referrals import lifecycle

    lifecycle.accept(world.lawyer, legal.id)
    web.sign_in(world.lawyer)
    page = web.get(f"/cases/{world.case.id}").get_data(as_text=True)
    assert "请核实补偿标准" in page
    assert "内部：领导关注" not in page and "internal_note.posted" not in page
    assert "锦江调解室" not in page and "蜀都律所" in page
    assert "确认转介" not in page  # routing is for case staff
    timeline_part = web.get(f"/cases/{world.case.id}?part=case_timeline")
    assert timeline_part.status_code == 200 and "内部：领导关注" not in timeline_part.get_data(as_text=True)
    # a case it has nothing to do with is 404, page and part alike
    assert web.get(f"/cases/{world.other.id}").status_code == 404
    assert web.get(f"/cases/{world.other.id}?part=case_thread").status_code == 404


def test_an_empty_message_is_refused_and_nothing_is_written(web, world):
    web.sign_in(world.officer)
    before = counts()
    web.post(f"/cases/{world.case.id}/messages", {"body": "   ", "channel": "case"},
             token_from=f"/cases/{world.case.id}")
    assert counts() == before
    assert "请检查标红的项目" in web.get(f"/cases/{world.case.id}").get_data(as_text=True)



def test_intake_with_an_assessment_derives_needs_and_the_case_page_can_change_it(web, world):
    web.sign_in(world.officer)
    r = web.post("/cases/new", {"title": "拖欠工资纠纷", "region_code": "510104", "assessment": "reasonable",
                                "petitioners-0-name": "王师傅", "petitioners-0-groups": "worker"})
    assert r.status_code == 302
    case_id = int(r.headers["Location"].rsplit("/", 1)[1])
    db.session.expire_all()
    case = db.session.get(Case, case_id)
    assert case.assessment == "reasonable" and case.needs_set is None  # derived, not hand-set
    page = web.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "群团帮扶" in page  # a worker's case needs the trade union
    web.post(f"/cases/{case_id}/assessment", {"assessment": "law_related", "strategy_note": "引导诉讼"},
             token_from=f"/cases/{case_id}")
    db.session.expire_all()
    case = db.session.get(Case, case_id)
    assert case.assessment == "law_related" and case.strategy_note == "引导诉讼"


def test_officer_actions_on_the_case_page(web, world):
    lead = make_user("lead_official", "510104")
    web.sign_in(world.officer)
    page = f"/cases/{world.case.id}"
    assert "办案操作" in web.get(page).get_data(as_text=True)
    before = counts()
    web.post(f"{page}/do/owner", {"lead_official_id": str(world.mediator.id)}, token_from=page)
    assert counts() == before  # a mediator is no lead official: refused, nothing written
    assert "not an active lead official" in web.get(page).get_data(as_text=True)
    web.post(f"{page}/do/owner", {"lead_official_id": str(lead.id)}, token_from=page)
    web.post(f"{page}/do/contact", {"kind": "petitioner_meeting", "held_on": "2025-06-02",
                                    "note": "约谈信访人"}, token_from=page)
    web.post(f"{page}/do/investigation", {"method": "on_site_check", "conducted_on": "2025-06-03",
                                          "findings": "现场核实补偿清单"}, token_from=page)
    db.session.expire_all()
    case = db.session.get(Case, world.case.id)
    assert case.lead_official_id == lead.id and case.owner_level == "county"
    assert [c.kind for c in case.contacts] == ["petitioner_meeting"]
    assert [i.findings for i in case.investigations] == ["现场核实补偿清单"]
    assert web.post(f"{page}/do/nonsense", token_from=page).status_code == 404


def test_revealing_numbers_shows_them_once_and_records_it(web, world):
    web.sign_in(world.officer)
    page = f"/cases/{world.case.id}"
    p = world.case.petitioners[0]
    r = web.post(f"{page}/petitioners/{p.id}/reveal", {"reason": "电话联系信访人"}, token_from=page)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "510104198001011234" in html and "13800138000" in html
    assert r.headers["Cache-Control"] == "no-store"
    shown = [e for e in db.session.execute(sa.select(Event).where(
        Event.case_id == world.case.id, Event.type == "pii.revealed")).scalars()]
    assert len(shown) == 1 and "13800138000" not in str(shown[0].payload)
    assert "510104198001011234" not in web.get(page).get_data(as_text=True)  # masked again
    # without a reason: refused, nothing recorded
    web.post(f"{page}/petitioners/{p.id}/reveal", {"reason": ""}, token_from=page)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event).where(
        Event.case_id == world.case.id, Event.type == "pii.revealed")) == 1


def test_officer_resolves_records_cessation_and_a_new_petition_reopens(web, world):
    web.sign_in(world.officer)
    page = f"/cases/{world.case.id}"
    web.post(f"{page}/do/status", {"status": "in_progress", "reason": "开始化解"}, token_from=page)
    # a resolution without its reason is refused and changes nothing
    web.post(f"{page}/do/resolution", {"basis": "otherwise_settled", "decision": "补发补偿款"},
             token_from=page)
    db.session.expire_all()
    assert db.session.get(Case, world.case.id).status == "in_progress"
    web.post(f"{page}/do/resolution", {"basis": "otherwise_settled", "decision": "补发补偿款",
                                       "reason": "区政府已补发差额"}, token_from=page)
    web.post(f"{page}/do/cessation", {"basis": "undertaking", "signed_on": "2025-07-01"}, token_from=page)
    db.session.expire_all()
    case = db.session.get(Case, world.case.id)
    assert case.status == "resolved" and "petitioning_ceased" in case.flags
    assert "登记再次信访" in web.text(page)
    web.post(f"{page}/do/petition", {"received_on": "2025-08-01", "summary": "补偿款又被扣回"},
             token_from=page)
    db.session.expire_all()
    case = db.session.get(Case, world.case.id)
    assert case.status == "reopened" and "reopened_after_resolution" in case.flags
    types = [e.type for e in db.session.execute(sa.select(Event).where(
        Event.case_id == world.case.id).order_by(Event.seq)).scalars()]
    assert "case.petitioning_ceased" in types and "case.petitioning_resumed" in types


def test_the_officer_keeps_the_case_file_up_to_date(web, world):
    web.sign_in(world.officer)
    page = f"/cases/{world.case.id}"
    web.post(f"{page}/do/dossier", {"title": "征地拆迁补偿纠纷（补充）",
                                    "departments": "区自然资源局、街道办",
                                    "background": "2019年片区开发", "focal_conflict": "附着物补偿标准"},
             token_from=page)
    db.session.expire_all()
    case = db.session.get(Case, world.case.id)
    assert case.title == "征地拆迁补偿纠纷（补充）" and case.departments == ["区自然资源局", "街道办"]
    assert case.background == "2019年片区开发" and case.focal_conflict == "附着物补偿标准"
    before = counts()
    web.post(f"{page}/do/dossier", {"title": "x" * 300}, token_from=page)  # too long: refused
    assert counts() == before
    assert "修改一案一档" in web.text(page)
    web.sign_in(world.mediator)  # who has nothing to do with the case
    assert web.post(f"{page}/do/dossier", {"title": "改"}, token_from="/").status_code == 404
    assert counts() == before


def test_the_case_page_timeline_shows_the_newest_events_first(web, world, monkeypatch):
    from mediation import pages, timeline

    monkeypatch.setattr(pages, "TIMELINE_SHOWN", 5)  # a long case, made short
    for i in range(8):
        timeline.append(db.session, world.case.id, "internal_note.posted" if i % 2 else "message.posted",
                        {"body": f"第{i}条"}, world.officer.id)
    db.session.commit()
    web.sign_in(world.officer)
    part = web.text(f"/cases/{world.case.id}?part=case_timeline")
    seqs = [int(s) for s in re.findall(r'data-seq="(\d+)"', part)]
    db.session.expire_all()
    last = db.session.get(Case, world.case.id).last_seq
    assert seqs == list(range(last, last - 5, -1))  # the newest five, newest first
