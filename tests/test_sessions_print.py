"""The printable agreement (调解协议书): every statutory part and a signature line for every
signer, behind the login session and the agreement's permission check."""

from __future__ import annotations

import re

import pytest

from mediation import clock
from mediation.sessions.models import STATUTORY_PARTS
from mediation.sessions.pages import bare_name
from tests.factories import PASSWORD, complete_content, sessions_world


@pytest.fixture
def w(app, api):
    world = sessions_world(app, api.tokens)
    world.api = api
    return world


def browser_of(app, username: str):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    data = {"username": username, "password": PASSWORD}
    if token:
        data["csrf_token"] = token.group(1)
    assert client.post("/login", data=data).status_code == 302
    return client


def signed_agreement(w) -> dict:
    mediator = w.users["mediator"]
    a = w.api.post(f"/api/cases/{w.case_id}/agreements", mediator, complete_content(w)).get_json()
    w.api.post(f"/api/agreements/{a['id']}/finalise", mediator)
    w.api.post(f"/api/agreements/{a['id']}/sign", w.users["officer"],
               {"signer": "party", "party_index": 0, "method": "fingerprint"})
    return a


def test_the_printed_agreement_holds_every_part_and_signature_line(app, w):
    a = signed_agreement(w)
    page = browser_of(app, w.users["officer"].username).get(f"/agreements/{a['id']}/print")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "人民调解协议书" in html and "css/agreement_print.css" in html
    for field, heading in STATUTORY_PARTS:
        assert heading in html and f'id="{field}"' in html
    content = complete_content(w)
    for field in ("facts", "matters_in_dispute", "responsibilities", "terms", "performance_manner",
                  "performance_time_limit"):
        assert content[field] in html
    for party in content["parties"]:
        assert party["name"] in html and party["details"] in html
    assert re.findall(r'data-signer="([^"]+)"', html) == ["party:0", "party:1", "mediator", "issuer"]
    assert "按指印" in html  # party 0's signature, recorded in person
    assert "司法确认" in html and "待签署" in html
    # The recorded signature's day in Chinese, beside its block; the number of the document.
    day = clock.today()
    assert f"已记录：按指印<br>{day.year}年{day.month}月{day.day}日" in html
    assert re.search(r'id="doc-no">〔\d{4}〕人调字第1号<', html)


def test_the_printed_agreement_is_behind_login_and_permission(app, w):
    a = signed_agreement(w)
    path = f"/agreements/{a['id']}/print"
    assert app.test_client().get(path).status_code == 302
    assert browser_of(app, w.users["stranger"].username).get(path).status_code == 404
    assert browser_of(app, w.users["other_mediator"].username).get(path).status_code == 404
    assert browser_of(app, w.users["mediator"].username).get(path).status_code == 200
    assert browser_of(app, w.users["officer"].username).get("/agreements/999999/print").status_code == 404


def test_numbers_run_per_issuer_per_year_and_drafts_have_none(app, w):
    """〔year〕人调字第N号: the mediator's committee counts its own agreements in the Beijing
    year; a draft has no number yet; a second committee starts at 1."""
    first = signed_agreement(w)
    assert first["document_no"] is None  # as drafted
    got = w.api.get(f"/api/agreements/{first['id']}", w.users["mediator"]).get_json()
    year = clock.today().year
    assert got["document_no"] == f"〔{year}〕人调字第1号" and got["kind"] == "people"
    assert got["issuer"]  # the mediator's provider in the directory
    second = w.api.post(f"/api/cases/{w.case_id}/agreements", w.users["mediator"],
                        complete_content(w)).get_json()
    fin = w.api.post(f"/api/agreements/{second['id']}/finalise", w.users["mediator"]).get_json()
    assert fin["document_no"] == f"〔{year}〕人调字第2号" and fin["issuer"] == got["issuer"]
    with app.app_context():
        from mediation.sessions.numbering import next_number

        assert next_number("provider:999999", year) == 1  # another committee: its own count
        assert next_number("provider:999999", year + 1) == 1  # a new year: from 1 again


def test_an_agreement_with_an_administrative_organ_is_an_administrative_one(app, w):
    content = complete_content(w)
    content["parties"][1]["role"] = "organ"  # 锦江区自然资源局, an organ of government
    mediator = w.users["mediator"]
    a = w.api.post(f"/api/cases/{w.case_id}/agreements", mediator, content).get_json()
    officer = browser_of(app, w.users["officer"].username)
    html = officer.get(f"/agreements/{a['id']}/print").get_data(as_text=True)
    assert "行政调解协议书" in html and "（定稿后编号）" in html  # a draft: what it will be
    fin = w.api.post(f"/api/agreements/{a['id']}/finalise", mediator).get_json()
    assert fin["kind"] == "administrative" and "行调字" in fin["document_no"]
    html = officer.get(f"/agreements/{a['id']}/print").get_data(as_text=True)
    assert "<h1 id=\"doc-title\">行政调解协议书</h1>" in html and fin["document_no"] in html
    assert "行政机关：锦江区自然资源局" in html and "信访工作条例" in html
    assert "人民调解法》第三十三条" not in html and "人民调解协议书" not in html
    assert "行政调解员：" in html
    # The mediator says so on the drafting form: the party's role "被反映方（行政机关）".
    form = browser_of(app, mediator.username).get(f"/cases/{w.case_id}/agreements/new").get_data(as_text=True)
    assert '<option value="organ"' in form and "被反映方（行政机关）" in form


def test_no_title_is_printed_twice():
    assert bare_name("人民调解员 孙调解") == "孙调解"
    assert bare_name("调解员孙调解") == "孙调解"
    assert bare_name("人民调解员") == "人民调解员"  # a name that is only a title stays
    assert bare_name("张三") == "张三"
