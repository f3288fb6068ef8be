"""Integrity of related records, and the limits around writes:
- a record that cites another (a rectification citing an inspection or a deduction, a
  deduction citing an inspection) cites one of the same case, hence jurisdiction (else 422,
  nothing written);
- routes that take an id answer 404, never 403, before the thing is known to be visible;
- satisfaction surveys are sent by supervision and never answered from a staff account;
- every write that appends events counts against a per-user limit, decided atomically (the
  limiter's memory in the embedded mode, Redis when configured: every process together).
The cap on live connections per user is shown against a live server in
tests/test_security_live_access.py."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from mediation import clock
from mediation.extensions import db
from mediation.supervision.models import Rectification, SurveyAnswer
from mediation.timeline import Event
from tests.conftest import DB_KIND, build_app, drop_pg_database, make_pg_database
from tests.factories import Api, call, case_payload, make_provider, session_body
from tests.page_client import PageClient

TODAY = clock.today().isoformat()


def counts(app) -> tuple[int, int]:
    """(rectifications, events): what a refused write must leave as it was."""
    with app.app_context():
        got = (db.session.execute(sa.select(sa.func.count()).select_from(Rectification)).scalar_one(),
               db.session.execute(sa.select(sa.func.count()).select_from(Event)).scalar_one())
        db.session.remove()
        return got


@pytest.fixture
def two(api):
    """Two cases of one county and one of another province, a supervisor over the first
    county's province and one inspection and deduction on each case."""
    officer, far_officer = api.user("case_officer", "510104"), api.user("case_officer", "440106")
    sup, far_sup = api.user("supervisor", "51"), api.user("supervisor", "44")
    here, there = api.case(officer)["id"], api.case(officer)["id"]
    far = api.case(far_officer, region_code="440106")["id"]
    found = {}
    for case_id, who in ((here, sup), (there, sup), (far, far_sup)):
        i = api.post("/api/reports/inspections", who, {
            "case_id": case_id, "inspected_on": TODAY, "responsibility_in_place": True,
            "truly_resolved": False, "procedure_regular": True, "file_complete": True})
        assert i.status_code == 201, i.get_json()
        d = api.post("/api/reports/deductions", who, {
            "case_id": case_id, "inspection_id": i.get_json()["id"], "kind": "idle_handling",
            "points": 2, "reason": "空转"})
        assert d.status_code == 201, d.get_json()
        found[case_id] = (i.get_json()["id"], d.get_json()["id"])
    return {"officer": officer, "sup": sup, "far_sup": far_sup, "here": here, "there": there,
            "far": far, "records": found}


# --- records citing records ---------------------------------------------------------------------

@pytest.mark.parametrize("cited", ["inspection_id", "deduction_id"])
@pytest.mark.parametrize("whose", ["there", "far"])
def test_a_rectification_cites_records_of_its_own_case_only(api, app, two, cited, whose):
    before = counts(app)
    inspection, deduction = two["records"][two[whose]]
    body = {"case_id": two["here"], "requirement": "限期整改", "due_on": TODAY,
            cited: inspection if cited == "inspection_id" else deduction}
    r = api.post("/api/reports/rectifications", two["sup"], body)
    assert r.status_code == 422, r.get_json()
    assert list(r.get_json()["errors"]) == [cited]
    assert counts(app) == before


def test_a_deduction_cites_an_inspection_of_its_own_case_only(api, app, two):
    before = counts(app)
    far_inspection = two["records"][two["far"]][0]
    r = api.post("/api/reports/deductions", two["sup"], {
        "case_id": two["here"], "inspection_id": far_inspection, "kind": "fake_resolution",
        "points": 5, "reason": "虚假化解"})
    assert r.status_code == 422 and list(r.get_json()["errors"]) == ["inspection_id"]
    assert counts(app) == before


