"""Test fixtures: a real database for every test, cleaned between tests.

`MEDIATION_TEST_DB=sqlite` (default) or `postgresql` picks the database the suite runs on.
PostgreSQL-only tests (real concurrency) always use PostgreSQL at MEDIATION_TEST_PG_URL;
they fail, never skip, when it is not there. With CI=true any skip counts as a failure.
Redis is the server at MEDIATION_TEST_REDIS_URL (default redis://127.0.0.1:6379/0); tests
that need a database of their own take one by number with `redis_url(n)`.

Run once, not on each pass: on the PostgreSQL pass (MEDIATION_TEST_DB=postgresql) the tests
whose database does not depend on the pass are deselected (not skipped): those that use
neither the `app` nor the `database_url` fixture, in a module that does not read DB_KIND,
and those marked `own_db` (browser tests, the servers they start on their own database).
When CI runs both passes (MEDIATION_TEST_PASSES=both), the SQLite pass leaves the `postgres`
tests to the PostgreSQL pass, where they run on the very same kind of database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from flask import Flask

from mediation import create_app, writes
from mediation.extensions import db

PG_SERVER = os.environ.get("MEDIATION_TEST_PG_URL",
                           "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DB_KIND = os.environ.get("MEDIATION_TEST_DB", "sqlite")
REDIS_SERVER = os.environ.get("MEDIATION_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PII_KEY = Fernet.generate_key().decode()
SECRET = "test-secret-key-0123456789abcdef-0123456789"


def docker_answers() -> bool:
    """Whether a Docker daemon answers here (the image test is collected only then)."""
    import shutil
    import subprocess

    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def pytest_report_header(config) -> list[str]:
    lines = [f"mediation test database: {DB_KIND} (PostgreSQL server for pg tests: {PG_SERVER})"]
    if not docker_answers():
        lines.append("tests/test_deploy.py: the Docker image test is not collected: no Docker daemon "
                     "answers `docker info` (the same layout runs without containers)")
    return lines


def redis_url(database: int) -> str:
    """The test Redis server's database number `database` (tests flush what they own)."""
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(REDIS_SERVER)._replace(path=f"/{database}"))


def _runs_on_every_pass(item: pytest.Item) -> bool:
    if item.get_closest_marker("own_db"):
        return False
    if item.get_closest_marker("postgres"):  # the PostgreSQL pass is where they run
        return True
    names = set(getattr(item, "fixturenames", ()))
    return bool(names & {"app", "database_url"}) or hasattr(getattr(item, "module", None), "DB_KIND")


def pytest_collection_modifyitems(config, items) -> None:
    if DB_KIND == "postgresql":
        once = [i for i in items if not _runs_on_every_pass(i)]
        why = "ran on the SQLite pass: their database does not depend on MEDIATION_TEST_DB"
    elif os.environ.get("MEDIATION_TEST_PASSES") == "both":
        once = [i for i in items if i.get_closest_marker("postgres")]
        why = "run on the PostgreSQL pass: they always use PostgreSQL"
    else:
        return
    if once:
        config.hook.pytest_deselected(items=once)
        dropped = set(once)
        items[:] = [i for i in items if i not in dropped]
        config._mediation_deselected = (len(once), why)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if hasattr(config, "_mediation_deselected"):
        count, why = config._mediation_deselected
        terminalreporter.write_line(f"mediation: {count} test(s) deselected on this pass ({why})")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    # In CI a skipped test is a missing service or a silent gap: make it fail loudly.
    if os.environ.get("CI", "").lower() == "true" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which counts as a failure: {report.longrepr}"


def _pg_admin_engine() -> sa.Engine:
    return sa.create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")


