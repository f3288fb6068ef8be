"""What an operator relies on: `mediation serve` is gunicorn outside the embedded mode,
its logs tell (time, level, logger, request id; a lost Redis listener is logged), and
`/metrics`, `/healthz` and `mediation --version` say what runs and how it is doing."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from mediation import create_app
from mediation.about import version
from tests.conftest import PII_KEY, SECRET, drop_pg_database, make_pg_database
from tests.test_realtime_live import WAIT, LiveServer, free_port

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) "
                  r"[\w.]+ \[[^\]]+\] ")


def wait_until(predicate, what: str, timeout: float = 60) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def start_redis(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    def pings() -> bool:
        try:
            return bool(redis.Redis(port=port, socket_connect_timeout=1).ping())
        except redis.ConnectionError:
            return False

    wait_until(pings, "a private Redis to answer")
    return proc


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[dict]:
    """`mediation serve` on PostgreSQL with a private Redis: the production shape."""
    work = tmp_path_factory.mktemp("ops")
    redis_port = free_port()
    own_redis = start_redis(redis_port)
    url = make_pg_database()
    server = LiveServer(work, url, MEDIATION_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0")
    try:
        server.start()
        yield {"server": server, "redis": own_redis, "work": work}
    finally:
        server.stop()
        if own_redis.poll() is None:
            own_redis.terminate()
            own_redis.wait(10)
        drop_pg_database(url)


@pytest.mark.slow
@pytest.mark.own_db
def test_serve_outside_the_embedded_mode_is_gunicorn_and_its_lines_tell(served):
    server: LiveServer = served["server"]
    # `mediation serve` replaced itself with gunicorn's master, which runs one worker.
    argv = cmdline(server.proc.pid)
    assert "gunicorn" in argv and "python:mediation.gunicorn_conf" in argv, argv
    r = requests.get(server.base + "/healthz", headers={"X-Request-ID": "probe-0042"}, timeout=WAIT)
    assert r.json() == {"status": "ok", "version": version()}
    assert r.headers["X-Request-ID"] == "probe-0042"
    wait_until(lambda: requests.get(server.base + "/readyz", timeout=WAIT).status_code == 200,
               "the listener to subscribe")
    metrics = requests.get(server.base + "/metrics", timeout=WAIT).text
    assert re.search(r"^mediation_celery_queue_length 0\.0$", metrics, re.M), metrics
    assert re.search(r"^mediation_socketio_connections 0\.0$", metrics, re.M), metrics

    def log_lines() -> list[str]:
        return server.log.read_text().splitlines()

    wait_until(lambda: any("probe-0042" in line for line in log_lines()), "the access line")
    lines = log_lines()
    # gunicorn's own lines and the app's come through one format: time, level, logger, request id
    starting = [line for line in lines if "Starting gunicorn" in line]
    assert starting and LINE.match(starting[0]) and " gunicorn.error " in starting[0], lines
    access = [line for line in lines if "probe-0042" in line]
    assert LINE.match(access[0]) and " INFO mediation.access [probe-0042] GET /healthz 200 " in access[0]
    subscribed = [line for line in lines if "listener subscribed" in line]
    assert subscribed and LINE.match(subscribed[0]) and " INFO realtime.queue " in subscribed[0]
    assert not any("\x1b[" in line for line in lines)  # no colour codes in a log file

    # Redis goes away: the listener's loss is in the log, with its level, not only in /readyz.
    served["redis"].terminate()
    served["redis"].wait(10)
    wait_until(lambda: any("listener lost Redis" in line for line in log_lines()),
               "the listener's loss to be logged")
    lost = [line for line in log_lines() if "listener lost Redis" in line][0]
    assert LINE.match(lost) and " ERROR realtime.queue " in lost, lost
    # Requests are still served: ready, with live delivery reported degraded, not 503.
    r = requests.get(server.base + "/readyz", timeout=WAIT)
    assert r.status_code == 200 and r.json()["status"] == "degraded", r.text
    assert r.json()["checks"]["socketio_listener"].startswith("degraded"), r.text


def test_json_lines_with_one_setting(app):
    from mediation.logs import RequestIdFilter, make_formatter

    record = logging.LogRecord("realtime.queue", logging.ERROR, __file__, 1, "lost %s", ("Redis",),
                               None)
    RequestIdFilter().filter(record)
    line = json.loads(make_formatter("json").format(record))
    assert line["level"] == "ERROR" and line["logger"] == "realtime.queue"
    assert line["message"] == "lost Redis" and line["request_id"] == "-"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", line["time"])


def test_a_bad_log_format_is_a_configuration_error(monkeypatch):
    from mediation.config import ConfigError
    from mediation.logs import configure

    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "_mediation", False)]
    for h in ours:
        root.removeHandler(h)
    try:
        with pytest.raises(ConfigError, match="MEDIATION_LOG_FORMAT must be one of text, json"):
            configure({"MEDIATION_LOG_FORMAT": "xml"})
    finally:
        for h in ours:
            root.addHandler(h)


def test_request_ids_are_made_when_none_or_a_strange_one_comes(client):
    made = client.get("/healthz").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert client.get("/healthz", headers={"X-Request-ID": "bad id; rm"}).headers[
        "X-Request-ID"] != "bad id; rm"


def test_migrations_leave_the_existing_loggers_working(app):
    # Alembic's fileConfig() used to disable every logger that existed before it ran.
    assert not logging.getLogger("realtime.queue").disabled
    assert not logging.getLogger("mediation.timeline").disabled
    assert any(getattr(h, "_mediation", False) for h in logging.getLogger().handlers)


def test_metrics_in_prometheus_format(app, client, api):
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from mediation import timeline
    from mediation.extensions import db
    from mediation.metrics import sweep_succeeded

    officer = api.user("case_officer", "510104")
    case_id = api.case(officer)["id"]
    client.get("/healthz")
    timeline.drain()  # the intake's events are out
    with app.app_context():
        # Committed but not yet published (as after a crash): the outbox holds it.
        with Session(db.engine) as s:
            timeline.append(s, case_id, "message.posted", {"channel": "case", "body": "x"}, None)
            s.commit()
        pending = db.session.execute(sa.select(sa.func.count()).select_from(
            timeline.EventOutbox)).scalar_one()
        db.session.remove()
    sweep_succeeded("mediation.publish_pending", None)
    r = client.get("/metrics")
    assert r.status_code == 200 and r.content_type.startswith("text/plain; version=")
    text = r.get_data(as_text=True)
    assert re.search(r'^mediation_http_requests_total\{endpoint="/healthz",method="GET",status="200"\} '
                     r"[1-9]", text, re.M), text
    assert re.search(r'^mediation_http_request_duration_seconds_count\{endpoint="/api/cases",'
                     r'method="POST"\} [1-9]', text, re.M), text
    assert re.search(r"^mediation_outbox_depth 1\.0$", text, re.M) and pending == 1
    age = float(re.search(r"^mediation_outbox_oldest_age_seconds (\S+)$", text, re.M).group(1))
    assert 0 <= age < 3600
    assert re.search(r'^mediation_sweep_last_success_timestamp_seconds\{sweep="mediation.publish_pending"\} ',
                     text, re.M)
    assert f'mediation_build_info{{version="{version()}"}} 1.0' in text
    assert "process_cpu_seconds_total" in text
    assert "mediation_celery_queue_length" not in text  # embedded: no broker to ask


def test_version_on_the_command_line():
    done = subprocess.run([sys.executable, "-c", "from mediation.cli import main; main()", "--version"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == f"mediation {version()}"


def test_serve_without_gunicorn_refuses_naming_the_command(monkeypatch):
    from mediation import server

    monkeypatch.setitem(sys.modules, "gunicorn", None)  # as if it were not installed
    with pytest.raises(RuntimeError) as err:
        server.exec_gunicorn("127.0.0.1", 8001)
    message = str(err.value)
    assert "\n" not in message
    assert "gunicorn -c python:mediation.gunicorn_conf -b 127.0.0.1:8001 mediation.wsgi:app" in message


def _non_embedded_app(tmp_path: Path, **env: str):
    tmp_path.mkdir(parents=True, exist_ok=True)
    return create_app({"MEDIATION_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
                       "MEDIATION_REDIS_URL": "redis://127.0.0.1:6379/15",
                       "MEDIATION_SECRET_KEY": SECRET, "MEDIATION_PII_KEY": PII_KEY,
                       "INSTANCE_PATH": str(tmp_path / "instance"), **env})


def test_demo_refuses_outside_the_embedded_mode(tmp_path):
    app = _non_embedded_app(tmp_path)
    result = app.test_cli_runner().invoke(args=["demo", "--no-serve"])
    assert result.exit_code == 2
    assert "configuration error: mediation demo runs only in the embedded mode" in result.output
    assert "Demo logins" not in result.output


def test_secure_cookies_outside_the_embedded_mode_and_by_setting(tmp_path, monkeypatch, app):
    monkeypatch.delenv("MEDIATION_SECURE_COOKIES", raising=False)
    outside = _non_embedded_app(tmp_path / "a")
    cookie = outside.test_client().get("/lang/en").headers.get("Set-Cookie", "")
    assert "session=" in cookie and "Secure" in cookie
    monkeypatch.setenv("MEDIATION_SECURE_COOKIES", "false")
    plain = _non_embedded_app(tmp_path / "b")
    assert "Secure" not in plain.test_client().get("/lang/en").headers.get("Set-Cookie", "")
    monkeypatch.setenv("MEDIATION_SECURE_COOKIES", "maybe")
    from mediation.config import ConfigError

    with pytest.raises(ConfigError, match="MEDIATION_SECURE_COOKIES must be true or false"):
        _non_embedded_app(tmp_path / "c")


@pytest.mark.parametrize("hops, expected", [("0", ["127.0.0.1", "http"]),
                                            ("1", ["203.0.113.9", "https"])])
def test_proxy_headers_are_trusted_only_for_the_configured_hops(tmp_path, monkeypatch, hops, expected):
    from flask import request

    monkeypatch.setenv("MEDIATION_PROXY_HOPS", hops)
    app = _non_embedded_app(tmp_path)
    app.add_url_rule("/whoami", "whoami", lambda: [request.remote_addr, request.scheme])
    r = app.test_client().get("/whoami", headers={"X-Forwarded-For": "203.0.113.9",
                                                  "X-Forwarded-Proto": "https"})
    assert r.get_json() == expected


def test_migrations_import_no_application_code():
    """A migration runs against the schema of its time; live code moves on (its models, its
    rules), so what a migration needs is written into it."""
    import ast

    versions = Path(__file__).resolve().parents[1] / "mediation" / "migrations" / "versions"
    found = []
    for path in sorted(versions.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [(path.name, n) for n in names
                      if n.split(".")[0] in ("mediation", "realtime", "referrals", "templates")]
    assert len(list(versions.glob("*.py"))) >= 8
    assert found == []


@pytest.mark.slow
@pytest.mark.own_db
def test_without_redis_gunicorn_runs_the_sweeps_itself(tmp_path):
    """PostgreSQL without Redis: no beat, so the gunicorn worker runs the sweep loop."""
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from mediation import timeline
    from mediation.extensions import db
    from tests.conftest import build_app
    from tests.factories import make_world

    url = make_pg_database()
    server = LiveServer(tmp_path, url)
    try:
        app = build_app(url, tmp_path / "seed-instance")
        world = make_world(app, {"officer": ("case_officer", "510104")}, {"a": ("officer", "510104")})
        server.start()
        assert "gunicorn" in cmdline(server.proc.pid)
        with app.app_context():
            timeline.drain()
            with Session(db.engine) as s:  # committed, never published: only a sweep sends it
                timeline.append(s, world.cases["a"], "message.posted", {"channel": "case", "body": "x"},
                                world.officer.id)
                s.commit()

            def pending() -> int:
                try:
                    return db.session.execute(sa.select(sa.func.count()).select_from(
                        timeline.EventOutbox)).scalar_one()
                finally:
                    db.session.remove()

            assert pending() == 1
            wait_until(lambda: pending() == 0, "the server's own sweep loop to publish it", timeout=90)
            db.engine.dispose()
        text = requests.get(server.base + "/metrics", timeout=WAIT).text
        assert re.search(r"^mediation_sweep_last_success_timestamp_seconds"
                         r'\{sweep="mediation.timeline.publish"\} ', text, re.M), text
    finally:
        server.stop()
        drop_pg_database(url)


@pytest.mark.parametrize(("env_threads", "cli_threads"), [("1500", None), (None, 2000), (None, None)])
def test_gunicorn_accepts_a_connection_for_every_thread(monkeypatch, env_threads, cli_threads):
    """gunicorn's gthread worker accepts at most `worker_connections` connections at once,
    open WebSockets included (its default, 1,000, would leave the ones past it unanswered
    whatever the threads): the app's gunicorn settings, as gunicorn itself reads them from
    the command line `mediation serve` runs, leave room for one per thread plus the idle
    keep-alive ones, with the threads from the setting or from `--threads`."""
    import importlib

    from gunicorn.app.wsgiapp import WSGIApplication

    from mediation import gunicorn_conf
    from mediation.server import KEEPALIVE_CONNECTIONS, gunicorn_argv

    if env_threads is None:
        monkeypatch.delenv("MEDIATION_THREADS", raising=False)
    else:
        monkeypatch.setenv("MEDIATION_THREADS", env_threads)
    argv = gunicorn_argv("127.0.0.1", 8001, cli_threads)
    monkeypatch.setattr(sys, "argv", argv)
    try:
        importlib.reload(gunicorn_conf)  # it reads the environment when gunicorn loads it
        cfg = WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]").cfg
    finally:
        monkeypatch.undo()
        importlib.reload(gunicorn_conf)
    threads = cli_threads or int(env_threads or 100)
    assert (cfg.worker_class_str, cfg.threads) == ("gthread", threads)
    assert cfg.worker_connections == threads + KEEPALIVE_CONNECTIONS
