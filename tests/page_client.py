"""Flask's test client used as a browser: it keeps cookies and posts forms with their CSRF
token, with CSRF protection on (the test app turns it off for the API tests). No test here.

    def test_x(app, csrf_on):
        page = PageClient(app).sign_in(user.username)
        html = page.text("/board")
        r = page.post("/cases/7/messages", {"body": "…"}, token_from="/cases/7")
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mediation.users import User
from tests.factories import PASSWORD


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page carries a CSRF token"
    return match.group(1)


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD):
    """Post the login form with its CSRF token on a plain test client; the response."""
    page = client.get("/login").get_data(as_text=True)
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_token(page)})


@pytest.fixture
def csrf_on(app: Flask) -> Iterator[None]:
    """CSRF protection on for this test, as in production."""
    before = app.config["WTF_CSRF_ENABLED"]
    app.config["WTF_CSRF_ENABLED"] = True
    yield
    app.config["WTF_CSRF_ENABLED"] = before


class PageClient:
    """One browser: `sign_in`, then `get`/`text` pages and `post` forms."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client = app.test_client()

    def sign_in(self, user: User | str, password: str = PASSWORD) -> PageClient:
        """Sign in as a user (a row from the factories, or a username)."""
        r = self.login(user if isinstance(user, str) else user.username, password)
        assert r.status_code == 302, r.get_data(as_text=True)
        return self

    def login(self, username: str, password: str = PASSWORD):
        return sign_in(self.client, username, password)

    def get(self, path: str, **kw):
        return self.client.get(path, **kw)

    def text(self, path: str, status: int = 200) -> str:
        r = self.client.get(path)
        assert r.status_code == status, (path, r.status_code)
        return r.get_data(as_text=True)

    def post(self, path: str, data: dict | None = None, token_from: str | None = None):
        """Post a form with the CSRF token of the page it is on (`token_from`, else `path`,
        falling back to the start page when `path` is not a page)."""
        source = self.client.get(token_from or path)
        if source.status_code != 200 or 'name="csrf_token"' not in source.get_data(as_text=True):
            source = self.client.get("/")
        return self.client.post(path, data={**(data or {}), "csrf_token": csrf_token(
            source.get_data(as_text=True))})

    def post_raw(self, path: str, data: dict | None = None):
        """Post without adding a CSRF token (to show it is required)."""
        return self.client.post(path, data=data or {})