def make_pg_database() -> str:
    """A fresh PostgreSQL database on the test server; returns its URL."""
    name = f"mediation_test_{uuid.uuid4().hex[:10]}"
    engine = _pg_admin_engine()
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:  # pragma: no cover - reported, not skipped
        pytest.fail(f"PostgreSQL is required for this test and is not reachable at "
                    f"{PG_SERVER}: {exc.orig}", pytrace=False)
    finally:
        engine.dispose()
    return sa.make_url(PG_SERVER).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    name = sa.make_url(url).database
    engine = _pg_admin_engine()
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def build_app(database_url: str, instance: Path, **extra) -> Flask:
    app = create_app({
        "MEDIATION_DATABASE_URL": database_url,
        "MEDIATION_SECRET_KEY": SECRET,
        "MEDIATION_PII_KEY": PII_KEY,
        "INSTANCE_PATH": str(instance),
        "TESTING": True,
        # The suite takes one petitioner in many times over; the repeat tests switch it on.
        "MEDIATION_REPEAT_INTAKE": "warn",
        **extra,
    })
    from mediation.cli import upgrade_database

    with app.app_context():
        upgrade_database()
    return app


def clean_database(app: Flask) -> None:
    """Empty every table. On PostgreSQL the append-only triggers refuse TRUNCATE of the
    events: the test server's superuser switches triggers off for this one transaction
    (`session_replication_role = replica`), which the application never does."""
    from mediation import timeline

    timeline.drain()  # nothing of this test is still being published into the next
    limiter = app.extensions.get("mediation.login_limiter")
    if limiter is not None and app.config.get("RATELIMIT_STORAGE_URI") == "memory://":
        limiter.reset()  # one test's failed sign-ins do not throttle the next
    with app.app_context():
        db.session.remove()
        writes.reset()  # counts of writes (user ids are used again)
        # The repeat check's copy of the counties' names follows writes, not a TRUNCATE that
        # restarts the ids (which the application never does): the next test starts without it.
        app.extensions.pop("mediation.county_names", None)
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
                conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                for t in tables:
                    conn.execute(sa.text(f"DELETE FROM {t}"))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> Iterator[str]:
    if DB_KIND == "postgresql":
        url = make_pg_database()
        yield url
        drop_pg_database(url)
    elif DB_KIND == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    else:
        raise RuntimeError(f"MEDIATION_TEST_DB must be sqlite or postgresql, not {DB_KIND}")


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory) -> Flask:
    return build_app(database_url, tmp_path_factory.mktemp("instance"))


@pytest.fixture(autouse=True)
def _clean(request) -> Iterator[None]:
    yield
    if "app" in request.fixturenames:
        clean_database(request.getfixturevalue("app"))


@pytest.fixture
def ctx(app) -> Iterator[Flask]:
    """An app context for tests that call commands and queries directly."""
    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def pg_app(app, database_url, tmp_path_factory) -> Iterator[Flask]:
    """An app on PostgreSQL whatever MEDIATION_TEST_DB says: for real concurrency."""
    if DB_KIND == "postgresql":
        yield app
        return
    url = make_pg_database()
    try:
        yield build_app(url, tmp_path_factory.mktemp("pg-instance"))
    finally:
        drop_pg_database(url)


@pytest.fixture
def pg(pg_app) -> Iterator[Flask]:
    with pg_app.app_context():
        yield pg_app
        db.session.remove()
    clean_database(pg_app)


@pytest.fixture
def api(app, client):
    from tests.factories import Api

    return Api(app, client)


@pytest.fixture
def w(app, api):
    """The sessions tests' world: a case with an accepted mediation referral and its people."""
    from tests.factories import sessions_world

    world = sessions_world(app, api.tokens)
    world.api = api
    return world


# Browser fixtures (imported last: tests.browser imports helpers that import this module).
from tests.browser import browser, contexts, demo_server  # noqa: E402, F401, I001
from tests.page_client import csrf_on  # noqa: E402, F401, I001
from tests.security_live import live  # noqa: E402, F401, I001


@pytest.fixture(scope="session")
def private_redis() -> Iterator[str]:
    """A Redis server of this test run alone, on a free port (its queue channel and keys are
    ours). Session-scoped on purpose: building an app on it re-points the process-wide
    sign-in limiter (flask-limiter's single instance) at it, so it must outlive every later
    test of the run."""
    import socket
    import subprocess
    import time

    import redis

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 20
    while True:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            assert time.monotonic() < deadline, "our Redis answers"
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
