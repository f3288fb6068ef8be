"""schemathesis over the whole OpenAPI document: every operation, called with generated
input (valid, boundary and invalid) as an admin on the demo data, answers without a server
error, with a documented status and content type, and with a body its declared schema
describes.

It runs in process against the WSGI app on its own database (SQLite or PostgreSQL, as the
suite), a bounded number of examples per operation so that it stays within a few minutes on
two cores. The figures (operations, calls, failures) are printed at the end of the run.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from flask import Flask
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mediation import create_app
from mediation.extensions import db
from tests.conftest import DB_KIND, PII_KEY, SECRET, build_app, drop_pg_database, make_pg_database

# Fuzzing examples per operation (the boundary and example phases add their own cases).
MAX_EXAMPLES = 12
CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance)

STATS: Counter = Counter()
OPERATIONS: set[str] = set()


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory) -> Iterator[Flask]:
    """The app on a database of its own, with the demo data: ids that exist to reach."""
    from mediation.demo import load_demo

    if DB_KIND == "postgresql":
        url = make_pg_database()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz-db') / 'fuzz.db'}"
    # The per-user write limit has its own tests; here it would turn the admin's later
    # writes into 429s depending on how fast the machine runs the cases.
    app = build_app(url, tmp_path_factory.mktemp("fuzz-instance"),
                    MEDIATION_WRITE_LIMIT="100000000 per minute")
    with app.app_context():
        load_demo()
        db.session.remove()
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if DB_KIND == "postgresql":
            drop_pg_database(url)


def _token(app: Flask, username: str = "admin") -> str:
    from mediation.users import User, issue_token

    with app.app_context():
        user = db.session.execute(db.select(User).where(User.username == username)).scalar_one()
        token, _ = issue_token(user)
        db.session.commit()
        db.session.remove()
    return token


def _admin_id(app: Flask) -> int:
    from mediation.users import User

    with app.app_context():
        found = db.session.execute(db.select(User.id).where(User.username == "admin")).scalar_one()
        db.session.remove()
    return found


@pytest.fixture(scope="module")
def admin_token(fuzz_app) -> str:
    return _token(fuzz_app)


def _document() -> dict:
    """The OpenAPI document as the app serves it (an app on an in-memory database: the
    document needs no data), read when the module is collected so each operation is a test."""
    app = create_app({"MEDIATION_DATABASE_URL": "sqlite://", "MEDIATION_SECRET_KEY": SECRET,
                      "MEDIATION_PII_KEY": PII_KEY, "INSTANCE_PATH": tempfile.mkdtemp(), "TESTING": True})
    return app.test_client().get("/api/openapi.json").get_json()


DOCUMENT = _document()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=schemathesis.Config.from_dict({
    "seed": 20261129,  # the same cases on every run: a failure here is reproducible
    "suppress-health-check": ["all"],
    "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
    "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True},
               "fuzzing": {"enabled": True}, "stateful": {"enabled": False}},
}))


@schema.parametrize()
def test_every_operation_answers_as_documented(case, fuzz_app, admin_token):
    token = admin_token
    if case.operation.label == "DELETE /api/auth/tokens":
        token = _token(fuzz_app)  # revoking the shared token would end every later call
    if case.operation.path.startswith("/api/users/") and case.path_parameters \
            and case.path_parameters.get("user_id") == _admin_id(fuzz_app):
        # Deactivating the run's own admin, or revoking its tokens, would end every later
        # call: such a case acts on another account instead.
        case.path_parameters = {**case.path_parameters, "user_id": _admin_id(fuzz_app) + 1}
    OPERATIONS.add(case.operation.label)
    STATS["calls"] += 1
    response = case.call(app=fuzz_app, headers={"Authorization": f"Bearer {token}"})
    STATS[f"{response.status_code // 100}xx"] += 1
    try:
        case.validate_response(response, checks=CHECKS)
    except Exception:
        STATS["failures"] += 1
        raise


def test_the_run_reached_every_operation_past_authentication(request):
    documented = {f"{m.upper()} {p}" for p, ops in DOCUMENT["paths"].items() for m in ops
                  if m in ("get", "post", "put", "patch", "delete")}
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # shown in the run's output, -q or not
            reporter.write_line(
                f"\nschemathesis ({DB_KIND}): {len(OPERATIONS)} of {len(documented)} operations, "
                f"{STATS['calls']} calls ({STATS['2xx']} 2xx, {STATS['4xx']} 4xx, {STATS['5xx']} 5xx),"
                f" {STATS['failures']} failures")
    assert documented - OPERATIONS == set()  # none left out
    assert STATS["2xx"] > len(documented)  # the admin's token reached the operations
    assert STATS["5xx"] == 0 and STATS["failures"] == 0
