"""Safe and visible actions, and the small things users notice,
through the served pages: confirmations that say what will happen, withdrawals that say
what becomes of the need, clocks that never show a negative number, one word per date,
no duplicate ids on rendered pages, the favicon, and static files fingerprinted, cached and
compressed. (The dialogs themselves run in Chromium: tests/test_browser_print.py.)"""

from __future__ import annotations

import datetime as dt
import gzip
import re
from collections import Counter

import pytest
import sqlalchemy as sa

from mediation.extensions import db
from referrals.models import Referral, RoutingNeed
from tests.factories import World, make_case, make_provider, make_user
from tests.page_client import PageClient


@pytest.fixture
def web(app, csrf_on) -> PageClient:
    return PageClient(app)


@pytest.fixture
def world(ctx):
    officer = make_user("case_officer", "510104")
    mediator = make_user("mediator")
    make_provider("mediator", members=(mediator,), name="锦江调解室")
    make_provider("mediator", name="青羊调解室")
    case = make_case(officer, needs=["economic_compensation"])
    return World({"officer": officer, "mediator": mediator}, case=case)


def duplicate_ids(html: str) -> list[str]:
    return sorted(k for k, n in Counter(re.findall(r'\sid="([^"]+)"', html)).items() if n > 1)


def test_rendered_pages_have_no_duplicate_ids(web, world):
    web.sign_in(world.officer)
    web.post(f"/cases/{world.case.id}/routing", {}, token_from=f"/cases/{world.case.id}")
    for path in (f"/cases/{world.case.id}", "/board", "/cases/new", "/"):
        html = web.text(path)
        assert duplicate_ids(html) == [], (path, duplicate_ids(html))


def test_confirmations_say_what_will_happen(web, world):
    web.sign_in(world.officer)
    web.post(f"/cases/{world.case.id}/routing", {}, token_from=f"/cases/{world.case.id}")
    html = web.text(f"/cases/{world.case.id}")
    # A status change names the status it leaves and the one chosen; only reachable ones.
    form = re.search(r'<form[^>]*action="[^"]*/do/status"[^>]*>', html, re.S).group(0)
    assert "data-confirm=" in form and "{status}" in form and "由“受理登记”改为" in form
    options = re.search(r'id="f-status-status".*?</select>', html, re.S).group(0)
    assert re.findall(r'<option value="(\w+)"', options) == ["in_progress"]
    # Withdrawing: two buttons, each saying what becomes of the need.
    assert "撤回并改派下一位" in html and "撤回并取消此需求" in html
    assert "并把“经济补偿" in html or "邀请给下一位候选人" in html
    assert "不再邀请任何人，除非重新发起转介" in html
    assert 'data-word-back="不，返回"' in html and "/static/js/actions.js?v=" in html


def test_withdrawing_says_what_became_of_the_need(web, world):
    web.sign_in(world.officer)
    page = f"/cases/{world.case.id}"
    web.post(f"/cases/{world.case.id}/routing", {}, token_from=page)
    referral = db.session.execute(sa.select(Referral).where(Referral.case_id == world.case.id)).scalar_one()
    web.post(f"/referrals/{referral.id}/withdraw", {"reason": "当事人另行委托", "reroute": "0"},
             token_from=page)
    html = web.text(page)
    assert "转介已撤回；这项需求已取消，如仍需要请重新发起转介" in html
    db.session.expire_all()
    need = db.session.execute(sa.select(RoutingNeed).where(RoutingNeed.case_id == world.case.id)).scalar_one()
    assert need.state == "cancelled"


def test_withdrawing_and_rerouting_offers_the_need_again(web, world):
    web.sign_in(world.officer)
    page = f"/cases/{world.case.id}"
    web.post(f"/cases/{world.case.id}/routing", {}, token_from=page)
    first = db.session.execute(sa.select(Referral).where(Referral.case_id == world.case.id)).scalar_one()
    web.post(f"/referrals/{first.id}/withdraw", {"reason": "人手不足", "reroute": "1"}, token_from=page)
    assert "这项需求已改派下一位候选人" in web.text(page)
    db.session.expire_all()
    live = db.session.execute(sa.select(Referral).where(Referral.case_id == world.case.id,
                                                        Referral.status == "offered")).scalars().all()
    assert [r.id for r in live] != [first.id] and len(live) == 1


def test_clocks_say_overdue_by_how_much_and_never_a_negative_number(web, world):
    case = world.case
    case.received_on = dt.date(2019, 1, 2)
    case.accepted_on = dt.date(2019, 1, 10)
    case.replied_on = dt.date(2019, 2, 1)  # the review window lapsed long ago
    db.session.commit()
    web.sign_in(world.officer)
    html = web.text(f"/cases/{case.id}?part=case_clocks")
    assert not re.search(r">\s*-\d+\s*<", html), html
    assert "已过期" in html  # the lapsed window: its state, and no count
    for label in ("登记日期", "受理日期"):
        assert label in web.text(f"/cases/{case.id}") and label in web.text("/cases/new")
    assert "登记受理日期" not in web.text("/cases/new") and "受理告知日期" not in web.text("/cases/new")


def test_intake_marks_as_required_only_what_the_server_requires(web, world):
    web.sign_in(world.officer)
    html = web.text("/cases/new")
    marked = set(re.findall(r'<label for="f-([\w-]+)">[^<]*<span class="req"', html))
    assert {"title"} <= marked and "petitioners-0-name" not in marked
    # What the form does not mark, the server does not ask for: a case with a title and a
    # region (the region picker's own control) is taken in.
    from mediation.schemas.cases import CaseIn

    required = {name for name, f in CaseIn().fields.items() if f.required}
    assert required == {"title", "region_code"}


def test_static_files_are_fingerprinted_cached_and_compressed(app, web, world):
    web.sign_in(world.officer)
    html = web.text("/board")
    url = re.search(r'href="(/static/app\.css\?v=[0-9a-f]{12})"', html).group(1)
    client = app.test_client()
    r = client.get(url, headers={"Accept-Encoding": "gzip, br"})
    assert r.status_code == 200 and r.headers["Content-Encoding"] == "gzip"
    assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "Accept-Encoding" in r.headers["Vary"]
    body = gzip.decompress(r.get_data())
    assert b".flash" in body and len(r.get_data()) < len(body) / 2
    again = client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304 and again.get_data() == b""
    # Without the fingerprint (an ES module's import): revalidated each time, never stale.
    plain = client.get("/static/app.css")
    assert plain.status_code == 200 and plain.headers["Cache-Control"] == "no-cache"
    assert "Content-Encoding" not in plain.headers and b".flash" in plain.get_data()
    assert plain.headers.get("ETag")
    # A stale fingerprint is not cached for a year.
    assert client.get("/static/app.css?v=000000000000").headers["Cache-Control"] == "no-cache"


def test_the_favicon(app, web, world):
    client = app.test_client()
    r = client.get("/favicon.ico")
    assert r.status_code == 301 and "/static/favicon.svg" in r.headers["Location"]
    icon = client.get(r.headers["Location"])
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    web.sign_in(world.officer)
    assert 'rel="icon"' in web.text("/board")


def test_survey_choices_sit_by_their_words(app):
    from mediation.about import template_folder

    text = (template_folder() / "supervision" / "survey.html").read_text(encoding="utf-8")
    choices = text.split("<legend>评分</legend>")[1].split("</fieldset>")[0]
    assert '<label class="check rating"><input type="radio"' in choices and "<br>" not in choices
