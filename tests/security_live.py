"""A real `mediation serve` for the security tests, on the test run's own database (so a
test makes its users with the factories and talks to the server over real HTTP), and a
browser-like `requests` session that signs in through the login form. No test here."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests

from tests.factories import PASSWORD
from tests.test_realtime_live import LiveServer

# Small limits so that the throttling tests reach them in a few requests; plain HTTP, so
# cookies without the Secure flag (on PostgreSQL the server is not embedded, where the
# flag is on by default and a client over http:// would never send the cookie back).
LIVE_ENV = {"MEDIATION_LOGIN_ACCOUNT_LIMIT": "3 per 15 minutes",
            "MEDIATION_LOGIN_IP_LIMIT": "25 per 15 minutes",
            "MEDIATION_SECURE_COOKIES": "false"}


@pytest.fixture(scope="module")
def live(app, database_url, tmp_path_factory) -> Iterator[LiveServer]:
    """The server, sharing the `app` fixture's database (cleaned after every test)."""
    server = LiveServer(tmp_path_factory.mktemp("security-live"), database_url, **LIVE_ENV).start()
    yield server
    server.stop()


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page carries a CSRF token"
    return match.group(1)


class Browser:
    """One browser's cookies against the live server."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()

    def get(self, path: str, **kw) -> requests.Response:
        return self.http.get(self.base + path, allow_redirects=False, timeout=30, **kw)

    def post_form(self, path: str, data: dict, token_from: str = "/login") -> requests.Response:
        token = csrf_token(self.get(token_from).text)
        return self.http.post(self.base + path, data={**data, "csrf_token": token},
                              allow_redirects=False, timeout=30)

    def login(self, username: str, password: str = PASSWORD, next_: str | None = None) -> requests.Response:
        path = "/login" + (f"?next={requests.utils.quote(next_, safe='')}" if next_ is not None else "")
        return self.post_form(path, {"username": username, "password": password})
