"""The notification centre: filled from the event catalogue's recipients in the event's
transaction; one's own list, unread count and mark-read over the API and the pages."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from mediation.extensions import db
from mediation.notifications.models import Notification
from mediation.timeline import Event
from tests.page_client import PageClient
from tests.plans import copy_events, forced_plan


def _offer(api, officer, case_id, provider_id):
    r = api.post(f"/api/cases/{case_id}/referrals", officer,
                 {"need": "legal_opinion", "provider_id": provider_id})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _setup(api):
    admin = api.user("admin")
    officer = api.user("case_officer", "510104")
    lawyer = api.user("lawyer")
    other = api.user("lawyer")
    r = api.post("/api/providers", admin, {"regions": ["510104"], "capacity": 2, "user_ids": [lawyer.id],
                                           "name": "律师所", "kind": "lawyer",
                                           "specialities": ["land_demolition"]})
    assert r.status_code == 201, r.get_json()
    case = api.case(officer, needs=["legal_opinion"])
    return officer, lawyer, other, case, r.get_json()["id"]


def test_an_offer_notifies_the_providers_user_in_its_transaction(api):
    officer, lawyer, other, case, pid = _setup(api)
    assert api.get("/api/notifications/unread-count", lawyer).get_json() == {"unread": 0}
    referral = _offer(api, officer, case["id"], pid)
    body = api.get("/api/notifications", lawyer).get_json()
    assert body["unread"] == 1 and not body["more"]
    [n] = body["items"]
    assert n["type"] == "referral.offered" and n["case_id"] == case["id"] and not n["read"]
    assert n["link"] == f"/cases/{case['id']}"  # an offered provider sees the case
    assert n["created_at"].endswith("+00:00")
    with api.app.app_context():
        ev = db.session.get(Event, n["event_id"])
        assert ev.type == "referral.offered" and ev.case_id == case["id"]
        # The actor is not told of their own act; nobody else is named by the offer.
        users = db.session.execute(sa.select(Notification.user_id)).scalars().all()
        assert users == [lawyer.id]
    # Another user's list is their own.
    assert api.get("/api/notifications", other).get_json() == {"items": [], "more": False, "unread": 0}
    assert api.get("/api/notifications", officer).get_json()["items"] == []
    # One's own act notifies nobody of it: the lawyer's acceptance leaves the count as it was.
    assert api.post(f"/api/referrals/{referral['id']}/accept", lawyer, {}).status_code == 200
    assert api.get("/api/notifications/unread-count", lawyer).get_json() == {"unread": 1}


def test_mark_read_by_id_and_all_only_ones_own(api):
    officer, lawyer, other, case, pid = _setup(api)
    _offer(api, officer, case["id"], pid)
    [n] = api.get("/api/notifications", lawyer).get_json()["items"]
    # Someone else's id marks nothing and says nothing about it.
    r = api.post("/api/notifications/read", other, {"ids": [n["id"]]})
    assert r.status_code == 200 and r.get_json() == {"marked": 0, "unread": 0}
    assert api.post("/api/notifications/read", lawyer, {}).status_code == 422
    r = api.post("/api/notifications/read", lawyer, {"ids": [n["id"]]})
    assert r.get_json() == {"marked": 1, "unread": 0}
    # Twice: already read, nothing marked, the first time stands.
    assert api.post("/api/notifications/read", lawyer, {"ids": [n["id"]]}).get_json()["marked"] == 0
    [again] = api.get("/api/notifications", lawyer).get_json()["items"]
    assert again["read"] and again["read_at"]
    assert api.get("/api/notifications?unread=true", lawyer).get_json()["items"] == []
    assert api.post("/api/notifications/read", lawyer, {"all": True}).get_json()["marked"] == 0
    assert api.get("/api/notifications/unread-count", None).status_code == 401


def test_a_failed_command_leaves_no_notification(api):
    officer, lawyer, other, case, pid = _setup(api)
    from mediation.notifications import centre

    real = centre.record

    def record_then_fail(session, events):
        real(session, events)
        raise RuntimeError("boom after the notifications were written")

    from mediation.registry import registry

    store = registry(api.app).append_hooks
    saved = store["notifications"]
    store._items["notifications"] = record_then_fail
    try:
        with pytest.raises(RuntimeError, match="boom"):
            api.post(f"/api/cases/{case['id']}/referrals", officer,
                     {"need": "legal_opinion", "provider_id": pid})
    finally:
        store._items["notifications"] = saved
    with api.app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Notification)).scalar_one() == 0
        assert db.session.execute(sa.select(sa.func.count()).select_from(Event)
                                  .where(Event.type == "referral.offered")).scalar_one() == 0


def test_pages_badge_list_open_and_read(api, app, csrf_on):
    officer, lawyer, other, case, pid = _setup(api)
    _offer(api, officer, case["id"], pid)
    page = PageClient(app).sign_in(lawyer)
    html = page.text("/notifications")
    assert 'data-part="notif_badge"' in html and 'data-unread="1"' in html
    assert 'data-part="notif_list"' in html and "referral.offered" in html  # the part's data-on
    assert 'data-unread="1"' in page.text("/notifications/badge?part=notif_badge")
    with api.app.app_context():
        nid = db.session.execute(sa.select(Notification.id)).scalar_one()
    r = page.post(f"/notifications/{nid}/open", token_from="/notifications")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/cases/{case['id']}")
    assert 'data-unread="0"' in page.text("/notifications/badge?part=notif_badge")
    stranger = PageClient(app).sign_in(other)
    assert stranger.post(f"/notifications/{nid}/open", token_from="/notifications").status_code == 404
    assert stranger.post("/notifications/read", {"id": str(nid)}).status_code == 302
    assert 'data-unread="0"' in page.text("/notifications/badge?part=notif_badge")


def test_preferences_through_the_page_and_the_admins_delivery_log(api, app, csrf_on, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "MEDIATION_NOTIFY_OUTBOX", str(tmp_path / "outbox.jsonl"))
    officer, lawyer, other, case, pid = _setup(api)
    page = PageClient(app).sign_in(lawyer)
    r = page.post("/notifications/preferences", {"channels": "sms"}, token_from="/notifications")
    assert r.status_code == 302 and "needs an address" in page.text("/notifications")  # refused, said why
    assert api.get("/api/notifications/preferences", lawyer).get_json()["channels"] == []
    page.post("/notifications/preferences", {"channels": "sms", "phone": "13900139000"},
              token_from="/notifications")
    html = page.text("/notifications")
    assert "*******9000" in html and "13900139000" not in html
    # Saved again with the number left blank (it is shown masked): the number is kept.
    page.post("/notifications/preferences", {"channels": "sms", "quiet_hours": "23:00-06:00"},
              token_from="/notifications")
    prefs = api.get("/api/notifications/preferences", lawyer).get_json()
    assert prefs["phone"] == "*******9000" and prefs["quiet_hours"] == "23:00-06:00"
    _offer(api, officer, case["id"], pid)  # urgent: the SMS goes now (to the outbox file)
    admin = api.user("admin")
    log = PageClient(app).sign_in(admin).text("/notifications/deliveries")
    assert 'data-status="sent"' in log and "13900139000" not in log and "outbox" in log
    assert page.get("/notifications/deliveries").status_code == 404


def test_a_mention_in_the_thread_notifies_who_sees_the_case_only(api):
    officer, lawyer, other, case, pid = _setup(api)
    referral = _offer(api, officer, case["id"], pid)
    assert api.post(f"/api/referrals/{referral['id']}/accept", lawyer, {}).status_code == 200
    api.post("/api/notifications/read", lawyer, {"all": True})
    r = api.post(f"/api/cases/{case['id']}/messages", officer,
                 {"body": f"@{lawyer.username} 请出具法律意见；@{other.username} 也看看"})
    assert r.status_code in (200, 201), r.get_json()
    [n] = api.get("/api/notifications?unread=true", lawyer).get_json()["items"]
    assert n["type"] == "message.posted" and n["link"] == f"/cases/{case['id']}"
    # The other lawyer does not see the case: the mention shows them nothing.
    assert api.get("/api/notifications", other).get_json()["items"] == []


@pytest.mark.postgres
@pytest.mark.parametrize("plan", ["force_custom_plan", "force_generic_plan"])
def test_a_users_list_reads_their_newest_rows_by_index(pg, plan):
    """A user's list (newest first, a page at a time) reads that user's newest rows by the
    index on (user_id, id): never the notifications of everyone else. With no statistics
    (this machine's PostgreSQL runs without autovacuum) the planner guesses any user holds
    1/200 of the table, so for `user_id = :me ORDER BY id DESC LIMIT n` it walked the
    primary key backwards from the newest notification of anyone until it had met n of
    this user's: every row written since their last one."""
    from mediation.notifications import centre
    from tests.factories import make_case, make_user

    officer = make_user("case_officer", "510104")
    me, busy = make_user("lawyer"), make_user("lawyer")
    case_id = make_case(officer).id
    db.session.commit()
    with db.engine.begin() as conn:  # mine first (3), then 20,000 for another user
        copy_events(conn, case_id, 10000)
        ids = conn.execute(sa.text("SELECT id FROM events ORDER BY id")).scalars().all()
        conn.execute(sa.text(
            "INSERT INTO notifications (user_id, event_id, case_id, type, created_at) "
            "SELECT :u, id, case_id, type, now() FROM events WHERE id = ANY(:ids) ORDER BY id"),
            {"u": me.id, "ids": ids[:3]})
        conn.execute(sa.text(
            "INSERT INTO notifications (user_id, event_id, case_id, type, created_at) "
            "SELECT :u, id, case_id, type, now() FROM events ORDER BY id"), {"u": busy.id})

    with forced_plan(plan, ("notifications",)) as read:
        page, more = centre.listing(db.session, me, limit=2)
    assert [n.event_id for n in page] == [ids[2], ids[1]] and more
    reads = read["notifications"]  # (sequential scans, rows by index)
    assert reads == (0, 3), reads
