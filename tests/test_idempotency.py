"""Idempotency-Key: a retried POST gets the first response and the work is done once."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from mediation import clock, idempotency
from mediation.cases.models import Case
from mediation.extensions import db
from mediation.idempotency import IdempotencyKey
from mediation.timeline import Event
from tests.factories import case_payload

KEY = {"Idempotency-Key": "intake-7f3a"}


@pytest.fixture
def officer(api):
    return api.user("case_officer", "510104")


def count(model, *where) -> int:
    db.session.remove()
    return db.session.execute(sa.select(sa.func.count()).select_from(model).where(*where)).scalar_one()


def test_a_retried_intake_gets_the_first_response_and_one_case(api, app, officer):
    first = api.post("/api/cases", officer, case_payload(reference="ZJ-2025-001"), headers=dict(KEY))
    assert first.status_code == 201 and first.headers.get("Idempotent-Replayed") is None
    again = api.post("/api/cases", officer, case_payload(reference="ZJ-2025-001"), headers=dict(KEY))
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data() and again.content_type == first.content_type
    with app.app_context():
        assert count(Case) == 1
        stored = db.session.execute(sa.select(IdempotencyKey.body)).scalar_one()
        assert first.get_json()["title"] not in stored  # encrypted at rest
    # Without the key, the same reference is another case's: refused as before.
    assert api.post("/api/cases", officer, case_payload(reference="ZJ-2025-001")).status_code == 422


def test_the_same_key_for_another_request_is_422_and_does_nothing(api, app, officer):
    assert api.post("/api/cases", officer, case_payload(), headers=dict(KEY)).status_code == 201
    r = api.post("/api/cases", officer, case_payload(title="另一件事"), headers=dict(KEY))
    assert r.status_code == 422 and "Idempotency-Key" in r.get_json()["errors"]
    with app.app_context():
        assert count(Case) == 1


def test_keys_are_per_user(api, app, officer):
    colleague = api.user("case_officer", "510104")
    assert api.post("/api/cases", officer, case_payload(), headers=dict(KEY)).status_code == 201
    r = api.post("/api/cases", colleague, case_payload(), headers=dict(KEY))
    assert r.status_code == 201 and r.headers.get("Idempotent-Replayed") is None
    with app.app_context():
        assert count(Case) == 2


def test_a_retried_message_is_posted_once(api, app, officer):
    case_id = api.case(officer)["id"]
    headers = {"Idempotency-Key": "msg-1"}
    bodies = [api.post(f"/api/cases/{case_id}/messages", officer, {"body": "请补充材料"},
                       headers=dict(headers)).get_json() for _ in range(3)]
    assert bodies[0] == bodies[1] == bodies[2]
    with app.app_context():
        assert count(Event, Event.case_id == case_id, Event.type == "message.posted") == 1


def test_a_failed_request_leaves_no_key_and_its_retry_runs(api, app, officer):
    bad = api.post("/api/cases", officer, case_payload(title=""), headers=dict(KEY))
    assert bad.status_code == 422
    with app.app_context():
        assert count(IdempotencyKey) == 0 and count(Case) == 0
    assert api.post("/api/cases", officer, case_payload(), headers=dict(KEY)).status_code == 201


def test_a_key_must_be_printable_and_not_too_long(api, officer):
    r = api.post("/api/cases", officer, case_payload(), headers={"Idempotency-Key": "k" * 256})
    assert r.status_code == 422 and "Idempotency-Key" in r.get_json()["errors"]


def test_a_reveal_is_never_stored_and_each_one_is_recorded(api, app, officer):
    case = api.case(officer)
    path = f"/api/cases/{case['id']}/petitioners/{case['petitioners'][0]['id']}/reveal"
    for _ in range(2):
        r = api.post(path, officer, {"reason": "核对身份信息"}, headers=dict(KEY))
        assert r.status_code == 200 and r.headers.get("Idempotent-Replayed") is None
    with app.app_context():
        assert count(IdempotencyKey) == 0
        assert count(Event, Event.case_id == case["id"], Event.type == "pii.revealed") == 2


def test_keys_expire_and_the_sweep_removes_them(api, app, officer):
    assert api.post("/api/cases", officer, case_payload(), headers=dict(KEY)).status_code == 201
    hours = app.config["MEDIATION_IDEMPOTENCY_TTL_HOURS"]
    later = clock.now() + dt.timedelta(hours=hours, minutes=1)
    with app.app_context():
        with clock.frozen(later):
            assert idempotency.sweep_expired() == 1
        assert count(IdempotencyKey) == 0
    r = api.post("/api/cases", officer, case_payload(), headers=dict(KEY))
    assert r.status_code == 201 and r.headers.get("Idempotent-Replayed") is None


def test_the_openapi_document_offers_the_header_on_posts_but_signing_in(api):
    spec = api.get("/api/openapi.json").get_json()
    ref = {"$ref": "#/components/parameters/Idempotency-Key"}
    posts = {path: ops["post"] for path, ops in spec["paths"].items() if "post" in ops}
    assert ref in posts["/api/cases"]["parameters"]
    assert ref in posts["/api/cases/{case_id}/messages"]["parameters"]
    excluded = {"/api/auth/tokens", "/api/petitioners/search",
                "/api/cases/{case_id}/petitioners/{petitioner_id}/reveal"}
    assert all(ref in op.get("parameters", []) for path, op in posts.items()
               if path not in excluded), "a POST without the header"
    # A token, numbers in clear, disclosures recorded each time: never stored.
    assert all(ref not in posts[path].get("parameters", []) for path in excluded)
    assert spec["components"]["parameters"]["Idempotency-Key"]["in"] == "header"
