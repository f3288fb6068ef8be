"""`next=` leads only to a path on this site, on every route that takes it (the login form
and the language switch), over real HTTP against a served app: control characters are
removed first, then anything with a scheme or a host is refused, including the spellings
browsers read as another host."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests

from mediation.web import safe_next
from tests.factories import make_user
from tests.security_live import Browser

pytestmark = pytest.mark.slow

EVIL = ["https://evil.example/", "http:evil.example", "//evil.example", "///evil.example",
        "\\\\evil.example", "/\\evil.example", "\\/evil.example", "/\t/evil.example",
        "/\n/evil.example", "/\r\n/evil.example", "\x00//evil.example", " //evil.example",
        "/\x1b/evil.example", "javascript:alert(1)", "JAVASCRIPT:alert(1)", "data:text/html,x",
        "evil.example", "", "ftp://evil.example/x"]
GOOD = ["/board", "/cases/7?part=case_timeline", "/supervision/ledger#upload"]


def stays_here(location: str, base: str) -> bool:
    parts = urlsplit(location)
    return (not parts.scheme and not parts.netloc and location.startswith("/")
            and not location.startswith("//") and "\\" not in location) or location.startswith(base + "/")


def refused_for_nul(r, target: str) -> bool:
    """A NUL character is refused in every request (422) before any view runs: no redirect."""
    if "\x00" not in target:
        return False
    assert r.status_code == 422 and "Location" not in r.headers, (target, r.status_code)
    return True


@pytest.mark.parametrize("target", EVIL)
def test_the_helper_refuses_anything_that_leaves_the_site(target):
    assert safe_next(target, "/home") == "/home"


@pytest.mark.parametrize("target", GOOD)
def test_the_helper_keeps_a_path_here(target):
    assert safe_next(target, "/home") == target


def test_login_next_leads_only_here(app, live):
    with app.app_context():
        name = make_user("case_officer", "510104").username
    for target in EVIL:
        r = Browser(live.base).login(name, next_=target)
        if refused_for_nul(r, target):
            continue
        assert r.status_code == 302, (target, r.status_code)
        assert stays_here(r.headers["Location"], live.base), (target, r.headers["Location"])
        assert "evil" not in r.headers["Location"] and "javascript" not in r.headers["Location"].lower()
    for target in GOOD:
        r = Browser(live.base).login(name, next_=target)
        assert r.status_code == 302 and r.headers["Location"] == target


def test_language_switch_next_leads_only_here(live):
    for target in EVIL:
        r = requests.get(live.base + "/lang/en", params={"next": target}, allow_redirects=False, timeout=30)
        if refused_for_nul(r, target):
            continue
        assert r.status_code == 302, target
        assert stays_here(r.headers["Location"], live.base), (target, r.headers["Location"])
        assert "evil" not in r.headers["Location"]
    r = requests.get(live.base + "/lang/en", params={"next": "/board"}, allow_redirects=False, timeout=30)
    assert r.headers["Location"] == "/board"


def test_the_login_pages_own_next_round_trips(live):
    # login_required sends a signed-out visitor to /login?next=<where they were going>
    r = requests.get(live.base + "/board?status=intake", allow_redirects=False, timeout=30)
    assert r.status_code == 302
    location = urlsplit(r.headers["Location"])
    assert location.path == "/login" and "next=" in location.query


def test_every_route_reads_next_through_the_one_helper():
    """A new route that redirected to `next` by itself would reopen the hole."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    reads = re.compile(r"""(args|form|values)(\.get\(|\[)\s*["']next["']""")
    unguarded = [f"{path.relative_to(root)}:{n}"
                 for package in ("mediation", "referrals", "realtime")
                 for path in (root / package).rglob("*.py")
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if reads.search(line) and "safe_next(" not in line]
    assert unguarded == [], unguarded
