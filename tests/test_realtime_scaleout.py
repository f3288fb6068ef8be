"""Several processes: two web servers sharing Redis and PostgreSQL deliver each other's
writes; a Celery worker emits through the same queue; and an outbox sweep delivers what
was written while Redis was down. Real processes, real sockets, real Redis."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import redis
import requests
from sqlalchemy.orm import Session

from mediation import timeline
from mediation.extensions import db
from tests.conftest import build_app, drop_pg_database, make_pg_database, redis_url
from tests.factories import World, make_world
from tests.test_realtime_live import WAIT, Client, LiveServer, free_port

pytestmark = pytest.mark.slow
# The test Redis server (MEDIATION_TEST_REDIS_URL), database 5: ours alone, flushed here.
# The Socket.IO channel carries the database number, so other databases' servers do not
# hear us.
REDIS_URL = redis_url(5)


def wait_until(predicate, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def readyz(server: LiveServer) -> tuple[int, dict]:
    r = requests.get(server.base + "/readyz", timeout=WAIT)
    return r.status_code, r.json()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[World]:
    redis.Redis.from_url(REDIS_URL).flushdb()
    work = tmp_path_factory.mktemp("cluster")
    url = make_pg_database()
    servers: list[LiveServer] = []
    worker = None
    try:
        app = build_app(url, work / "seed-instance", MEDIATION_REDIS_URL=REDIS_URL)
        world = make_world(app, {"officer": ("case_officer", "510104")}, {"a": ("officer", "510104")})
        servers = [LiveServer(work, url, MEDIATION_REDIS_URL=REDIS_URL).start() for _ in range(2)]
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "mediation.celery_worker", "worker",
             "--pool=solo", "--without-gossip", "--without-mingle", "--loglevel=INFO"],
            env=servers[0].env, stdout=(work / "worker.log").open("w"), stderr=subprocess.STDOUT)
        world.servers, world.app, world.work = servers, app, work
        yield world
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
        for s in servers:
            s.stop()
        drop_pg_database(url)
        redis.Redis.from_url(REDIS_URL).flushdb()


def test_a_write_through_one_server_reaches_a_client_of_the_other(cluster):
    one, other = cluster.servers
    tok, case_id = cluster.tokens["officer"], cluster.cases["a"]
    for server in (one, other):
        status, body = readyz(server)
        assert status == 200 and body["checks"]["socketio_listener"] == "ok", body
    c = Client(other.base, tok)
    try:
        assert c.call("subscribe", {"case_id": case_id, "after": 0})["ok"]
        seqs = [one.post(f"/api/cases/{case_id}/messages", tok, {"body": f"via one {i}"}).json()["seq"]
                for i in range(3)]
        got = c.take(3, case_id)
        assert [e["seq"] for e in got] == seqs
        # And the other way round, over the socket.
        ack = c.call("post_message", {"case_id": case_id, "body": "via other"})
        assert ack["ok"] and c.take(1, case_id)[0]["seq"] == ack["seq"]
    finally:
        c.close()


def test_a_celery_worker_emits_and_a_connected_client_receives(cluster):
    server = cluster.servers[0]
    app, case_id = cluster.app, cluster.cases["a"]
    c = Client(server.base, cluster.tokens["officer"])
    try:
        after = c.call("subscribe", {"case_id": case_id, "after": 0})["last_seq"]
        with app.app_context():
            # Committed but not published (as after a crash): only the outbox holds it.
            with Session(db.engine) as s:
                ev = timeline.append(s, case_id, "message.posted",
                                     {"channel": "case", "body": "swept by a worker"},
                                     cluster.officer.id)
                s.commit()
                seq = ev.seq
            assert timeline.pending_count() >= 1
            # What beat sends every 15 s; the worker runs it and emits through Redis.
            app.extensions["celery"].send_task("mediation.publish_pending")
            db.session.remove()
        got = c.take(1, case_id, timeout=90)[0]  # the worker's start-up is inside this wait
        assert (got["seq"], got["data"]["body"]) == (seq, "swept by a worker") and seq == after + 1
        with app.app_context():
            wait_until(lambda: timeline.pending_count() == 0, "the outbox to empty")
            db.session.remove()
    finally:
        c.close()


def test_events_written_while_redis_is_down_are_delivered_once_it_is_back(tmp_path):
    port = free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"

    def start_redis() -> subprocess.Popen:
        proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                 "--save", "", "--appendonly", "no"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_until(lambda: _pings(redis_url), "our own Redis to answer")
        return proc

    own_redis = start_redis()
    url = f"sqlite:///{tmp_path / 'outbox.db'}"
    app = build_app(url, tmp_path / "seed-instance", MEDIATION_REDIS_URL=redis_url)
    world = make_world(app, {"officer": ("case_officer", "510104")}, {"a": ("officer", "510104")})
    tok, case_id = world.tokens["officer"], world.cases["a"]
    server = LiveServer(tmp_path, url, MEDIATION_REDIS_URL=redis_url).start()
    c = None
    try:
        wait_until(lambda: readyz(server)[0] == 200, "the listener to subscribe")
        c = Client(server.base, tok)
        last = c.call("subscribe", {"case_id": case_id, "after": 0})["last_seq"]
        own_redis.terminate()
        own_redis.wait(10)
        # Requests are still served: ready (200), live delivery reported degraded.
        wait_until(lambda: readyz(server)[1]["status"] == "degraded", "/readyz to say degraded")
        status, body = readyz(server)
        assert status == 200 and "disconnected" in body["checks"]["socketio_listener"], body
        posted = [server.post(f"/api/cases/{case_id}/messages", tok, {"body": f"offline {i}"})
                  for i in range(3)]
        assert [r.status_code for r in posted] == [201] * 3  # the writes stand
        with app.app_context():
            assert timeline.pending_count() == 3  # and wait in the outbox
            db.session.remove()
        own_redis = start_redis()
        # Subscribed again, the listener tells its connections to resync: the client
        # resumes from its cursor (what the browser client does on "resync").
        assert c.resyncs.get(timeout=30) == {"reason": "queue"}
        assert readyz(server)[1]["status"] == "ok"
        ack = c.call("subscribe", {"case_id": case_id, "after": last})
        seen: dict[int, dict] = {e["seq"]: e for e in ack["missed"]}
        assert sorted(seen) == [last + 1, last + 2, last + 3]
        # A write right after the recovery arrives live.
        after = server.post(f"/api/cases/{case_id}/messages", tok, {"body": "back"}).json()["seq"]
        live_seqs = []
        while after not in live_seqs:
            live_seqs.append(c.take(1, case_id)[0]["seq"])
        sweep = server.cli("timeline", "publish-pending")  # what beat runs, by hand
        assert sweep.returncode == 0 and "0 still pending" in sweep.stdout, sweep.stdout
        assert [seen[k]["data"]["body"] for k in sorted(seen)] == [f"offline {i}" for i in range(3)]
    finally:
        if c is not None:
            c.close()
        server.stop()
        own_redis.terminate()
        own_redis.wait(10)


def _pings(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.ConnectionError:
        return False


def test_channel_names_carry_the_redis_database():
    from realtime.queue import channel_for

    assert channel_for("redis://h:6379/0") == channel_for("redis://h:6379") == "mediation-socketio"
    assert channel_for("redis://h:6379/5") == "mediation-socketio.db5"


def test_the_queue_parses_redis_replies_with_hiredis():
    # Every web process parses every event published to the queue (its listener) and the
    # emitter's and limiter's replies: redis-py's C parser (hiredis, a dependency) does it,
    # not the pure-Python one, on a real connection to the test Redis.
    from realtime.queue import QueueEmitter

    emitter = QueueEmitter(redis_url(0))
    emitter._redis_connect()
    conn = emitter.redis.connection_pool.get_connection()
    try:
        assert type(conn._parser).__name__ == "_HiredisParser"
        conn.send_command("PING")
        assert conn.read_response() in (b"PONG", "PONG", True)
    finally:
        emitter.redis.connection_pool.release(conn)
        emitter.redis.close()
