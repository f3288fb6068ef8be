"""The printable agreement (调解协议书): every statutory part and a signature line for every
signer, behind the login session and the agreement's permission check."""

from __future__ import annotations

import re

import pytest

from mediation.sessions.models import STATUTORY_PARTS
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
    assert "人民调解协议书" in html and "size: A4" in html
    for field, heading in STATUTORY_PARTS:
        assert heading in html and f'id="{field}"' in html
    content = complete_content(w)
    for field in ("facts", "matters_in_dispute", "responsibilities", "terms", "performance_manner",
                  "performance_time_limit"):
        assert content[field] in html
    for party in content["parties"]:
        assert party["name"] in html and party["details"] in html
    assert re.findall(r'data-signer="([^"]+)"', html) == ["party:0", "party:1", "mediator"]
    assert "按指印" in html  # party 0's signature, recorded in person
    assert "司法确认" in html and "待签署" in html


def test_the_printed_agreement_is_behind_login_and_permission(app, w):
    a = signed_agreement(w)
    path = f"/agreements/{a['id']}/print"
    assert app.test_client().get(path).status_code == 302
    assert browser_of(app, w.users["stranger"].username).get(path).status_code == 404
    assert browser_of(app, w.users["other_mediator"].username).get(path).status_code == 404
    assert browser_of(app, w.users["mediator"].username).get(path).status_code == 200
    assert browser_of(app, w.users["officer"].username).get("/agreements/999999/print").status_code == 404