def test_a_rectification_citing_its_cases_records_keeps_them_consistent(api, two):
    inspection, deduction = two["records"][two["here"]]
    other_inspection = two["records"][two["there"]][0]
    r = api.post("/api/reports/rectifications", two["sup"], {
        "case_id": two["here"], "requirement": "限期整改", "due_on": TODAY, "deduction_id": deduction})
    assert r.status_code == 201, r.get_json()
    # The deduction's inspection comes with it.
    assert (r.get_json()["deduction_id"], r.get_json()["inspection_id"]) == (deduction, inspection)
    r = api.post("/api/reports/rectifications", two["sup"], {
        "case_id": two["here"], "requirement": "限期整改", "due_on": TODAY, "deduction_id": deduction,
        "inspection_id": other_inspection})
    assert r.status_code == 422


def test_a_session_invites_deputies_and_worthies_of_the_cases_region_only(app, w):
    with app.app_context():
        far = make_provider("deputy", regions=("440106",), name="广东某代表").id
        db.session.remove()
    before = counts(app)
    r = call(w, "POST", f"/api/cases/{w.case_id}/sessions", "mediator",
             session_body(w, invited_provider_ids=[far]))
    assert r.status_code == 422, r.get_json()
    assert "does not serve the case's region" in r.get_json()["errors"]["invited_provider_ids"][0]
    assert counts(app) == before
    ok = call(w, "POST", f"/api/cases/{w.case_id}/sessions", "mediator", session_body(w))
    assert ok.status_code == 201  # the world's deputy serves the case's county


# --- 404 before existence is known -----------------------------------------------------------

def test_a_rectification_is_404_to_whoever_may_not_see_it(api, two):
    r = api.post("/api/reports/rectifications", two["sup"], {
        "case_id": two["here"], "requirement": "限期整改", "due_on": TODAY})
    rect_id = r.get_json()["id"]
    path = f"/api/reports/rectifications/{rect_id}/done"
    missing = api.post(f"/api/reports/rectifications/{rect_id + 1000}/done", two["sup"], {})
    assert missing.status_code == 404
    for who in (two["officer"], two["far_sup"], api.user("mediator"), api.user("evaluator"),
                api.user("lead_official", "510104")):
        r = api.post(path, who, {})
        assert r.status_code == 404, (who.role, r.get_json())
        assert r.get_json()["message"] == missing.get_json()["message"]  # told nothing more
    assert api.post(path, two["sup"], {}).status_code == 200


def test_no_route_taking_an_id_says_403_for_an_id_that_does_not_exist(app, api):
    """Every id-taking route of the API, as every role, with an id that exists nowhere: the
    answer is never 403 (which would mean "it might exist, but not for you")."""
    users = [api.user(role, "510104" if role in ("case_officer", "supervisor", "lead_official")
                      else None) for role in ("admin", "supervisor", "case_officer", "lead_official",
                                              "mediator", "lawyer", "counsellor", "mass_org",
                                              "evaluator", "party")]
    routes = [(rule, method) for rule in app.url_map.iter_rules()
              if rule.rule.startswith("/api/") and "<int:" in rule.rule
              for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    assert len(routes) > 20
    for rule, method in routes:
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<int:{arg}>", "2147483000")
        for user in users:
            r = api.call(method, path, user, json={} if method != "GET" else None)
            assert r.status_code != 403, (method, rule.rule, user.role, r.get_json())


# --- satisfaction surveys ------------------------------------------------------------------------

def test_surveys_are_sent_by_supervision_and_never_answered_from_a_staff_account(api, app, client):
    officer = api.user("case_officer", "510104")
    lead = api.user("lead_official", "510104")
    case = api.case(officer)
    for who in (officer, lead):  # those whose handling the answer judges
        assert api.post(f"/api/cases/{case['id']}/surveys", who, {}).status_code in (403, 404)
    sup = api.user("supervisor", "51")
    r = api.post(f"/api/cases/{case['id']}/surveys", sup, {})
    assert r.status_code == 201
    token = r.get_json()["token"]
    for who in (officer, sup, api.user("admin"), api.user("mediator")):
        r = api.post(f"/api/surveys/{token}", who, {"rating": 5, "comment": "非常满意"})
        assert r.status_code == 403, who.role
        assert "petitioner" in r.get_json()["message"]
    # The petitioner's page, opened by a signed-in official: no form, and no answer taken.
    page = PageClient(app).sign_in(officer.username)
    assert page.get(f"/survey/{token}", follow_redirects=True).status_code == 403
    r = page.client.post(f"/survey/{token}", data={"rating": "5"})
    assert r.status_code == 403 and "工作人员账户不能代为评价" in r.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(SurveyAnswer)).scalar_one() == 0
        db.session.remove()
    # The petitioner, with no account, answers once.
    assert client.post(f"/api/surveys/{token}", json={"rating": 4}).status_code == 201


