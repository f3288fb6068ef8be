"""The deadline sweep in real Celery worker processes on Redis and PostgreSQL.

Offers whose deadlines have passed are expired exactly once and re-routed, even with two
workers sweeping at once; a worker killed with SIGKILL in the middle of a sweep and
restarted leaves no offer processed twice and none missed. Nothing is mocked: the workers
are `celery -A mediation.celery_worker worker` processes, the broker is Redis (a database
of our own), the database a PostgreSQL database made for the test. Each test sends its
tasks to a queue of its own name, so that two runs of the suite at once (developers share
this machine) never take each other's tasks; the queue is deleted afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from celery import Celery

from mediation.extensions import db
from mediation.timeline import Event
from referrals import lifecycle
from referrals.models import Provider, Referral, RoutingNeed
from tests.conftest import PII_KEY, SECRET, build_app, drop_pg_database, make_pg_database, redis_url
from tests.factories import World, make_case, make_provider, make_user

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

REDIS_URL = redis_url(7)
REPO = Path(__file__).resolve().parent.parent
WAIT = 180  # seconds: a bound so that a broken worker fails the test instead of hanging it


@pytest.fixture
def queue() -> str:
    return f"referrals-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def broker(queue) -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as exc:  # pragma: no cover - reported, not skipped
        pytest.fail(f"Redis is required for this test and is not reachable at {REDIS_URL}: {exc}")
    client.delete(queue)
    yield REDIS_URL
    client.delete(queue)
    client.close()


@pytest.fixture
def world(tmp_path) -> Iterator[World]:
    """A PostgreSQL database of its own, and an app on it (embedded tasks: no Redis)."""
    url = make_pg_database()
    try:
        app = build_app(url, tmp_path / "instance")
        with app.app_context():
            yield World(app=app, url=url, tmp=tmp_path)
            db.session.remove()
            db.engine.dispose()
    finally:
        drop_pg_database(url)


class Worker:
    """`celery -A mediation.celery_worker worker` as a real process."""

    def __init__(self, world: World, broker: str, name: str, queue: str) -> None:
        env = dict(os.environ)
        env.update({
            "MEDIATION_DATABASE_URL": world.url, "MEDIATION_REDIS_URL": broker,
            "MEDIATION_SECRET_KEY": SECRET, "MEDIATION_PII_KEY": PII_KEY,
            "MEDIATION_INSTANCE_PATH": str(world.tmp / f"instance-{name}"),
        })
        self.name = f"{name}-{queue}@referrals-test"
        self.log = world.tmp / f"{name}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "mediation.celery_worker", "worker",
             "--pool=solo", "--loglevel=INFO", "-n", self.name, "-Q", queue,
             "--without-gossip", "--without-mingle"],
            cwd=REPO, env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT)

    def wait_ready(self, client: Celery) -> None:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"worker exited: {self.log.read_text()[-2000:]}")
            if any(self.name in reply for reply in client.control.ping(timeout=0.5) or []):
                return
        pytest.fail(f"worker never answered a ping: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def client(broker, queue) -> Iterator[Celery]:
    celery = Celery("referrals-test", broker=broker)
    celery.conf.broker_connection_retry_on_startup = True
    celery.conf.task_default_queue = queue
    yield celery
    celery.close()


def overdue_offers(n_cases: int, n_providers: int = 12) -> list[int]:
    """n cases in one county, each with an offer whose deadline has passed."""
    officer = make_user("case_officer", "510104")
    for _ in range(n_providers):
        make_provider("mediator", capacity=n_cases)
    ids = []
    for _ in range(n_cases):
        case = make_case(officer, needs=["economic_compensation"])
        ids.append(lifecycle.request_referral(officer, case.id, "economic_compensation").id)
    db.session.execute(sa.update(Referral).values(
        respond_by=sa.func.now() - sa.text("interval '1 hour'")))
    db.session.commit()
    return ids


def count_expired(ids: list[int]) -> int:
    db.session.rollback()
    return db.session.execute(sa.select(sa.func.count()).select_from(Referral).where(
        Referral.id.in_(ids), Referral.status == "expired")).scalar_one()


def wait_until_all_expired(ids: list[int], workers: list[Worker]) -> None:
    deadline = time.monotonic() + WAIT
    while count_expired(ids) < len(ids):
        for w in workers:
            if w.proc.poll() is not None:
                pytest.fail(f"worker exited: {w.log.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"only {count_expired(ids)} of {len(ids)} offers expired")
        time.sleep(0.2)


def assert_each_expired_once_and_rerouted(ids: list[int]) -> None:
    db.session.rollback()
    expired_events = Counter(
        ev.payload["referral_id"] for ev in db.session.execute(
            sa.select(Event).where(Event.type == "referral.expired")).scalars())
    assert expired_events == Counter({rid: 1 for rid in ids})  # exactly once, none missed
    originals = db.session.execute(sa.select(Referral).where(Referral.id.in_(ids))).scalars().all()
    assert {r.status for r in originals} == {"expired"}
    followers = db.session.execute(sa.select(Referral).where(Referral.id.not_in(ids))).scalars().all()
    # Each need re-routed exactly once: one new offer per expired one, to someone else.
    by_need = Counter(r.routing_need_id for r in followers)
    assert sorted(by_need) == sorted(r.routing_need_id for r in originals)
    assert set(by_need.values()) == {1}
    first = {r.routing_need_id: r.provider_id for r in originals}
    assert all(r.status == "offered" and r.attempt == 2 and r.provider_id != first[r.routing_need_id]
               for r in followers)
    assert set(db.session.execute(sa.select(RoutingNeed.failed_offers)).scalars()) == {1}
    # Capacity counters agree with the live referrals.
    live = Counter(r.provider_id for r in followers)
    for p in db.session.execute(sa.select(Provider)).scalars():
        assert p.load == live[p.id], (p.id, p.load, live[p.id])


def test_two_workers_sweep_overdue_offers_exactly_once_and_reroute(world, broker, client, queue):
    ids = overdue_offers(60)
    workers = [Worker(world, broker, f"sweeper{i}", queue) for i in range(2)]
    try:
        for w in workers:
            w.wait_ready(client)
        # Both sweep at once (as two beats or a re-delivered task would), in small batches.
        for _ in workers:
            client.send_task("referrals.sweep", kwargs={"batch": 3})
        wait_until_all_expired(ids, workers)  # each batch expires and re-routes in one commit
    finally:
        for w in workers:
            w.stop()
    assert_each_expired_once_and_rerouted(ids)


def test_worker_killed_mid_sweep_then_restarted_misses_nothing_and_repeats_nothing(
        world, broker, client, queue):
    ids = overdue_offers(300)
    worker = Worker(world, broker, "doomed", queue)
    try:
        worker.wait_ready(client)
        client.send_task("referrals.sweep", kwargs={"batch": 2})
        deadline = time.monotonic() + WAIT
        while count_expired(ids) == 0:
            if time.monotonic() > deadline:
                pytest.fail(f"the sweep never started: {worker.log.read_text()[-2000:]}")
            time.sleep(0.02)
        worker.kill()
    finally:
        worker.stop()
    done_at_kill = count_expired(ids)
    assert 0 < done_at_kill < len(ids), "the worker was to be killed in the middle of the sweep"
    # The killed batch rolled back with its connection: those offers are open again.
    restarted = Worker(world, broker, "restarted", queue)
    try:
        restarted.wait_ready(client)
        client.send_task("referrals.sweep", kwargs={"batch": 2})  # the next beat
        wait_until_all_expired(ids, [restarted])
    finally:
        restarted.stop()
    assert_each_expired_once_and_rerouted(ids)
