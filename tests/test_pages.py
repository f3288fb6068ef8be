"""The foundation's pages: login with CSRF, the signed-in user's cases, one case's file."""

import pytest

from tests.factories import PASSWORD
from tests.page_client import PageClient, csrf_token


@pytest.fixture
def client_(app, csrf_on) -> PageClient:
    """A client_-like client (cookies, CSRF on)."""
    return PageClient(app)


def login(page: PageClient, username: str, password: str = PASSWORD):
    return page.login(username, password)


def test_pages_need_a_login(client_):
    r = client_.get("/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_a_login_form_without_its_csrf_token_is_refused(api, client_):
    officer = api.user("case_officer", "510104")
    r = client_.client.post("/login", data={"username": officer.username, "password": PASSWORD})
    assert r.status_code == 400
    assert client_.get("/").status_code == 302  # still not signed in


def test_wrong_password_is_refused_in_chinese(api, client_):
    officer = api.user("case_officer", "510104")
    r = login(client_, officer.username, "not-the-password")
    assert r.status_code == 401 and "用户名或密码错误" in r.get_data(as_text=True)


def test_signed_in_officer_sees_own_region_cases_and_not_others(api, client_):
    officer = api.user("case_officer", "510104")
    other = api.user("case_officer", "510105")
    mine = api.case(officer, title="锦江区的案件")
    theirs = api.case(other, title="青羊区的案件", region_code="510105")
    r = login(client_, officer.username)
    assert r.status_code == 302
    home = client_.get("/").get_data(as_text=True)
    assert mine["reference"] in home and theirs["reference"] not in home
    page = client_.get(f"/cases/{mine['id']}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "一案一档" in text and "case.created" in text
    assert "510104198001011234" not in text and "****************34" in text  # masked
    assert client_.get(f"/cases/{theirs['id']}").status_code == 404


def test_open_redirect_after_login_is_refused(api, client_):
    officer = api.user("case_officer", "510104")
    page = client_.get("/login").get_data(as_text=True)
    r = client_.client.post("/login?next=//evil.example/", data={
        "username": officer.username, "password": PASSWORD, "csrf_token": csrf_token(page)})
    assert r.status_code == 302 and r.headers["Location"] == "/"


def test_logout_needs_csrf_and_ends_the_session(api, client_):
    officer = api.user("case_officer", "510104")
    login(client_, officer.username)
    assert client_.client.post("/logout").status_code == 400  # no token: refused
    assert client_.get("/").status_code == 200
    token = csrf_token(client_.get("/").get_data(as_text=True))
    assert client_.client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client_.get("/").status_code == 302



# --- templates: one folder per area, a live part found by its name -------------------------

def test_a_live_part_is_found_by_its_name_in_its_areas_folder():
    from mediation import web
    from mediation.errors import NotFound

    assert web.part_template("case_sessions") == "sessions/parts/case_sessions.html"
    assert web.part_template("case_head") == "cases/parts/case_head.html"
    assert web.part_template("inbox_offers") == "referrals/parts/inbox_offers.html"
    for name in ("nope", "../base", "Case_head", ""):
        with pytest.raises(NotFound):
            web.part_template(name)


def test_two_areas_may_not_bring_a_part_of_the_same_name(tmp_path, monkeypatch):
    from mediation import web

    for area in ("cases", "sessions"):
        (tmp_path / area / "parts").mkdir(parents=True)
        (tmp_path / area / "parts" / "case_x.html").write_text("x")
    monkeypatch.setattr(web, "TEMPLATES", tmp_path)
    web._parts.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="two live parts named 'case_x'"):
            web._parts()
    finally:
        monkeypatch.undo()
        web._parts.cache_clear()


def test_no_template_puts_markup_in_the_title_or_sections_in_the_head():
    """A page's <title> is words only, and the head holds no page content (an edit once
    pasted whole sections into both, doubling their ids)."""
    import re
    from pathlib import Path

    for path in Path(__file__).parent.parent.joinpath("templates").rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        for block, body in re.findall(r"{% block (title|head) %}(.*?){% endblock %}", text, re.S):
            if block == "title":
                assert "<" not in body, path
            else:
                assert not re.search(r"<(section|div|form|h\d|ul|table)\b", body), path