# --- a rate limit on every write that appends events ------------------------------------------------

@pytest.fixture
def write_limit(app) -> Iterator[None]:
    before = app.config.get("MEDIATION_WRITE_LIMIT")
    app.config["MEDIATION_WRITE_LIMIT"] = "3 per hour"
    yield
    app.config["MEDIATION_WRITE_LIMIT"] = before


def events_of(app, case_id: int) -> int:
    with app.app_context():
        n = db.session.execute(sa.select(sa.func.count()).select_from(Event)
                               .where(Event.case_id == case_id)).scalar_one()
        db.session.remove()
        return n


def test_writes_that_append_events_are_limited_per_user(api, app, write_limit, csrf_on):
    officer, other = api.user("case_officer", "510104"), api.user("case_officer", "510104")
    case = api.case(officer)  # one write
    assert api.post(f"/api/cases/{case['id']}/messages", officer, {"body": "一"}).status_code == 201
    assert api.patch(f"/api/cases/{case['id']}", officer, {"title": "改名"}).status_code == 200
    before = events_of(app, case["id"])
    for path, body in ((f"/api/cases/{case['id']}/messages", {"body": "二"}),
                       (f"/api/cases/{case['id']}/status", {"status": "in_progress", "reason": "启动"}),
                       ("/api/cases", case_payload())):
        r = api.post(path, officer, body)
        assert r.status_code == 429, (path, r.get_json())
        assert r.get_json()["retry_after"] >= 1
    assert events_of(app, case["id"]) == before  # nothing written
    # Through the pages too: the same count, the same refusal.
    page = PageClient(app).sign_in(officer.username)
    r = page.post(f"/cases/{case['id']}/messages", {"body": "三", "channel": "case"},
                  token_from=f"/cases/{case['id']}")
    assert r.status_code == 302  # back to the case page, which says why
    assert "操作过于频繁" in page.text(f"/cases/{case['id']}")
    assert events_of(app, case["id"]) == before
    # Another user is counted apart; reading is not writing.
    assert api.post(f"/api/cases/{case['id']}/messages", other, {"body": "四"}).status_code == 201
    assert api.get(f"/api/cases/{case['id']}", officer).status_code == 200


def test_the_limit_is_decided_atomically_under_concurrent_writes(api, app, write_limit):
    officer = api.user("case_officer", "510104")
    case = api.case(officer)  # 1 of 3
    results: list[int] = []

    def post(i: int) -> None:
        client = app.test_client()
        r = client.post(f"/api/cases/{case['id']}/messages", json={"body": f"并发{i}"},
                        headers={"Authorization": f"Bearer {api.tokens[officer.id]}"})
        results.append(r.status_code)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Never more than the limit, whatever the interleaving.
    assert results.count(201) <= 2 and results.count(201) + results.count(429) == 8
    assert events_of(app, case["id"]) == 2 + results.count(201)  # created, classified, posts


