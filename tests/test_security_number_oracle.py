"""No oracle for personal numbers: the search by number (blind index) is for the roles that
may reveal numbers, throttled per user (atomically, also under concurrent requests on
PostgreSQL and in Redis), recorded on an audit trail, and a burst alerts the admins; masks
show few clear digits."""

from __future__ import annotations

import threading
import uuid

import pytest
import redis
import sqlalchemy as sa

from mediation import audit
from mediation.extensions import db
from mediation.permissions import Action, roles_for
from mediation.users import Role
from tests.factories import Api, World

ID = "510104198001011234"
PHONE = "13800138000"
SEARCH = "/api/petitioners/search"


@pytest.fixture
def fixed_window(monkeypatch):
    """One throttle window for the whole test, whenever it runs (no hour boundary inside)."""
    monkeypatch.setattr(audit.time, "time", lambda: 1_800_000_000.0)


@pytest.fixture
def world(api) -> World:
    officer = api.user("case_officer", "510104")
    case = api.case(officer, petitioners=[{"name": "张三", "id_number": ID, "phone": PHONE}])
    return World({"officer": officer}, case=case)


def _search(api, user, **body):
    return api.post(SEARCH, user, {"reason": "来访登记核对", **body})


def test_only_roles_that_may_reveal_may_search(api, world, fixed_window):
    officer, case = world.officer, world.case
    app = api.app
    assert set(roles_for(Action.PII_SEARCH, app)) == set(roles_for(Action.CASE_REVEAL_PII, app)) == {
        Role.ADMIN, Role.CASE_OFFICER, Role.LEAD_OFFICIAL}
    # A supervisor sees the case (numbers masked) and may not reveal: no search either, even
    # though the case exists for them — 403, since the search concerns no particular case.
    for role, region in (("supervisor", "510104"), ("mediator", None), ("lawyer", None),
                         ("counsellor", None), ("mass_org", None), ("evaluator", None)):
        user = api.user(role, region)
        for body in ({"id_number": ID}, {"phone": PHONE}):
            r = _search(api, user, **body)
            assert r.status_code == 403, (role, r.get_json())
            assert ID not in r.get_data(as_text=True) and str(case["id"]) not in r.get_data(as_text=True)
    assert api.post(SEARCH, None, {"id_number": ID, "reason": "x" * 3}).status_code == 401
    r = _search(api, officer, id_number=ID)
    assert r.status_code == 200 and [p["case_id"] for p in r.get_json()] == [case["id"]]
    # a refused role leaves nothing on the trail and uses up no one's quota
    with api.app.app_context():
        rows = db.session.execute(sa.select(audit.PiiSearch)).scalars().all()
        assert [(row.user_id, row.results) for row in rows] == [(officer.id, 1)]
        db.session.remove()


def test_a_lead_official_finds_only_the_cases_they_own(api, world, fixed_window):
    officer, case = world.officer, world.case
    lead = api.user("lead_official", "510104")
    assert _search(api, lead, id_number=ID).get_json() == []
    assert api.put(f"/api/cases/{case['id']}/owner", officer,
                   {"lead_official_id": lead.id}).status_code == 200
    assert [p["case_id"] for p in _search(api, lead, phone=PHONE).get_json()] == [case["id"]]


def test_every_search_is_on_the_audit_trail_without_the_number(api, world, fixed_window):
    officer = world.officer
    admin = api.user("admin")
    _search(api, officer, id_number=ID)
    api.post(SEARCH, officer, {"phone": "13700000000", "reason": "电话回访前核对"})
    r = api.get("/api/security/pii-searches", admin)
    assert r.status_code == 200
    trail = r.get_json()
    assert [(t["user_id"], t["kind"], t["reason"], t["results"], t["refused"]) for t in trail] == [
        (officer.id, "phone", "电话回访前核对", 0, False),
        (officer.id, "id_number", "来访登记核对", 1, False)]
    assert ID not in r.get_data(as_text=True) and PHONE not in r.get_data(as_text=True)
    # nor anywhere in the database in clear
    with api.app.app_context():
        with db.engine.connect() as conn:
            text = " ".join(str(v) for row in conn.execute(sa.text("SELECT * FROM pii_searches"))
                            for v in row)
        db.session.remove()
    assert ID not in text and "13700000000" not in text
    # the trail and the alerts are for admins only
    for role, region in (("case_officer", "510104"), ("supervisor", None), ("evaluator", None)):
        user = api.user(role, region)
        assert api.get("/api/security/pii-searches", user).status_code == 403
        assert api.get("/api/security/alerts", user).status_code == 403


