"""The standing fault suite: real processes on a private Redis and a private PostgreSQL that
these tests start themselves (so they may kill them), and after each fault

- nothing lost: every write the client was told succeeded (or retried with its
  Idempotency-Key until it was) is in the database,
- nothing doubled: each is there once,
- the live client complete: a real python-socketio client on the other web process,
  behaving as the browser client does (drop duplicates by (case_id, seq); on `resync`,
  resume from its cursor), ends up with every event, in order.

Faults: (a) Redis killed and restarted during writes, (b) PostgreSQL restarted during writes,
(c) a web process SIGKILLed mid-burst, (d) a Celery worker SIGKILLed mid-sweep.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests
import sqlalchemy as sa
from sqlalchemy.orm import Session

from mediation import timeline
from mediation.extensions import db
from tests.conftest import build_app
from tests.factories import World, make_world
from tests.test_realtime_live import WAIT, Client, LiveServer, free_port

# Its own services: one run, on the SQLite pass (the database is never the pass's).
pytestmark = [pytest.mark.slow, pytest.mark.own_db]
LIFTED = {"MEDIATION_MESSAGE_RATE": "1000000/60", "MEDIATION_WRITE_LIMIT": "100000000 per minute"}


def wait_until(predicate, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


# --- private services --------------------------------------------------------------------

class PrivateRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_until(self.answers, "the private Redis to answer")

    def answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_connect_timeout=1).ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class PrivatePostgres:
    """A cluster of its own (initdb, pg_ctl) in a temporary directory, on a free port."""

    def __init__(self) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
        assert bins, "PostgreSQL's binaries are not installed (/usr/lib/postgresql/*/bin)"
        self.bin = Path(bins[-1])
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="mediation-faults-pg-"))
        self.data = self.dir / "data"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/faults"
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root: its own user runs it
            shutil.chown(self.dir, "postgres", "postgres")

    def _run(self, *argv: str) -> None:
        cmd = [str(self.bin / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        # Output to a file, not a pipe: the server started inherits it and never closes it.
        with (self.dir / "ctl.log").open("a") as out:
            subprocess.run(cmd, check=True, stdout=out, stderr=subprocess.STDOUT, timeout=120)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()
        admin = sa.create_engine(self.url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("CREATE DATABASE faults"))
        admin.dispose()

    def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off "
                   "-c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"), "-w", "start")

    def restart(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-m", "fast", "-w",
                  "restart")

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def kill_process_tree(proc: subprocess.Popen) -> None:
    """SIGKILL a process we started and its children (gunicorn's master and its worker)."""
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    os.kill(proc.pid, signal.SIGKILL)
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
    proc.wait(10)


def start_worker(env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "mediation.celery_worker", "worker", "--pool=solo",
         "--without-gossip", "--without-mingle", "--loglevel=INFO"],
        env=env, stdout=log.open("a"), stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def services() -> Iterator[tuple[PrivatePostgres, PrivateRedis]]:
    pg, rd = PrivatePostgres(), PrivateRedis()
    try:
        pg.init()
        rd.start()
        yield pg, rd
    finally:
        rd.kill()
        pg.stop()


@pytest.fixture(scope="module")
def cluster(services, tmp_path_factory) -> Iterator[World]:
    pg, rd = services
    work = tmp_path_factory.mktemp("faults")
    app = build_app(pg.url, work / "seed-instance", MEDIATION_REDIS_URL=rd.url)
    people = {"officer": ("case_officer", "510104")}
    world = make_world(app, people, {c: ("officer", "510104") for c in "abcd"})
    servers = [LiveServer(work, pg.url, MEDIATION_REDIS_URL=rd.url, **LIFTED).start() for _ in range(2)]
    world.app, world.work, world.servers, world.pg, world.redis = app, work, servers, pg, rd
    try:
        yield world
    finally:
        for s in world.servers:
            s.stop()
        with app.app_context():
            db.engine.dispose()


# --- the client and the writer ------------------------------------------------------------

class Follower:
    """A live client as the browser's: keeps one cursor per case, drops duplicates, and on
    `resync` resumes from its cursor (in this thread, as the acknowledgement needs the
    client's own receiving thread free)."""

    def __init__(self, base: str, token: str, case_id: int) -> None:
        self.client = Client(base, token)
        self.case_id = case_id
        self.seen: dict[int, dict] = {}
        self.cursor = self.client.call("subscribe", {"case_id": case_id, "after": 0})["last_seq"]
        self.start = self.cursor

    def pump(self, until: set[int], timeout: float = 90) -> None:
        """Take what arrives (resuming on resync) until every seq in `until` is seen."""
        deadline = time.monotonic() + timeout
        while not until <= set(self.seen):
            assert time.monotonic() < deadline, f"missing live: {sorted(until - set(self.seen))[:20]}"
            try:
                while True:
                    self.client.resyncs.get_nowait()
                    self._resume()
            except queue.Empty:
                pass
            try:
                envelope = self.client.events.get(timeout=0.5)
            except queue.Empty:
                continue
            if envelope["case_id"] == self.case_id:
                self.seen.setdefault(envelope["seq"], envelope)

    def _resume(self) -> None:
        more = True
        while more:
            ack = self.client.call("subscribe", {"case_id": self.case_id, "after": self.contiguous()})
            assert ack["ok"], ack
            for envelope in ack["missed"]:
                self.seen.setdefault(envelope["seq"], envelope)
            more = ack["more"]

    def contiguous(self) -> int:
        n = self.start
        while n + 1 in self.seen:
            n += 1
        return n

    def close(self) -> None:
        self.client.close()


class Writer(threading.Thread):
    """Posts `n` messages, each retried with its Idempotency-Key (as a client should on a
    503, a timeout or a refused connection) until it is acknowledged."""

    def __init__(self, bases: list[str], token: str, case_id: int, n: int, tag: str) -> None:
        super().__init__(daemon=True)
        self.bases, self.token, self.case_id, self.n, self.tag = bases, token, case_id, n, tag
        self.acked: dict[str, int] = {}  # body -> seq
        self.statuses: list[int] = []
        self.progress = threading.Event()

    def run(self) -> None:
        for i in range(self.n):
            body, key = f"{self.tag} {i}", uuid.uuid4().hex
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                base = self.bases[i % len(self.bases)] if len(self.bases) > 1 else self.bases[0]
                try:
                    r = requests.post(f"{base}/api/cases/{self.case_id}/messages", json={"body": body},
                                      timeout=10, headers={"Authorization": f"Bearer {self.token}",
                                                           "Idempotency-Key": key})
                except requests.RequestException:
                    self.statuses.append(-1)
                    self.bases = self.bases[1:] + self.bases[:1]  # another process, as a proxy would
                    time.sleep(0.2)
                    continue
                self.statuses.append(r.status_code)
                if r.status_code == 201:
                    self.acked[body] = r.json()["seq"]
                    break
                assert r.status_code == 503 and r.headers.get("Retry-After"), (r.status_code, r.text)
                time.sleep(0.3)
            if i == self.n // 4:
                self.progress.set()
        self.progress.set()


def assert_exactly_once(world: World, case_id: int, writer: Writer, follower: Follower) -> None:
    assert len(writer.acked) == writer.n, "a write never succeeded"
    assert 500 not in writer.statuses
    with world.app.app_context():
        rows = db.session.execute(sa.select(timeline.Event.seq, timeline.Event.data).where(
            timeline.Event.case_id == case_id, timeline.Event.type == "message.posted")).all()
        db.session.remove()
    bodies = [json.loads(data)["body"] for _seq, data in rows]
    mine = [b for b in bodies if b.startswith(writer.tag + " ")]
    assert sorted(mine) == sorted(writer.acked), "lost or doubled in the database"
    follower.pump(set(writer.acked.values()))
    got = {follower.seen[s]["data"]["body"] for s in writer.acked.values()}
    assert got == set(writer.acked)
    # In order and without a gap, as the client hands them on.
    assert follower.contiguous() >= max(writer.acked.values())


# --- the faults ---------------------------------------------------------------------------

def test_a_redis_killed_and_restarted_during_writes(cluster):
    one, other = cluster.servers
    case_id, token = cluster.cases["a"], cluster.tokens["officer"]
    follower = Follower(other.base, token, case_id)
    writer = Writer([one.base], token, case_id, 120, "redis")
    try:
        writer.start()
        assert writer.progress.wait(60)
        cluster.redis.kill()
        time.sleep(2)  # writes go on against a dead Redis
        cluster.redis.start()
        writer.join(120)
        assert not writer.is_alive()
        # What beat runs every 15 s: rows the publisher could not send go out now.
        assert one.cli("timeline", "publish-pending").returncode == 0
        assert_exactly_once(cluster, case_id, writer, follower)
        assert set(writer.statuses) == {201}  # Redis down never failed a write
    finally:
        follower.close()


def test_postgresql_restarted_during_writes(cluster):
    one, other = cluster.servers
    case_id, token = cluster.cases["b"], cluster.tokens["officer"]
    follower = Follower(other.base, token, case_id)
    writer = Writer([one.base], token, case_id, 120, "pg")
    try:
        writer.start()
        assert writer.progress.wait(60)
        cluster.pg.restart()
        writer.join(120)
        assert not writer.is_alive()
        assert one.cli("timeline", "publish-pending").returncode == 0
        assert_exactly_once(cluster, case_id, writer, follower)
    finally:
        follower.close()
    for server in (one, other):  # no restart needed: both serve again
        assert requests.get(server.base + "/readyz", timeout=WAIT).status_code == 200


def test_a_web_process_sigkilled_mid_burst(cluster):
    one, other = cluster.servers
    case_id, token = cluster.cases["c"], cluster.tokens["officer"]
    follower = Follower(other.base, token, case_id)
    writer = Writer([one.base, other.base], token, case_id, 120, "kill")
    try:
        writer.start()
        assert writer.progress.wait(60)
        kill_process_tree(one.proc)  # its writes acknowledged so far, some still unpublished
        writer.join(120)
        assert not writer.is_alive()
        # The killed process's unpublished events wait in the outbox: the sweep sends them.
        assert other.cli("timeline", "publish-pending").returncode == 0
        assert_exactly_once(cluster, case_id, writer, follower)
    finally:
        follower.close()
        cluster.servers[0] = LiveServer(cluster.work, cluster.pg.url, MEDIATION_REDIS_URL=cluster.redis.url,
                                        **LIFTED).start()


def test_a_celery_worker_sigkilled_mid_sweep(cluster):
    server = cluster.servers[1]
    case_id = cluster.cases["d"]
    follower = Follower(server.base, cluster.tokens["officer"], case_id)
    app = cluster.app
    try:
        with app.app_context():
            # A backlog only the outbox holds (as after a crash): 3,000 events in 6 batches.
            with Session(db.engine) as s:
                events = [timeline.append(s, case_id, "message.posted",
                                          {"channel": "case", "body": f"backlog {i}"}, None)
                          for i in range(3000)]
                s.commit()
                seqs = {e.seq for e in events}
            db.session.remove()
        log = cluster.work / "worker.log"
        worker = start_worker(server.env, log)
        try:
            app.extensions["celery"].send_task("mediation.publish_pending")
            with app.app_context():
                def started() -> bool:
                    db.session.remove()
                    return timeline.pending_count() < 3000
                wait_until(started, "the worker's sweep to start", timeout=90)
            kill_process_tree(worker)  # mid-sweep: its claimed batch dies with it
        finally:
            if worker.poll() is None:
                kill_process_tree(worker)
        with app.app_context():
            left = db.session.execute(
                sa.select(sa.func.count()).select_from(timeline.EventOutbox)).scalar_one()
            db.session.remove()
        assert left > 0, "the worker finished before it was killed: nothing was tested"
        worker = start_worker(server.env, log)  # a worker again: beat's next sweep finishes
        try:
            app.extensions["celery"].send_task("mediation.publish_pending")
            follower.pump(seqs, timeout=120)
        finally:
            worker.terminate()
            worker.wait(30)
        with app.app_context():
            db.session.remove()
            assert timeline.pending_count() == 0
            n = db.session.execute(sa.select(sa.func.count()).select_from(timeline.Event).where(
                timeline.Event.case_id == case_id, timeline.Event.type == "message.posted")).scalar_one()
            db.session.remove()
        assert n == 3000 and seqs <= set(follower.seen) and follower.contiguous() >= max(seqs)
    finally:
        follower.close()
