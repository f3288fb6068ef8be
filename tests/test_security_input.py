"""No 500 from input: each class of input the service cannot hold is refused with 422 or 404
and a message, on SQLite and on PostgreSQL (which refuses NUL characters and integers past
2^31 where SQLite takes them), and a refused request leaves no row behind."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterator

import marshmallow as ma
import pytest
import sqlalchemy as sa

from mediation.extensions import db
from mediation.validation import INT_MAX, MAX_JSON_DEPTH, InputSchema
from tests.conftest import DB_KIND, clean_database
from tests.factories import Api, case_payload

BIG = 2**63  # past any SQL integer
PAST_INT = 2**31  # past PostgreSQL's integer


# CI runs the suite on SQLite and then on PostgreSQL; a single SQLite run covers both here.
BOTH = DB_KIND == "sqlite" and os.environ.get("MEDIATION_TEST_PASSES") != "both"


@pytest.fixture(params=["suite", "postgresql"] if BOTH else ["suite"])
def on(request) -> Iterator[Api]:
    """The API on the suite's database, and on PostgreSQL too when no PostgreSQL pass follows."""
    app = request.getfixturevalue("app" if request.param == "suite" else "pg_app")
    yield Api(app, app.test_client())
    clean_database(app)


@pytest.fixture
def world(on: Api):
    on.admin = on.user("admin")
    on.officer = on.user("case_officer", "510104")
    on.case_id = on.case(on.officer)["id"]
    return on


def _count(api: Api, table: str) -> int:
    with api.app.app_context():
        n = db.session.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
        db.session.remove()
        return n


def _refused(r, status: int, field: str | None = None) -> dict:
    body = r.get_json()
    assert r.status_code == status, (r.status_code, body)
    assert body["code"] == status and body["message"]
    if field is not None:
        assert field in body["errors"], body
    return body


# --- dates out of range -----------------------------------------------------------------------

DATE_QUERIES = [
    ("/api/reports/monthly?month=0000-01", "month"),
    ("/api/reports/monthly?month=9999-12", "month"),
    ("/api/reports/quarterly?quarter=0000-Q1", "quarter"),
    ("/api/reports/quarterly?quarter=9999-Q4", "quarter"),
    ("/api/reports/weekly?week=9999-W52", "week"),
    ("/api/reports/weekly?week=0000-W01", "week"),
    ("/api/reports/kpis?date=9999-12-31", "date"),
    ("/api/reports/kpis?date=0001-01-01", "date"),
]


def test_dates_past_the_calendar_in_queries_are_422(world):
    for query, field in DATE_QUERIES:
        body = _refused(world.get(query, world.admin), 422, field)
        assert "between" in body["errors"][field][0], query
    assert world.get("/api/reports/monthly?month=1900-01", world.admin).status_code == 200


def test_dates_past_the_calendar_in_bodies_are_422_and_leave_nothing(world):
    before = _count(world, "events")
    for day in ("0001-01-01", "9999-12-31", "1899-12-31"):
        r = world.post(f"/api/cases/{world.case_id}/contacts", world.officer,
                       {"kind": "progress_hearing", "held_on": day})
        _refused(r, 422, "held_on")
        _refused(world.patch(f"/api/cases/{world.case_id}", world.officer, {"received_on": day}),
                 422, "received_on")
    r = world.post(f"/api/cases/{world.case_id}/sessions", world.officer,
                   {"scheduled_at": "9999-12-31T23:59:59+00:00", "place": "x"})
    _refused(r, 422, "scheduled_at")
    assert _count(world, "events") == before
    # the calendar's first day is in it
    r = world.patch(f"/api/cases/{world.case_id}", world.officer, {"received_on": "1900-01-01"})
    assert r.status_code == 200, r.get_json()