def test_a_burst_is_refused_and_alerts_the_admins_once(api, world, fixed_window, monkeypatch):
    officer = world.officer
    admin = api.user("admin")
    monkeypatch.setitem(api.app.config, "MEDIATION_PII_SEARCH_RATE", "3/3600")
    codes = [_search(api, officer, id_number=ID).status_code for _ in range(6)]
    assert codes == [200, 200, 200, 429, 429, 429]
    refused = _search(api, officer, phone=PHONE)
    assert refused.status_code == 429 and refused.get_json()["retry_after"] == 3600
    assert "phone" not in refused.get_data(as_text=True) or PHONE not in refused.get_data(as_text=True)
    alerts = api.get("/api/security/alerts", admin).get_json()
    assert [(a["kind"], a["user_id"], a["detail"]) for a in alerts] == [
        ("pii.search_burst", officer.id, {"limit": 3, "seconds": 3600})]
    trail = api.get("/api/security/pii-searches", admin).get_json()
    assert sum(not t["refused"] for t in trail) == 3 and sum(t["refused"] for t in trail) == 4
    # another user's quota is their own
    other = api.user("case_officer", "510104")
    assert _search(api, other, id_number=ID).status_code == 200


def test_the_throttle_holds_under_concurrent_requests_on_postgresql(pg, fixed_window, monkeypatch):
    api = Api(pg, pg.test_client())
    officer = api.user("case_officer", "510104")
    api.case(officer, petitioners=[{"name": "张三", "id_number": ID}])
    limit, n = 5, 24
    monkeypatch.setitem(pg.config, "MEDIATION_PII_SEARCH_RATE", f"{limit}/3600")
    barrier = threading.Barrier(n)
    codes: list[int | Exception] = [0] * n

    def worker(i: int) -> None:
        client = pg.test_client()  # one client per thread: its own request contexts
        try:
            barrier.wait(timeout=30)
            codes[i] = client.post(SEARCH, json={"id_number": ID, "reason": "并发核对"}, headers={
                "Authorization": f"Bearer {api.tokens[officer.id]}"}).status_code
        except Exception as exc:  # reported through codes, asserted below
            codes[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert sorted(codes) == [200] * limit + [429] * (n - limit), codes
    rows = db.session.execute(sa.select(audit.PiiSearch.refused)).scalars().all()
    assert sorted(rows) == [False] * limit + [True] * (n - limit)
    assert db.session.execute(sa.select(sa.func.count()).select_from(audit.SecurityAlert)
                              ).scalar_one() == 1
    assert db.session.execute(sa.select(audit.ThrottleWindow.count)).scalars().all() == [n]


def test_the_redis_counter_is_atomic_across_threads(app, fixed_window, monkeypatch):
    """With Redis configured the count lives there: INCR gives each attempt its own number."""
    monkeypatch.setitem(app.config, "MEDIATION_REDIS_URL", "redis://127.0.0.1:6379/0")
    key = f"test-{uuid.uuid4().hex}"
    n = 16
    barrier = threading.Barrier(n)
    got: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        with app.app_context():
            barrier.wait(timeout=30)
            count = audit.hit(key, 3600)
            with lock:
                got.append(count)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(got) == list(range(1, n + 1))
    with app.app_context():
        name = audit._redis_key(key, 1_800_000_000 // 3600 * 3600)
        client = redis.Redis.from_url(app.config["MEDIATION_REDIS_URL"])
        assert int(client.get(name)) == n and 0 < client.ttl(name) <= 3660
        client.delete(name)
        # nothing went to the database's table
        assert db.session.execute(sa.select(sa.func.count()).select_from(audit.ThrottleWindow)
                                  ).scalar_one() == 0
        db.session.remove()


def test_masks_show_few_clear_digits(api, world):
    case = world.case
    supervisor = api.user("supervisor", "510104")
    shown = api.get(f"/api/cases/{case['id']}", supervisor).get_json()["petitioners"][0]
    assert shown["id_number"] == "*" * 16 + "34"  # no leading digits, two trailing
    assert shown["phone"] == "*" * 7 + "8000"  # the last four only, not the carrier prefix


def test_the_case_list_filter_matches_numbers_only_as_the_search_does(api, world, fixed_window):
    """`q` finds a case by a whole number only for the roles that may search by number,
    through the same throttle and audit as the search (no second, unwatched oracle); a
    fragment of a number never matches, and for other roles a number is plain text."""
    officer = world.officer
    for q in (ID[-4:], PHONE[-4:]):
        assert api.get(f"/api/cases?q={q}", officer).get_json()["total"] == 0, q
    supervisor = api.user("supervisor", "510104")
    for q in (ID, PHONE):
        assert api.get(f"/api/cases?q={q}", supervisor).get_json()["total"] == 0, q
    with api.app.app_context():
        assert db.session.query(audit.PiiSearch).count() == 0
        db.session.remove()
    for q in (ID, PHONE):
        assert api.get(f"/api/cases?q={q}", officer).get_json()["total"] == 1, q
    with api.app.app_context():
        rows = db.session.query(audit.PiiSearch).order_by(audit.PiiSearch.id).all()
        assert [(r.user_id, r.kind, r.results) for r in rows] == [
            (officer.id, "id_number", 1), (officer.id, "phone", 1)]
        db.session.remove()
