"""Deliveries by real Celery worker processes on Redis and PostgreSQL: every task sent
twice, to two workers at once, and each (notification, channel) reaches the provider once.

The provider is a WeCom robot stand-in on loopback (the real qyapi.weixin.qq.com cannot be
reached from this machine); workers are `celery -A mediation.celery_worker worker`
processes started as in test_referrals_celery.py, on a queue of the test's own name.
"""

from __future__ import annotations

import json
import os
import time

import pytest
import sqlalchemy as sa

from mediation import clock
from mediation.extensions import db
from mediation.notifications.models import Delivery, Notification, Preference
from mediation.notifications.outbound import DELIVER_TASK
from mediation.timeline import Event
from referrals import lifecycle
from tests import test_referrals_celery as celery_tests
from tests.factories import make_case, make_provider, make_user
from tests.test_notification_channels import SMS_SECRET, _AliyunSms, _beijing, _serve, _WecomRobot
from tests.test_referrals_celery import WAIT, Worker

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

# The workers' fixtures: a PostgreSQL database of the test's own, Redis, a queue of its own.
world, broker, client, queue = (celery_tests.world, celery_tests.broker, celery_tests.client,
                                celery_tests.queue)


@pytest.fixture
def robot():
    yield from _serve(_WecomRobot)


def deliver_each_twice_by_two_workers(world, broker, client, queue, ids: list[int], name: str) -> None:
    """Two real workers; each delivery's task sent twice (a duplicated or redelivered task);
    returns once every row is sent and the duplicates have had their chance."""
    workers = [Worker(world, broker, f"{name}{i}", queue) for i in range(2)]
    try:
        for w in workers:
            w.wait_ready(client)
        for did in ids:
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
                pytest.fail(f"only {done} of {len(ids)} delivered: {workers[0].log.read_text()[-2000:]}")
            time.sleep(0.2)
        time.sleep(1.0)  # the duplicates have had their chance (they find the rows claimed)
    finally:
        for w in workers:
            w.stop()


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
    deliver_each_twice_by_two_workers(world, broker, client, queue, ids, "courier")
    rows = db.session.execute(sa.select(Delivery)).scalars().all()
    assert {(d.status, d.attempts, d.via) for d in rows} == {("sent", 1, "wecom")}
    assert len(recorder.requests) == len(ids)  # once per (notification, channel)
    offers = db.session.execute(sa.select(sa.func.count()).select_from(Event)
                                .where(Event.type == "referral.offered")).scalar_one()
    notified = db.session.execute(sa.select(sa.func.count()).select_from(Notification)).scalar_one()
    assert offers == notified == 6


@pytest.fixture
def sms_api():
    yield from _serve(_AliyunSms)


def test_two_workers_send_each_partys_sms_once(world, broker, client, queue, sms_api, monkeypatch):
    """The receipt's query code and the survey's link to petitioners without accounts: rows
    of their own (no notification), delivered by the real workers the same way — once."""
    from mediation import tasks as task_module
    from mediation.notifications import petitioner
    from mediation.supervision import commands as supervision

    base, recorder = sms_api
    sent_after_commit: list[tuple] = []
    # What the web process would send to the broker after the commit, kept for the workers.
    monkeypatch.setattr(task_module, "enqueue_after_commit",
                        lambda name, *args, **kw: sent_after_commit.append((name, args)))
    officer = make_user("case_officer", "510104")
    supervisor = make_user("supervisor", "510104")
    codes = []
    with clock.frozen(_beijing(10)):  # the survey is not sent in quiet hours
        for n in range(3):
            case = make_case(officer, petitioners=[{"name": f"当事人{n}", "id_number": "510104198001011234",
                                                     "phone": f"1380013800{n}"}])
            out = petitioner.issue_receipt(officer, case.id, case.petitioners[0].id, sms=True)
            codes.append(out["code"])
            token, invite = supervision.send_survey(supervisor, case.id)
            petitioner.sms_petitioners(case.id, "survey.sent", f"https://example.cn/s/{token}",
                                       f"survey_invite:{invite.id}")
            db.session.commit()
    ids = list(db.session.execute(sa.select(Delivery.id).order_by(Delivery.id)).scalars())
    assert len(ids) == 6 and [a[0] for _, a in sent_after_commit] == ids
    for name, value in {"MEDIATION_ALIYUN_SMS_ENDPOINT": f"{base}/",
                        "MEDIATION_ALIYUN_SMS_ACCESS_KEY_ID": "LTAI-test",
                        "MEDIATION_ALIYUN_SMS_ACCESS_KEY_SECRET": SMS_SECRET,
                        "MEDIATION_ALIYUN_SMS_SIGN_NAME": "多元化解",
                        "MEDIATION_ALIYUN_SMS_TEMPLATE": "SMS_123",
                        "MEDIATION_NOTIFY_QUIET_HOURS": "00:00-00:01"}.items():
        monkeypatch.setitem(os.environ, name, value)
    deliver_each_twice_by_two_workers(world, broker, client, queue, ids, "party")
    rows = db.session.execute(sa.select(Delivery)).scalars().all()
    assert {(d.status, d.attempts, d.via, d.message_cipher) for d in rows} == {("sent", 1, "sms", None)}
    assert len(recorder.requests) == len(ids)  # once per (subject, party, channel)
    titles = sorted(json.loads(q["TemplateParam"])["title"] for q in recorder.requests)
    assert sorted(codes) == sorted(t for t in titles if not t.startswith("https://"))