def test_a_supervision_page_with_a_date_past_the_calendar_says_so(world):
    from tests.page_client import sign_in

    client = world.app.test_client()
    sign_in(client, world.admin.username)
    for url in ("/supervision?date=9999-12-31", "/supervision/bulletin?month=9999-12",
                "/supervision/weekly?week=9999-W52"):
        assert client.get(url).status_code == 422, url


# --- region codes -----------------------------------------------------------------------------

def test_region_codes_no_province_has_are_422(world):
    for query in ("/api/cases?region=00", "/api/providers?region=00", "/api/reports/kpis?region=00",
                  "/api/reports/monthly?region=0000", "/api/reports/weekly?region=001"):
        _refused(world.get(query, world.admin), 422, "region")


def test_a_case_in_region_00_is_refused(world):
    before = _count(world, "cases")
    _refused(world.post("/api/cases", world.officer, case_payload(region_code="00")), 422, "region_code")
    assert _count(world, "cases") == before


# --- numbers past the database's integer ------------------------------------------------------

def test_page_numbers_and_ids_past_the_integer_in_queries_are_422(world):
    for query in ("/api/cases?page={n}", "/api/providers?page={n}", "/api/referrals?page={n}",
                  "/api/cases?owner={n}", "/api/cases/{case}/timeline?after={n}"):
        for n in (BIG, PAST_INT, 10**40):
            r = world.get(query.format(n=n, case=world.case_id), world.admin)
            assert str(INT_MAX) in str(_refused(r, 422)["errors"]), query


def test_ids_past_the_integer_in_paths_are_404(world):
    for path in ("/api/cases/{n}", "/api/cases/{n}/timeline", "/api/referrals/{n}",
                 "/api/sessions/{n}", "/api/agreements/{n}", "/api/providers/{n}", "/cases/{n}"):
        for n in (PAST_INT, BIG, 10**40):
            assert world.get(path.format(n=n), world.admin).status_code == 404, path
    assert world.get(f"/api/cases/{world.case_id}", world.admin).status_code == 200


def test_ids_past_the_integer_in_bodies_are_422_and_leave_nothing(world):
    before = _count(world, "events")
    for n in (PAST_INT, BIG):
        _refused(world.put(f"/api/cases/{world.case_id}/owner", world.officer,
                           {"lead_official_id": n}), 422, "lead_official_id")
        _refused(world.post("/api/reports/inspections", world.admin, {
            "case_id": n, "inspected_on": "2025-01-01", "responsibility_in_place": True,
            "truly_resolved": True, "procedure_regular": True, "file_complete": True}), 422, "case_id")
        _refused(world.post(f"/api/cases/{world.case_id}/sessions", world.officer, {
            "scheduled_at": "2030-01-01T09:00:00+08:00", "place": "x", "user_ids": [n]}),
            422, "user_ids")
    assert _count(world, "events") == before


def test_the_document_bounds_path_ids(world):
    doc = world.get("/api/openapi.json").get_json()
    param = next(p for p in doc["paths"]["/api/cases/{case_id}"]["parameters"]
                 if p["name"] == "case_id")
    assert param["schema"]["maximum"] == INT_MAX


# --- NUL characters ---------------------------------------------------------------------------

def test_nul_in_any_text_is_422_naming_the_field_and_leaves_nothing(world):
    before = (_count(world, "cases"), _count(world, "events"))
    _refused(world.patch(f"/api/cases/{world.case_id}", world.officer, {"summary": "a\x00b"}),
             422, "summary")
    body = case_payload(petitioners=[{"name": "张\x00三"}])
    assert "petitioners.0.name" in _refused(world.post("/api/cases", world.officer, body), 422)["errors"]
    _refused(world.post("/api/cases", world.officer, {**case_payload(), "ti\x00tle": "x"}), 422)
    _refused(world.get("/api/cases?q=a%00b", world.officer), 422, "q")
    _refused(world.post("/api/providers", world.admin, {
        "name": "x\x00", "kind": "lawyer", "regions": ["510100"]}), 422, "name")
    assert (_count(world, "cases"), _count(world, "events")) == before


