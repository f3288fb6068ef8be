"""The caucus panel (背靠背调解) on the session room page, with Flask's test client and CSRF on:
the mediator picks a side and talks with it in private; that side sees its channel once
opened and answers; the other side, the officials watching and outsiders have no panel and
no way in (404). In Chromium, with the other side's socket frames checked, in
`test_browser_caucus.py`."""

from __future__ import annotations

import re

import pytest

from tests.factories import call, consent, session_body
from tests.page_client import PageClient

SECRET = "私下说：对方底线是四万"
REPLY = "我方可接受四万五"


def as_(app, w, who: str) -> PageClient:
    return PageClient(app).sign_in(w.users[who].username)


def part(page: PageClient, path: str) -> str:
    return page.text(path + ("&" if "?" in path else "?") + "part=session_caucus")


def counsellor_accepts(w) -> None:
    """The counsellor takes a counselling referral on the case: another side with an account
    who sees the case and the room (the petitioner and the respondent have none here)."""
    listed = call(w, "GET", "/api/providers?kind=counsellor", "officer").get_json()["items"]
    r = call(w, "POST", f"/api/cases/{w.case_id}/referrals", "officer",
             {"need": "counselling", "provider_id": listed[0]["id"]})
    assert r.status_code == 201, r.get_json()
    assert call(w, "POST", f"/api/referrals/{r.get_json()['id']}/accept", "counsellor").status_code == 200


@pytest.fixture
def room(app, w):
    """A session in progress with the lawyer, the counsellor and the deputy in it."""
    counsellor_accepts(w)
    r = call(w, "POST", f"/api/cases/{w.case_id}/sessions", "mediator", session_body(
        w, user_ids=[w.users["lawyer"].id, w.users["counsellor"].id]))
    assert r.status_code == 201, r.get_json()
    sid = r.get_json()["id"]
    consent(w)  # people's mediation starts with the parties' consent
    assert call(w, "POST", f"/api/sessions/{sid}/start", "mediator").status_code == 200
    return sid


def test_the_mediator_talks_with_one_side_on_the_page(app, w, room, csrf_on):
    lawyer, counsellor = w.users["lawyer"].id, w.users["counsellor"].id
    mediator = as_(app, w, "mediator")
    page = mediator.text(f"/sessions/{room}")
    assert 'data-part="session_caucus"' in page and 'data-on="session.caucus.,' in page
    assert f'data-caucus-side="{lawyer}"' in page and f'data-caucus-side="{counsellor}"' in page
    assert 'id="caucus-form"' not in page  # no side chosen yet
    chosen = mediator.text(f"/sessions/{room}?caucus={lawyer}")
    assert f'action="/sessions/{room}/caucus/{lawyer}"' in chosen
    chosen_url = f"/sessions/{room}?caucus={lawyer}"
    r = mediator.post(f"/sessions/{room}/caucus/{lawyer}", {"body": SECRET}, chosen_url)
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/sessions/{room}?caucus={lawyer}#caucus")
    assert SECRET in part(mediator, f"/sessions/{room}?caucus={lawyer}")
    # The lawyer's room shows the channel (the live part as pages.js fetches it) and answers.
    side = as_(app, w, "lawyer")
    mine = part(side, f"/sessions/{room}")
    assert SECRET in mine
    assert f'action="/sessions/{room}/caucus/{lawyer}"' in side.text(f"/sessions/{room}")
    r = side.post(f"/sessions/{room}/caucus/{lawyer}", {"body": REPLY}, f"/sessions/{room}")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/sessions/{room}#caucus")
    # The minutes name the channel.
    notes = call(w, "GET", f"/api/sessions/{room}/minutes", "mediator").get_json()["notes"]
    assert [(n["channel"], n["body"]) for n in notes] == [(f"caucus:{lawyer}", SECRET),
                                                         (f"caucus:{lawyer}", REPLY)]
    # The other side: a panel with nothing in it, the secret nowhere on its page.
    other = as_(app, w, "counsellor")
    for path in (f"/sessions/{room}", f"/sessions/{room}?caucus={lawyer}"):
        seen = other.text(path)
        assert SECRET not in seen and REPLY not in seen
        assert f'/caucus/{lawyer}"' not in seen  # only its own channel's form, hidden until opened
        assert f'/caucus/{counsellor}"' in seen and re.search(r'id="caucus"[^>]*\shidden', seen)
    assert other.post(f"/sessions/{room}/caucus/{lawyer}", {"body": "插话"},
                      f"/sessions/{room}").status_code == 404
    # The officer watching the case: no panel at all, and no way in.
    officer = as_(app, w, "officer")
    seen = officer.text(f"/sessions/{room}?caucus={lawyer}")
    assert 'data-part="session_caucus"' not in seen and SECRET not in seen
    alone = officer.get(f"/sessions/{room}?caucus={lawyer}&part=session_caucus")
    assert alone.get_data(as_text=True).strip() == ""
    assert officer.post(f"/sessions/{room}/caucus/{lawyer}", {"body": "插话"},
                        f"/sessions/{room}").status_code == 404
    # Someone outside the session and the case, and the invited deputy (who sees the session's
    # invitation, not the case): the room itself is a 404, and so is the channel.
    for who in ("other_mediator", "deputy"):
        page = as_(app, w, who)
        assert page.get(f"/sessions/{room}").status_code == 404
        assert page.post(f"/sessions/{room}/caucus/{lawyer}", {"body": "插话"}, "/").status_code == 404


def test_an_empty_caucus_message_is_422_beside_the_field(app, w, room, csrf_on):
    lawyer = w.users["lawyer"].id
    mediator = as_(app, w, "mediator")
    r = mediator.post(f"/sessions/{room}/caucus/{lawyer}", {"body": "   "},
                      f"/sessions/{room}?caucus={lawyer}")
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert 'id="caucus-body-error"' in html and 'aria-invalid="true"' in html


def test_after_the_session_the_channel_is_read_only(app, w, room, csrf_on):
    lawyer = w.users["lawyer"].id
    assert call(w, "POST", f"/api/sessions/{room}/caucus/{lawyer}/messages", "mediator",
                {"body": SECRET}).status_code == 201
    ended = call(w, "POST", f"/api/sessions/{room}/end", "mediator", {"minutes": "调解笔录"})
    assert ended.status_code == 200
    mediator = as_(app, w, "mediator")
    page = mediator.text(f"/sessions/{room}?caucus={lawyer}")
    assert SECRET in page and 'id="caucus-form"' not in page
    r = mediator.post(f"/sessions/{room}/caucus/{lawyer}", {"body": "再说一句"},
                      f"/sessions/{room}?caucus={lawyer}")
    assert r.status_code == 409
