"""A caucus (背靠背调解) in Chromium against the served demo: the demo mediator, the demo lawyer
(the side in the caucus) and the demo counsellor (the other side: the demo's petitioners and
respondents have no accounts) open the room of a session in progress in three profiles. The
mediator opens a private channel with the lawyer on the room page; the lawyer sees it live
and answers; the mediator sees the answer live. Every Socket.IO frame each browser receives —
over the WebSocket (Playwright's framereceived) and over HTTP long-polling before the upgrade
— is kept: the counsellor's never carry the private messages, while they do carry the room's
public message sent after them (so delivery to that browser was working)."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import Page

from tests.browser import LIVE_WAIT_MS, DemoServer, shot, sign_in, wait_live
from tests.test_browser_sessions import CASE_TITLE, accept_referral, ok
from tests.test_sessions_caucus_live import _readable

pytestmark = pytest.mark.slow

SECRET = "背靠背：对方底线是四万元"
REPLY = "我方可以接受四万五"
PUBLIC = "全体：休会结束，继续调解"


@pytest.fixture(scope="module")
def room(demo_server: DemoServer) -> dict:
    """A demo case with the mediator's, the lawyer's and the counsellor's referrals accepted
    and a session with the two of them started."""
    demo = demo_server
    cases = ok(demo.api("GET", "/api/cases?page_size=100", "officer"))
    items = cases["items"] if isinstance(cases, dict) else cases
    case = next(c for c in items if c["title"] == CASE_TITLE)
    accept_referral(demo, case["id"], "economic_compensation", "mediator", "mediator")
    accept_referral(demo, case["id"], "legal_opinion", "lawyer", "lawyer")
    accept_referral(demo, case["id"], "counselling", "counsellor", "counsellor")
    ids = {who: ok(demo.api("GET", "/api/auth/me", who))["id"]
           for who in ("mediator", "lawyer", "counsellor")}
    when = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).isoformat()
    session = ok(demo.api("POST", f"/api/cases/{case['id']}/sessions", "mediator", {
        "scheduled_at": when, "place": "锦江区人民调解委员会第一调解室", "topic": "附着物补偿款差额",
        "respondents": [{"name": "李科长", "unit": "区自然资源局"}],
        "user_ids": [ids["lawyer"], ids["counsellor"]]}), 201)
    for p in case.get("petitioners", []):  # people's mediation: the parties' consent first
        r = demo.api("POST", f"/api/cases/{case['id']}/consents", "officer",
                     {"petitioner_id": p["id"], "method": "written"})
        assert r.status_code in (201, 409), r.text
    ok(demo.api("POST", f"/api/sessions/{session['id']}/start", "mediator", {}))
    return {"case_id": case["id"], "session_id": session["id"], **ids}


class Frames:
    """Every Socket.IO payload a page is sent: WebSocket frames as they arrive, and the bodies
    of the long-polling answers (read at the end) from before the upgrade."""

    def __init__(self, page: Page) -> None:
        self.ws: list[str] = []
        self.sockets = 0
        self.polls = []
        page.on("websocket", self._socket)
        page.on("response", lambda r: self.polls.append(r)
                if "/socket.io/" in r.url and r.request.method == "GET" else None)

    def _socket(self, ws) -> None:
        if "/socket.io/" in ws.url:
            self.sockets += 1
            ws.on("framereceived", lambda payload: self.ws.append(_readable(payload)))

    def all(self) -> list[str]:
        polled = []
        for r in self.polls:
            try:
                polled.append(_readable(r.text()))
            except Exception as exc:  # noqa: BLE001 - a poll cut short by the upgrade has no body
                gone = ("No resource with given identifier", "body is unavailable")
                if not any(g in str(exc) for g in gone):
                    raise
        # A long-poll answer may hold several packets: look in the text with escapes undone too.
        return self.ws + polled + [p.encode().decode("unicode_escape", "ignore") for p in polled]


def test_the_other_side_never_receives_the_caucus(contexts, demo_server, room):
    base = demo_server.base
    url = f"{base}/sessions/{room['session_id']}"
    pages: dict[str, Page] = {}
    frames: dict[str, Frames] = {}
    for who in ("mediator", "lawyer", "counsellor"):
        page = contexts().new_page()
        frames[who] = Frames(page)
        sign_in(page, base, who)
        page.goto(url + (f"?caucus={room['lawyer']}" if who == "mediator" else ""))
        wait_live(page)
        pages[who] = page
    m, lw, other = pages["mediator"], pages["lawyer"], pages["counsellor"]
    # Everyone is in the room (so the live connections are up and subscribed).
    for page in pages.values():
        for who in ("mediator", "lawyer", "counsellor"):
            page.wait_for_selector(f'#present-list .person[data-user-id="{room[who]}"]', timeout=LIVE_WAIT_MS)
    # The mediator's panel offers both sides; the lawyer's and counsellor's are still empty.
    assert m.locator(f'[data-caucus-side="{room["counsellor"]}"]').count() == 1
    assert m.locator("#caucus-form").count() == 1
    assert lw.locator("#caucus").is_hidden() and other.locator("#caucus").is_hidden()
    # The mediator opens the channel with the lawyer; the lawyer sees it without reloading.
    for page in pages.values():
        page.evaluate("window.__untouched = true")
    m.fill("#caucus-body", SECRET)
    m.click("#caucus-form button[type=submit]")
    m.wait_for_selector(f'#part-session_caucus .msg:has-text("{SECRET}")', timeout=LIVE_WAIT_MS)
    lw.wait_for_selector(f'#part-session_caucus .msg:has-text("{SECRET}")', timeout=LIVE_WAIT_MS)
    assert m.input_value("#caucus-body") == ""
    # The lawyer answers in the channel; the mediator sees it live.
    lw.fill("#caucus-body", REPLY)
    lw.click("#caucus-form button[type=submit]")
    m.wait_for_selector(f'#part-session_caucus .msg:has-text("{REPLY}")', timeout=LIVE_WAIT_MS)
    lw.wait_for_selector(f'#part-session_caucus .msg:has-text("{REPLY}")', timeout=LIVE_WAIT_MS)
    for page in pages.values():  # nobody reloaded: posted in the background, shown live
        assert page.evaluate("window.__untouched === true")
    # Then the mediator speaks to the whole room: once the other side has it, anything sent
    # before it would have reached that browser too.
    m.fill("#f-body", PUBLIC)
    m.click("#chat-form button[type=submit]")
    other.wait_for_selector(f'#part-session_chat .msg:has-text("{PUBLIC}")', timeout=LIVE_WAIT_MS)
    lw.wait_for_selector(f'#part-session_chat .msg:has-text("{PUBLIC}")', timeout=LIVE_WAIT_MS)
    assert other.evaluate("window.__untouched === true")  # the other side never reloaded
    shot(m, "caucus-mediator")
    shot(lw, "caucus-lawyer")
    shot(other, "caucus-other-side")
    # The other side's page and every frame its browser received: no trace of the caucus.
    assert SECRET not in other.content() and REPLY not in other.content()
    assert other.locator("#caucus").is_hidden()
    assert other.locator("#part-session_caucus .msg").count() == 0
    seen = frames["counsellor"].all()
    assert frames["counsellor"].sockets >= 1
    assert any(PUBLIC in f for f in seen), "the other side's browser received the public message"
    leaked = [f for f in seen if SECRET in f or REPLY in f or "session.caucus" in f]
    assert not leaked, leaked
    # The lawyer's browser was sent the private message over its socket (the check can see it).
    assert any(SECRET in f and "session.caucus.posted" in f for f in frames["lawyer"].all())
    # The minutes say which channel each note came from.
    notes = ok(demo_server.api("GET", f"/api/sessions/{room['session_id']}/minutes", "mediator"))["notes"]
    channels = {n["body"]: n["channel"] for n in notes}
    assert channels[SECRET] == channels[REPLY] == f"caucus:{room['lawyer']}"
    assert channels[PUBLIC] == "session"
