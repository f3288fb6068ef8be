"""The foundation's pages: login with CSRF, the signed-in user's cases, one case's file."""

import re

import pytest

from tests.factories import PASSWORD
from tests.people import person


@pytest.fixture
def browser(app):
    """A client that keeps cookies and posts forms with CSRF on, as a browser would."""
    before = app.config["WTF_CSRF_ENABLED"]
    app.config["WTF_CSRF_ENABLED"] = True
    yield app.test_client()
    app.config["WTF_CSRF_ENABLED"] = before


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the form carries a CSRF token"
    return match.group(1)


def login(browser, username: str, password: str = PASSWORD):
    page = browser.get("/login").get_data(as_text=True)
    return browser.post("/login", data={"username": username, "password": password,
                                        "csrf_token": csrf_token(page)})


def test_pages_need_a_login(browser):
    r = browser.get("/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_a_login_form_without_its_csrf_token_is_refused(api, browser):
    officer = person(api, "case_officer", "510104")
    r = browser.post("/login", data={"username": officer.username, "password": PASSWORD})
    assert r.status_code == 400
    assert browser.get("/").status_code == 302  # still not signed in


def test_wrong_password_is_refused_in_chinese(api, browser):
    officer = person(api, "case_officer", "510104")
    r = login(browser, officer.username, "not-the-password")
    assert r.status_code == 401 and "用户名或密码错误" in r.get_data(as_text=True)


def test_signed_in_officer_sees_own_region_cases_and_not_others(api, browser):
    officer = person(api, "case_officer", "510104")
    other = person(api, "case_officer", "510105")
    mine = api.case(officer, title="锦江区的案件")
    theirs = api.case(other, title="青羊区的案件", region_code="510105")
    r = login(browser, officer.username)
    assert r.status_code == 302
    home = browser.get("/").get_data(as_text=True)
    assert mine["reference"] in home and theirs["reference"] not in home
    page = browser.get(f"/cases/{mine['id']}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "一案一档" in text and "case.created" in text
    assert "510104198001011234" not in text and "**************1234" in text  # masked
    assert browser.get(f"/cases/{theirs['id']}").status_code == 404


def test_open_redirect_after_login_is_refused(api, browser):
    officer = person(api, "case_officer", "510104")
    page = browser.get("/login").get_data(as_text=True)
    r = browser.post("/login?next=//evil.example/", data={
        "username": officer.username, "password": PASSWORD, "csrf_token": csrf_token(page)})
    assert r.status_code == 302 and r.headers["Location"] == "/"


def test_logout_needs_csrf_and_ends_the_session(api, browser):
    officer = person(api, "case_officer", "510104")
    login(browser, officer.username)
    assert browser.post("/logout").status_code == 400  # no token: refused
    assert browser.get("/").status_code == 200
    token = csrf_token(browser.get("/").get_data(as_text=True))
    assert browser.post("/logout", data={"csrf_token": token}).status_code == 302
    assert browser.get("/").status_code == 302