def test_with_redis_every_process_counts_together_exactly(private_redis, tmp_path):
    """Two apps (as two web processes) on one database and one Redis: one user's writes
    through both count against one limit, and concurrent writes admit exactly the limit."""
    url = make_pg_database() if DB_KIND == "postgresql" else f"sqlite:///{tmp_path / 'w.db'}"
    try:
        apps = [build_app(url, tmp_path / f"instance{i}", MEDIATION_REDIS_URL=private_redis,
                          MEDIATION_WRITE_LIMIT="5 per hour") for i in range(2)]
        apis = [Api(a, a.test_client()) for a in apps]
        officer = apis[0].user("case_officer", "510104")
        apis[1].tokens.update(apis[0].tokens)
        case = apis[0].case(officer)  # 1 of 5
        statuses: list[int] = []

        def post(i: int) -> None:
            r = apis[i % 2].post(f"/api/cases/{case['id']}/messages", officer, {"body": f"第{i}条"})
            statuses.append(r.status_code)

        threads = [threading.Thread(target=post, args=(i,)) for i in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(statuses) == [201] * 4 + [429] * 6
        assert events_of(apps[0], case["id"]) == 2 + 4
        for a in apps:
            with a.app_context():
                db.engine.dispose()
    finally:
        if DB_KIND == "postgresql":
            drop_pg_database(url)


@pytest.fixture(scope="module")
def redis_counted_app(private_redis, database_url, tmp_path_factory):
    """An app on the suite's database whose limits are counted in Redis (one script decides
    a message's rate and its write together)."""
    return build_app(database_url, tmp_path_factory.mktemp("redis-limits"),
                     MEDIATION_REDIS_URL=private_redis)


@pytest.fixture(params=["memory", "redis"])
def limited(request, api) -> Iterator[Api]:
    """The suite's app (limits counted in memory) or one counting them in Redis, with the
    messages' rate and the writes' limit set by the test."""
    target = api if request.param == "memory" else Api(
        request.getfixturevalue("redis_counted_app"),
        request.getfixturevalue("redis_counted_app").test_client())
    saved = {k: target.app.config.get(k) for k in ("MEDIATION_MESSAGE_RATE", "MEDIATION_WRITE_LIMIT")}
    with target.app.app_context():
        from mediation import writes

        writes.reset()
    yield target
    target.app.config.update(saved)


def test_a_refused_message_counts_no_write(limited, app):
    limited.app.config.update(MEDIATION_MESSAGE_RATE="2/60", MEDIATION_WRITE_LIMIT="4 per hour")
    officer = limited.user("case_officer", "510104")
    case = limited.case(officer)  # write 1 of 4
    path = f"/api/cases/{case['id']}/messages"
    assert [limited.post(path, officer, {"body": f"第{i}条"}).status_code for i in range(2)] == [201] * 2
    r = limited.post(path, officer, {"body": "超出消息频率"})  # the messages' rate refuses it
    assert r.status_code == 429 and r.get_json()["retry_after"] == 60
    # Writes 2 and 3 were the messages: the refused one was not a fourth.
    assert limited.patch(f"/api/cases/{case['id']}", officer, {"title": "改名"}).status_code == 200
    r = limited.patch(f"/api/cases/{case['id']}", officer, {"title": "再改"})
    assert r.status_code == 429 and "too many changes" in r.get_json()["message"]


def test_a_refused_write_takes_no_message(limited, app):
    limited.app.config.update(MEDIATION_MESSAGE_RATE="3/60", MEDIATION_WRITE_LIMIT="2 per hour")
    officer = limited.user("case_officer", "510104")
    case = limited.case(officer)  # write 1 of 2
    path = f"/api/cases/{case['id']}/messages"
    assert limited.post(path, officer, {"body": "一"}).status_code == 201  # message 1 of 3
    r = limited.post(path, officer, {"body": "超出写入限额"})
    assert r.status_code == 429 and "too many changes" in r.get_json()["message"]
    assert events_of(limited.app, case["id"]) == 3  # created, classified, one message
    # With room for writes again, two more messages go: the refused write took none of three.
    limited.app.config["MEDIATION_WRITE_LIMIT"] = "100 per hour"
    assert [limited.post(path, officer, {"body": f"再{i}"}).status_code for i in range(3)] == [201, 201, 429]
