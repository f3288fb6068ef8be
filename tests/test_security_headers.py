"""What the responses themselves carry, over real HTTP against a served app: pages and API
answers are never cached (`Cache-Control: no-store`), the Socket.IO endpoint (answered
below Flask) has the security headers too, and survey tokens never reach the access log."""

from __future__ import annotations

import logging
import re
import time

import pytest
import requests

from tests.factories import case_payload
from tests.security_live import Browser

pytestmark = pytest.mark.slow


def test_pages_and_api_answers_are_not_stored(app, api, live):
    officer = api.user("case_officer", "510104")
    browser = Browser(live.base)
    assert browser.login(officer.username).status_code == 302
    for path in ("/board", "/cases/new", "/login"):
        r = browser.get(path)
        assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store", path
    r = requests.get(live.base + "/api/auth/me", timeout=30,
                     headers={"Authorization": f"Bearer {api.tokens[officer.id]}"})
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    r = requests.get(live.base + "/api/cases/999999", timeout=30,
                     headers={"Authorization": f"Bearer {api.tokens[officer.id]}"})
    assert r.status_code == 404 and r.headers["Cache-Control"] == "no-store"
    # the static files, the same for everyone, may be cached
    r = requests.get(live.base + "/static/vendor/socket.io.min.js", timeout=30)
    assert r.status_code == 200 and "no-store" not in r.headers.get("Cache-Control", "")


def test_socket_io_responses_carry_the_security_headers(live):
    url = live.base + "/socket.io/"
    for r in (requests.get(url, params={"EIO": "4", "transport": "polling"}, timeout=30),
              requests.get(url, params={"EIO": "4", "transport": "bogus"}, timeout=30)):
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["X-Frame-Options"] == "SAMEORIGIN"
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
        assert r.headers["Cache-Control"] == "no-store"
        assert r.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_survey_tokens_never_reach_the_access_log(app, api, live):
    officer, supervisor = api.user("case_officer", "510104"), api.user("supervisor", "51")
    headers = {"Authorization": f"Bearer {api.tokens[officer.id]}"}
    case = requests.post(live.base + "/api/cases", json=case_payload(), headers=headers, timeout=30)
    assert case.status_code == 201, case.text
    survey = requests.post(f"{live.base}/api/cases/{case.json()['id']}/surveys", json={}, timeout=30,
                           headers={"Authorization": f"Bearer {api.tokens[supervisor.id]}"})
    assert survey.status_code == 201, survey.text
    token = survey.json()["token"]
    # Opening the link moves its token into the session: the form's address carries none.
    petitioner = requests.Session()
    link = petitioner.get(f"{live.base}/survey/{token}", allow_redirects=False, timeout=30)
    assert link.status_code == 303 and link.headers["Location"] == "/survey"
    form = petitioner.get(f"{live.base}/survey", timeout=30)
    assert form.status_code == 200 and 'name="rating"' in form.text and token not in form.text
    forged = requests.post(f"{live.base}/survey", data={"rating": "1"}, cookies=petitioner.cookies,
                           timeout=30)
    assert forged.status_code == 400  # without the form's CSRF token
    assert requests.get(f"{live.base}/api/surveys/{token}", timeout=30).status_code == 200
    again = requests.get(f"{live.base}/survey/{token}?x=1", allow_redirects=False, timeout=30)
    assert again.status_code == 303
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)[1]
    done = petitioner.post(f"{live.base}/survey", timeout=30,
                           data={"rating": "5", "comment": "", "csrf_token": csrf})
    assert done.status_code == 200 and "感谢您的评价" in done.text
    assert petitioner.get(f"{live.base}/survey", timeout=30).status_code == 410  # used, and gone
    deadline = time.monotonic() + 10
    while "/survey/[redacted]" not in live.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)  # the access line is written after the response
    log = live.log.read_text()
    assert "/survey/[redacted]" in log and "/api/surveys/[redacted]" in log, log[-1500:]
    assert token not in log


LOGGERS = ("mediation.access", "werkzeug", "gunicorn.access")


def test_the_access_loggers_redact_survey_tokens(app):
    """The lines werkzeug, gunicorn and the app's own access log write for each request,
    as they write them, come out without the token (the app installs the filter)."""
    token = "AbCdEf0123456789-secret_token"
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    keep = Keep()
    for name in LOGGERS:
        logging.getLogger(name).addHandler(keep)
        logging.getLogger(name).setLevel(logging.INFO)
        logging.getLogger(name).disabled = False  # Alembic's fileConfig may have turned it off
    try:
        logging.getLogger("werkzeug").info('%s - - [%s] "%s" %s %s', "127.0.0.1", "29/Nov/2026 23:00:00",
                                           f"GET /survey/{token}?x=1 HTTP/1.1", 200, "-")
        logging.getLogger("gunicorn.access").info('%(h)s "%(r)s" %(s)s', {
            "h": "10.0.0.1", "r": f"POST /api/surveys/{token} HTTP/1.1", "s": "200"})
        logging.getLogger("mediation.access").info("%s %s %s %.1fms", "GET", f"/survey/{token}", 303, 1.5)
    finally:
        for name in LOGGERS:
            logging.getLogger(name).removeHandler(keep)
    assert len(seen) == 3 and all("[redacted]" in line for line in seen)
    assert not any(token in line for line in seen)
    assert "GET /survey/[redacted]?x=1" in seen[0] and "POST /api/surveys/[redacted]" in seen[1]
    assert seen[2].startswith("GET /survey/[redacted] 303")
