"""Deliveries by real Celery worker processes on Redis and PostgreSQL: every task sent
twice, to two workers at once, and each (notification, channel) reaches the provider once.

The provider is a WeCom robot stand-in on loopback (the real qyapi.weixin.qq.com cannot be
reached from this machine); workers are `celery -A mediation.celery_worker worker`
processes started as in test_referrals_celery.py, on a queue of the test's own name.
"""

from __future__ import annotations

import os
import time

import pytest
import sqlalchemy as sa

from mediation.extensions import db
from mediation.notifications.models import Delivery, Notification, Preference
from mediation.notifications.outbound import DELIVER_TASK
from mediation.timeline import Event
from referrals import lifecycle
from tests import test_referrals_celery as celery_tests
from tests.factories import make_case, make_provider, make_user
from tests.test_notification_channels import _serve, _WecomRobot
from tests.test_referrals_celery import WAIT, Worker

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

# The workers' fixtures: a PostgreSQL database of the test's own, Redis, a queue of its own.
world, broker, client, queue = (celery_tests.world, celery_tests.broker, celery_tests.client,
                                celery_tests.queue)


@pytest.fixture
def robot():
    yield from _serve(_WecomRobot)


def test_two_workers_deliver_each_notification_once(world, broker, client, queue, robot, monkeypatch):
    base, recorder = robot
    officer = make_user("case_officer", "510104")
    lawyers = [make_user("lawyer") for _ in range(6)]
    for u in lawyers:
        db.session.add(Preference(user_id=u.id, channels=["wecom"]))
        make_provider("lawyer", members=(u,), specialities=["land_demolition"])
    db.session.commit()
    for _ in range(6):
        case = make_case(officer, needs=["legal_opinion"])
        lifecycle.request_referral(officer, case.id, "legal_opinion")  # eager here: the outbox file
    ids = list(db.session.execute(sa.select(Delivery.id)).scalars())
    assert len(ids) == 6
    # Back to pending, as if the after-commit tasks had gone to the broker instead.
    db.session.execute(sa.update(Delivery).values(status="pending", attempts=0, via=None, detail=None,
                                                  sent_at=None))
    db.session.commit()

    monkeypatch.setitem(os.environ, "MEDIATION_WECOM_WEBHOOK", f"{base}/cgi-bin/webhook/send?key=k")
    workers = [Worker(world, broker, f"courier{i}", queue) for i in range(2)]
    try:
        for w in workers:
            w.wait_ready(client)
        for did in ids:  # twice each: a duplicated or redelivered task
            client.send_task(DELIVER_TASK, args=[did])
            client.send_task(DELIVER_TASK, args=[did])
        deadline = time.monotonic() + WAIT
        while True:
            db.session.rollback()
            done = db.session.execute(sa.select(sa.func.count()).select_from(Delivery)
                                      .where(Delivery.status == "sent")).scalar_one()
            if done == len(ids):
                break
            for w in workers:
                if w.proc.poll() is not None:
                    pytest.fail(f"worker exited: {w.log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"only {done} of {len(ids)} delivered")
            time.sleep(0.2)
        time.sleep(1.0)  # the duplicates have had their chance (they find the rows claimed)
    finally:
        for w in workers:
            w.stop()
    rows = db.session.execute(sa.select(Delivery)).scalars().all()
    assert {(d.status, d.attempts, d.via) for d in rows} == {("sent", 1, "wecom")}
    assert len(recorder.requests) == len(ids)  # once per (notification, channel)
    offers = db.session.execute(sa.select(sa.func.count()).select_from(Event)
                                .where(Event.type == "referral.offered")).scalar_one()
    notified = db.session.execute(sa.select(sa.func.count()).select_from(Notification)).scalar_one()
    assert offers == notified == 6
