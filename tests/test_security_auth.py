"""Authentication holds against guessing and stolen cookies, over real HTTP against a
served app: failed sign-ins throttled per account and per address (pages and API share
the count), the same answer for unknown accounts, logout that ends the server-side
session, idle and absolute session lifetimes, strong passwords, and no weak secret key."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from mediation import create_app
from mediation.config import ConfigError
from mediation.extensions import db
from mediation.passwords import password_problems
from mediation.users import User
from tests.conftest import PII_KEY
from tests.factories import PASSWORD, app_user
from tests.security_live import Browser

pytestmark = pytest.mark.slow


def make_user(app, role: str = "case_officer", region: str | None = "510104") -> User:
    # Hashed as production hashes: one test compares the hash methods of a real account
    # and of the unknown-account check.
    return app_user(app, role, region, real_hash=True)


def token_request(live, username: str, password: str) -> requests.Response:
    return requests.post(live.base + "/api/auth/tokens", timeout=30,
                         json={"username": username, "password": password})


def test_failed_sign_ins_are_throttled_per_account_across_pages_and_api(app, live):
    user, other = make_user(app), make_user(app)
    browser = Browser(live.base)
    assert browser.login(user.username, "wrong-password-1").status_code == 401
    assert token_request(live, user.username, "wrong-password-2").status_code == 401
    assert browser.login(user.username, "wrong-password-3").status_code == 401
    # The account's limit (3) is reached: even the right password is refused, on both doors.
    page = browser.login(user.username)
    assert page.status_code == 429 and "登录失败次数过多" in page.text
    assert int(page.headers["Retry-After"]) > 0
    api = token_request(live, user.username, PASSWORD)
    assert api.status_code == 429 and int(api.headers["Retry-After"]) > 0
    assert api.json()["retry_after"] > 0 and "token" not in api.json()
    # The account name is what counts, however it is typed.
    assert token_request(live, user.username.upper(), PASSWORD).status_code == 429
    # Another account from the same address still signs in.
    assert token_request(live, other.username, PASSWORD).status_code == 201
    assert Browser(live.base).login(other.username).status_code == 302


def test_with_redis_every_process_counts_the_same_failures(app, database_url, tmp_path):
    """Two app instances (as two web processes) on one Redis: the account's failures add up."""
    import redis

    from tests.conftest import build_app

    url = "redis://127.0.0.1:6379/0"
    user = make_user(app)
    first, second = (build_app(database_url, tmp_path / name, MEDIATION_REDIS_URL=url,
                               MEDIATION_LOGIN_ACCOUNT_LIMIT="3 per 15 minutes") for name in ("a", "b"))
    prefix = first.config["RATELIMIT_KEY_PREFIX"]
    try:
        assert first.config["RATELIMIT_STORAGE_URI"] == url
        attempts = [first, second, first]
        for one in attempts:
            r = one.test_client().post("/api/auth/tokens", json={"username": user.username,
                                                                 "password": "wrong-password"})
            assert r.status_code == 401
        for one in (first, second):
            r = one.test_client().post("/api/auth/tokens", json={"username": user.username,
                                                                 "password": PASSWORD})
            assert r.status_code == 429
        client = redis.Redis.from_url(url)
        assert any(prefix.encode() in key for key in client.scan_iter(match="LIMITS*"))
    finally:
        client = redis.Redis.from_url(url)
        for key in client.scan_iter(match=f"LIMITS*{prefix}*"):
            client.delete(key)


def test_unknown_accounts_get_the_same_answer_and_cost_a_password_check(app, client, monkeypatch):
    from mediation import login

    user = make_user(app)
    checked: list[str] = []
    real = login.check_password_hash

    def counting(pwhash: str, password: str) -> bool:
        checked.append(pwhash)
        return real(pwhash, password)

    monkeypatch.setattr(login, "check_password_hash", counting)
    unknown = client.post("/api/auth/tokens", json={"username": "no-such-user", "password": PASSWORD})
    wrong = client.post("/api/auth/tokens", json={"username": user.username, "password": "wrong-password"})
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.get_json() == wrong.get_json()
    # Both paid for one full password hash check, of the same method.
    assert len(checked) == 2 and checked[0].split("$")[0] == checked[1].split("$")[0]
    with app.app_context():
        db.session.execute(sa_update_active(user.id, False))
        db.session.commit()
    inactive = client.post("/api/auth/tokens", json={"username": user.username, "password": PASSWORD})
    assert inactive.status_code == 401 and inactive.get_json() == wrong.get_json()
    assert len(checked) == 3


def sa_update_active(user_id: int, active: bool):
    import sqlalchemy as sa

    return sa.update(User).where(User.id == user_id).values(active=active)


def test_logout_ends_the_session_on_the_server(app, live):
    user = make_user(app)
    first, second = Browser(live.base), Browser(live.base)
    assert first.login(user.username).status_code == 302
    assert second.login(user.username).status_code == 302
    stolen = dict(first.http.cookies)  # what someone copying the cookie would keep
    assert first.get("/board").status_code == 200
    assert first.post_form("/logout", {}, token_from="/board").status_code == 302
    # The old cookie, replayed, is no session any more; nor is the user's other session.
    replay = requests.get(live.base + "/board", cookies=stolen, allow_redirects=False, timeout=30)
    assert replay.status_code == 302 and "/login" in replay.headers["Location"]
    assert second.get("/board").status_code == 302
    # Signing in again works.
    assert first.login(user.username).status_code == 302 and first.get("/board").status_code == 200


