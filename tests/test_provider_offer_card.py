"""The offer card in the provider's inbox tells enough to decide: the case's summary, its focal
conflict, the parties (masked), the respondent units, the deadline as a Beijing day and time,
and a link to the case page for a conflict check — which the offered provider may open while
the offer is open and which is a 404 once it is declined (the continuity rule: a declined
offer keeps nothing)."""

from __future__ import annotations

import datetime as dt

from mediation import clock
from mediation.extensions import db
from mediation.users import User
from referrals.models import Referral
from referrals.pages import deadline_words, mask_name
from tests.factories import make_case
from tests.test_provider_pages import Browser, offer, part
from tests.test_provider_pages import web as web  # noqa: F401 - a fixture used through `world`
from tests.test_provider_pages import world as world  # noqa: F401 - the fixture


def test_mask_name_keeps_the_first_character_only():
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳娜娜") == "欧***"
    assert mask_name("李") == "李*"
    assert mask_name("") == "—"


def test_deadline_words_is_the_beijing_day_and_time():
    # 17:30 UTC on a Sunday is 01:30 on Monday in Beijing.
    assert deadline_words(dt.datetime(2026, 11, 29, 17, 30, tzinfo=dt.UTC)) == "2026-11-30 周一 01:30"


def _case_with_facts(app, w) -> int:
    with app.app_context():
        officer = db.session.get(User, w.officer.id)
        case = make_case(officer, title="欠薪纠纷丙", summary="工人反映工程款拖欠导致工资未发",
                         departments=["区住建局", "某建筑公司"], needs=["economic_compensation"],
                         focal_conflict="总包与分包就工程款结算金额各执一词",
                         petitioners=[{"name": "欧阳娜娜", "phone": "13800138001"},
                                      {"name": "王五", "phone": "13800138002"}])
        cid = case.id
        db.session.remove()
    return cid


def test_the_card_shows_the_facts_masked_parties_deadline_and_the_case_link(app, world):  # noqa: F811 - the imported fixture
    w = world
    cid = _case_with_facts(app, w)
    rid = offer(app, w, "economic_compensation", w.p_med[0], case_id=cid)
    me = Browser(app, w.mediators[0])
    card = part(me.text("/inbox"), "inbox_offers")
    assert "工人反映工程款拖欠导致工资未发" in card
    assert "总包与分包就工程款结算金额各执一词" in card
    assert "欧*** 、王*" not in card and "欧***、王*" in card  # masked, joined in Chinese
    assert "欧阳娜娜" not in card and "王五" not in card and "13800138001" not in card
    assert "区住建局、某建筑公司" in card
    with app.app_context():
        respond_by = db.session.get(Referral, rid).respond_by
    assert deadline_words(respond_by) in card and "北京时间" in card
    assert clock.local(respond_by).strftime("%Y-%m-%d") in card
    assert f'href="/cases/{cid}"' in card
    # The link works for the offered provider: the case page, numbers masked there too.
    case_page = me.text(f"/cases/{cid}")
    assert "欠薪纠纷丙" in case_page and "13800138001" not in case_page
    # Declined: the case is a 404 again and the card is gone.
    r = me.post("/inbox", {"action": "decline", "referral_id": rid, "reason": "conflict_of_interest"},
                "/inbox")
    assert r.status_code == 302
    assert f'data-referral="{rid}"' not in me.text("/inbox?part=inbox_offers")
    assert me.get(f"/cases/{cid}").status_code == 404
    # A provider with no referral on the case never sees it (the need went on to the other
    # mediator, who now may).
    assert Browser(app, w.counsellors[0]).get(f"/cases/{cid}").status_code == 404


def test_the_card_in_english(app, world):  # noqa: F811 - the imported fixture
    w = world
    cid = _case_with_facts(app, w)
    offer(app, w, "economic_compensation", w.p_med[0], case_id=cid)
    me = Browser(app, w.mediators[0])
    me.get("/lang/en")
    card = part(me.text("/inbox"), "inbox_offers")
    for words in ("Summary", "Focal conflict", "Party", "Respondent units", "conflict of interest",
                  "Beijing time"):
        assert words in card, words
    assert "Mon" in card or "Tue" in card or "Wed" in card or "Thu" in card or "Fri" in card \
        or "Sat" in card or "Sun" in card


def test_the_case_link_is_a_404_once_the_offer_is_withdrawn_or_expires(app, world):  # noqa: F811
    from referrals import lifecycle
    from referrals.routing import sweep

    w = world
    cid = _case_with_facts(app, w)
    rid = offer(app, w, "economic_compensation", w.p_med[0], case_id=cid)
    me = Browser(app, w.mediators[0])
    assert me.get(f"/cases/{cid}").status_code == 200
    with app.app_context():
        lifecycle.withdraw(db.session.get(User, w.officer.id), rid, "改派")
        db.session.remove()
    assert me.get(f"/cases/{cid}").status_code == 404
    assert f'href="/cases/{cid}"' not in me.text("/inbox")
    # An offer left to expire: the sweep closes it, and the case is gone from the provider.
    rid = offer(app, w, "economic_compensation", w.p_med[1], case_id=cid)
    other = Browser(app, w.mediators[1])
    assert other.get(f"/cases/{cid}").status_code == 200
    with app.app_context():
        respond_by = db.session.get(Referral, rid).respond_by
        sweep(now=respond_by + dt.timedelta(minutes=1))
        assert db.session.get(Referral, rid).status == "expired"
        db.session.remove()
    assert other.get(f"/cases/{cid}").status_code == 404