def test_nul_in_a_path_or_a_form_is_refused(world):
    assert world.get("/api/surveys/a%00b").status_code == 404
    r = world.app.test_client().post("/login", data={"username": "admin\x00", "password": "x"})
    assert r.status_code == 422
    assert "NUL" in r.get_data(as_text=True)


@pytest.mark.parametrize("idempotent", [False, True])
def test_a_form_field_without_a_usable_name_is_no_server_error(world, idempotent):
    """A multipart part whose name the parser cannot read comes back as None (fuzzing);
    with an Idempotency-Key the request's fingerprint sorts the parts by name too."""
    boundary = "b0undary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="\\"\r\n\r\nnull\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\nother\r\n'
            f'--{boundary}--\r\n')
    headers = {"Authorization": f"Bearer {world.tokens[world.officer.id]}"}
    if idempotent:
        headers["Idempotency-Key"] = "nameless-part-1"
    r = world.app.test_client().post(
        f"/api/cases/{world.case_id}/documents", data=body.encode(),
        content_type=f"multipart/form-data; boundary={boundary}", headers=headers)
    assert 400 <= r.status_code < 500, r.get_data(as_text=True)


# --- deep JSON --------------------------------------------------------------------------------

def test_json_nested_too_deeply_is_422(world):
    for depth in (MAX_JSON_DEPTH + 1, 100_000):
        body = "[" * depth + "]" * depth
        r = world.call("POST", "/api/cases", world.officer, data=body,
                       headers={"Content-Type": "application/json"})
        assert "_json" in _refused(r, 422)["errors"]
        r = world.call("PATCH", f"/api/cases/{world.case_id}", world.officer,
                       data='{"summary": "x", "dossier": ' + body + "}",
                       headers={"Content-Type": "application/json"})
        _refused(r, 422)


def test_a_body_that_is_not_json_is_refused_by_the_parser(world):
    # an unterminated string of escaped quotes: a scanner that backtracks would take hours
    r = world.call("POST", "/api/cases", world.officer, data='"' + '\\"' * 200_000,
                   headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 422), r.status_code


def test_brackets_inside_strings_do_not_count_as_nesting(world):
    r = world.patch(f"/api/cases/{world.case_id}", world.officer, {"summary": "[{" * 200})
    assert r.status_code == 200, r.get_json()


# --- references to rows that are not there ------------------------------------------------------

def test_references_to_missing_rows_are_422_or_404_and_leave_nothing(world):
    before = (_count(world, "rectifications"), _count(world, "events"))
    for ref in ({"deduction_id": 999999}, {"inspection_id": 999999}):
        r = world.post("/api/reports/rectifications", world.admin, {
            "case_id": world.case_id, "requirement": "整改", "due_on": "2030-01-01", **ref})
        assert r.status_code in (404, 422), r.get_json()
        assert r.get_json()["message"]
    _refused(world.post("/api/reports/rectifications", world.admin, {
        "case_id": 999999, "requirement": "整改", "due_on": "2030-01-01"}), 404)
    _refused(world.put(f"/api/cases/{world.case_id}/owner", world.officer,
                       {"lead_official_id": 999999}), 422, "lead_official_id")
    r = world.post("/api/providers", world.admin, {
        "name": "律所", "kind": "lawyer", "regions": ["510100"], "user_ids": [999999]})
    _refused(r, 422, "user_ids")
    r = world.post(f"/api/cases/{world.case_id}/referrals", world.officer,
                   {"need": "legal_opinion", "provider_id": 999999})
    assert r.status_code in (404, 422), r.get_json()
    assert (_count(world, "rectifications"), _count(world, "events")) == before


