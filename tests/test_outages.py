"""A database that cannot be reached answers as an outage: 503 with Retry-After, a JSON body
on the API and a short page on the pages, one log line per failure with a running count and
no traceback. (A real PostgreSQL restarted under writes: tests/test_faults.py.)"""

from __future__ import annotations

import logging
import time

from mediation import create_app
from tests.conftest import PII_KEY, SECRET
from tests.test_realtime_live import free_port


def _unreachable_app(tmp_path):
    # Nothing listens on this port: every connection is refused, as while PostgreSQL restarts.
    return create_app({
        "MEDIATION_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/gone",
        "MEDIATION_SECRET_KEY": SECRET, "MEDIATION_PII_KEY": PII_KEY,
        "INSTANCE_PATH": str(tmp_path / "instance"), "TESTING": True})


def test_requests_answer_503_with_retry_after_while_the_database_is_down(tmp_path, caplog):
    app = _unreachable_app(tmp_path)
    client = app.test_client()
    caplog.set_level(logging.INFO)
    r = client.post("/api/cases/1/messages", json={"body": "hello"},
                    headers={"Authorization": "Bearer med_whatever"})
    assert r.status_code == 503 and r.headers["Retry-After"].isdigit()
    assert r.json["code"] == 503 and r.json["retry_after"] == int(r.headers["Retry-After"])
    # A signed-in page: finding who is signed in needs the database.
    with client.session_transaction() as session:
        now = int(time.time())
        session.update({"_user_id": "1:0", "signed_in_at": now, "seen_at": now})
    for lang in ("zh_CN", "en"):
        with client.session_transaction() as session:
            session["lang"] = lang
        page = client.get("/", headers={"Accept": "text/html"})
        assert page.status_code == 503 and page.headers["Retry-After"].isdigit()
        text = page.get_data(as_text=True)
        assert ("服务暂时不可用" if lang == "zh_CN" else "Service temporarily unavailable") in text
    lines = [rec for rec in caplog.records if rec.name == "mediation.outages"]
    assert len(lines) == 3 and all(rec.exc_info is None for rec in lines)
    assert [rec.getMessage().split("; ")[-1] for rec in lines] == [
        f"{n} failure(s) since it last answered" for n in (1, 2, 3)]  # a running count
    assert not any(rec.exc_info for rec in caplog.records if rec.levelno >= logging.ERROR)


def test_the_pool_pings_a_connection_unless_it_came_back_a_moment_ago_and_its_server_is_still_there(
        pg, monkeypatch):
    """On PostgreSQL the pool pings a connection before lending it (a round trip), except
    one checked in less than RECENT_CHECKIN seconds ago with nothing on its socket. One whose
    backend the server ended since is still pinged, fails it and is replaced: the statement
    runs on a new connection, no error."""
    import sqlalchemy as sa

    from mediation import outages
    from mediation.extensions import db

    engine = db.engine
    pings: list[int] = []
    full_ping = type(engine.dialect).do_ping

    def counted(dialect, dbapi_connection):
        pings.append(1)
        return full_ping(dialect, dbapi_connection)

    monkeypatch.setattr(type(engine.dialect), "do_ping", counted)
    engine.dispose()  # one connection from here on: each checkout gets the one checked in

    def backend() -> int:
        pid = db.session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        db.session.commit()  # back to the pool
        return pid

    first = backend()
    assert backend() == first and pings == []  # back a moment ago, quiet: no ping

    other = sa.create_engine(engine.url, poolclass=sa.pool.NullPool)  # not from the pool
    try:
        with other.connect() as admin:
            admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
            deadline = time.monotonic() + 10
            while admin.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                                {"pid": first}).scalar_one():
                assert time.monotonic() < deadline, "the backend did not end"
                admin.rollback()  # the statistics views keep one snapshot per transaction
                time.sleep(0.05)
    finally:
        other.dispose()
    second = backend()  # the ended one is pinged, found dead and replaced by a new one
    assert second != first and pings == [1]

    monkeypatch.setattr(outages, "RECENT_CHECKIN", 0.0)  # every connection counts as idle
    pings.clear()
    assert backend() == second and pings == [1]