def test_logout_also_closes_the_live_connections_its_cookie_opened(app, live):
    import threading

    import socketio

    user = make_user(app)
    browser = Browser(live.base)
    assert browser.login(user.username).status_code == 302
    gone = threading.Event()
    sio = socketio.Client(reconnection=False)
    sio.on("disconnect", lambda *args: gone.set())
    cookie = "; ".join(f"{k}={v}" for k, v in browser.http.cookies.items())
    sio.connect(live.base, headers={"Cookie": cookie}, transports=["websocket"], wait_timeout=20)
    try:
        assert sio.connected
        assert browser.post_form("/logout", {}, token_from="/board").status_code == 302
        assert gone.wait(20), "the cookie's connection outlived the logout"
    finally:
        if sio.connected:
            sio.disconnect()


def forged_session(app, user: User, signed_in_ago: float, seen_ago: float, generation: int = 0) -> str:
    """A session cookie as the server would have signed it (the tests know the key)."""
    now = time.time()
    data = {"_user_id": f"{user.id}:{generation}", "_fresh": True,
            "signed_in_at": int(now - signed_in_ago), "seen_at": int(now - seen_ago)}
    return app.session_interface.get_signing_serializer(app).dumps(data)


def test_sessions_end_after_idle_and_absolute_lifetimes(app, live):
    user = make_user(app)

    def board(cookie: str) -> int:
        return requests.get(live.base + "/board", cookies={"session": cookie}, allow_redirects=False,
                            timeout=30).status_code

    assert board(forged_session(app, user, signed_in_ago=60, seen_ago=30)) == 200
    # 30 minutes without a request (default idle lifetime)
    assert board(forged_session(app, user, signed_in_ago=3600, seen_ago=31 * 60)) == 302
    # 12 hours after signing in (default absolute lifetime), however active
    assert board(forged_session(app, user, signed_in_ago=12 * 3600 + 60, seen_ago=10)) == 302
    # a generation the user no longer has (logged out since)
    assert board(forged_session(app, user, signed_in_ago=60, seen_ago=30, generation=7)) == 302


@pytest.mark.parametrize("password, problem", [
    ("short-pass1", "at least 12"),
    ("password2025!", "too common"),
    ("123456qwerty", "too common"),
    ("Woaini1314520", "too common"),
    ("2025-11-29 12:00", "only digits"),
    ("abababababab", "different characters"),
])
def test_weak_passwords_are_refused(password, problem):
    assert any(problem in p for p in password_problems(password)), password_problems(password)


def test_every_way_of_setting_a_password_checks_it(app):
    assert password_problems("a-long-password-for-me") == []
    assert any("username" in p for p in password_problems("li_officer-secret-2025", "li_officer"))
    runner = app.test_cli_runner()
    for weak in ("short", "password123456", "qwertyuiop!!"):
        r = runner.invoke(args=["users", "create", "li_officer", "--role", "case_officer",
                                "--password-stdin"], input=weak + "\n")
        assert r.exit_code == 1 and "password:" in r.output, r.output
    with app.app_context():
        assert db.session.execute(db.select(User).where(User.username == "li_officer")).first() is None
    r = runner.invoke(args=["users", "create", "li_officer", "--role", "case_officer",
                            "--password-stdin"], input="a-long-password-for-me\n")
    assert r.exit_code == 0, r.output
    for weak in ("short", "password123456", "li_officer-2025-pass"):
        r = runner.invoke(args=["users", "reset-password", "li_officer", "--password-stdin"],
                          input=weak + "\n")
        assert r.exit_code == 1 and "password:" in r.output, r.output
    with app.app_context():
        user = db.session.execute(db.select(User).where(User.username == "li_officer")).scalar_one()
        assert user.check_password("a-long-password-for-me")


@pytest.mark.parametrize("secret", [" a-good-secret-key-0123456789-abcdefghij",
                                    "a-good-secret-key-0123456789-abcdefghij\n",
                                    "a good secret key 0123456789 abcdefghij",
                                    "short-0123456789",
                                    "ab" * 20])
def test_a_weak_secret_key_is_refused(tmp_path, secret):
    for database in (f"sqlite:///{tmp_path / 'x.db'}", "postgresql://nobody@127.0.0.1:1/none"):
        with pytest.raises(ConfigError, match="MEDIATION_SECRET_KEY"):
            create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "MEDIATION_DATABASE_URL": database,
                        "MEDIATION_SECRET_KEY": secret, "MEDIATION_PII_KEY": PII_KEY})


def test_a_burst_of_parallel_guesses_gets_no_more_tries_than_the_limit(app, live):
    from concurrent.futures import ThreadPoolExecutor

    user = make_user(app)
    with ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(lambda n: token_request(live, user.username, f"guess-{n}").status_code,
                              range(12)))
    # every guess is counted before any password is checked: three tries (the limit), no more
    assert codes.count(401) == 3 and codes.count(429) == 9, codes
    assert token_request(live, user.username, PASSWORD).status_code == 429


def test_failed_sign_ins_are_throttled_per_address(app, live):
    # Last in the module: it uses up the live server's address limit for everyone.
    fresh = make_user(app)
    for attempt in range(40):  # noqa: B007 (read after the loop)
        # a new name each time, so no account's own limit is what stops it
        r = token_request(live, f"nobody-{uuid.uuid4().hex[:8]}", "wrong-password")
        if r.status_code == 429:
            break
        assert r.status_code == 401
    else:
        pytest.fail("forty failed sign-ins from one address were never throttled")
    assert attempt <= 25  # the live server's address limit
    # Now the address is refused, even for an account that never failed.
    assert token_request(live, fresh.username, PASSWORD).status_code == 429
    assert Browser(live.base).login(fresh.username).status_code == 429