def test_a_foreign_key_the_database_refuses_names_the_column(world):
    """The handler behind every route, for a reference no command checked."""
    from mediation.supervision.models import Rectification
    from mediation.validation import refused_by_database

    with world.app.app_context():
        try:
            db.session.add(Rectification(case_id=world.case_id, deduction_id=999999, requirement="x",
                                         due_on=dt.date(2030, 1, 1), by_id=world.admin.id))
            db.session.flush()
        except sa.exc.IntegrityError as exc:
            refusal = refused_by_database(exc)
        else:  # pragma: no cover - the database must refuse it
            pytest.fail("the foreign key was not enforced")
        finally:
            db.session.rollback()
            db.session.remove()
    assert refusal.status == 422
    field = next(iter(refusal.extra["errors"]))
    assert field == ("deduction_id" if world.app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
                     else "_")


# --- logs ---------------------------------------------------------------------------------------

def test_a_failed_statement_never_carries_its_parameters(world):
    secret = "李秘密-13800138000"
    with world.app.app_context():
        assert db.engine.hide_parameters
        with pytest.raises(sa.exc.DBAPIError) as caught:
            # NOT NULL columns left out: the database refuses the row
            db.session.execute(sa.text("INSERT INTO users (username) VALUES (:n)"), {"n": secret})
        db.session.rollback()
        db.session.remove()
    assert secret not in str(caught.value)


def test_refused_input_is_logged_without_values_and_not_as_an_error(world, caplog):
    secret = "王秘密要求整改"
    with caplog.at_level(logging.DEBUG):
        r = world.post("/api/reports/rectifications", world.admin, {
            "case_id": world.case_id, "deduction_id": 999999, "requirement": secret,
            "due_on": "2030-01-01"})
        assert r.status_code in (404, 422)
        world.patch(f"/api/cases/{world.case_id}", world.officer, {"summary": secret + "\x00"})
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert secret not in caplog.text
    assert world.admin.username not in caplog.text


# --- one base for every input schema ------------------------------------------------------------

def test_every_schema_the_api_loads_bounds_its_input(world):
    """A new route's schema must derive from InputSchema (directly or nested)."""
    loose = []

    def check(schema, where):
        schema = schema() if isinstance(schema, type) else schema
        if not isinstance(schema, InputSchema):
            loose.append(f"{where}: {type(schema).__name__}")
        for name, fld in schema.fields.items():
            nested = getattr(getattr(fld, "inner", fld), "nested", None)
            if isinstance(nested, type | ma.Schema):
                check(nested, f"{where}.{name}")

    for endpoint, view in world.app.view_functions.items():
        cls = getattr(view, "view_class", None)
        for method in ("get", "post", "put", "patch", "delete"):
            fn = getattr(cls, method, None) if cls else (view if method == "get" else None)
            for param in getattr(fn, "_apidoc", {}).get("arguments", {}).get("parameters", []):
                check(param["schema"], f"{endpoint} {method}")
    assert not loose, loose



@pytest.mark.slow
def test_socket_events_refuse_nul_and_ids_past_the_integer(app, live):
    """The same refusals on a live socket (the suite's database, through `mediation serve`)."""
    import socketio

    from tests.test_realtime_live import WAIT

    api = Api(app, app.test_client())
    officer = api.user("case_officer", "510104")
    case_id = api.case(officer)["id"]
    before = _count(api, "events")
    sio = socketio.Client(reconnection=False)
    sio.connect(live.base, auth={"token": api.tokens[officer.id]}, wait_timeout=WAIT,
                transports=["websocket"])
    try:
        ack = sio.call("post_message", {"case_id": case_id, "body": "a\x00b"}, timeout=WAIT)
        assert ack["ok"] is False and ack["code"] == 422 and "body" in ack["errors"], ack
        for n in (PAST_INT, BIG):
            ack = sio.call("subscribe", {"case_id": n}, timeout=WAIT)
            assert ack["ok"] is False and ack["code"] == 422 and "case_id" in ack["errors"], ack
        ack = sio.call("post_message", {"case_id": case_id, "body": "你好"}, timeout=WAIT)
        assert ack["ok"] is True, ack
    finally:
        sio.disconnect()
    assert _count(api, "events") == before + 1
