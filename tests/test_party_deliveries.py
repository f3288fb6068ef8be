"""Messages to parties without an account — the receipt's query code, the survey's one-time
link — go through the same delivery machinery as the users' notifications: a delivery row
per (subject, party, channel), sent by a task after the commit, retried with backoff, at
most once, in the admins' delivery log (without the number or the code), the secret text
kept encrypted only until the row is sent or given up.

The SMS provider is the Aliyun stand-in on loopback of test_notification_channels.py (the
real dysmsapi.aliyuncs.com cannot be reached from this machine); it checks the request's
signature. A real Celery worker delivering these rows: test_notification_worker.py.
"""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa

from mediation import clock
from mediation.extensions import db
from mediation.notifications import outbound
from mediation.notifications.models import Delivery
from tests import test_notification_channels as channel_tests
from tests.page_client import PageClient
from tests.test_notification_channels import _beijing

# The stand-ins' fixtures (SMTP, WeCom, Aliyun SMS on loopback) and the app configured for them.
smtp, wecom, sms, configured = (channel_tests.smtp, channel_tests.wecom, channel_tests.sms,
                                channel_tests.configured)

PHONE = "13800138000"


def _rows(app) -> list[Delivery]:
    with app.app_context():
        rows = list(db.session.execute(sa.select(Delivery).order_by(Delivery.id)).scalars())
        db.session.expunge_all()
        return rows


def _case(api):
    officer = api.user("case_officer", "510104")
    case = api.case(officer, petitioners=[{"name": "王五", "id_number": "510104198001011234",
                                           "phone": PHONE}])
    return officer, case, case["petitioners"][0]["id"]


def test_the_receipt_sms_is_a_delivery_retried_with_backoff_and_sent_once(api, app, configured):
    box, robot, sms_api = configured
    officer, case, pid = _case(api)
    sms_api.answers.append({"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控"})
    start = _beijing(10)
    with clock.frozen(start):
        r = api.post(f"/api/cases/{case['id']}/receipts", officer, {"petitioner_id": pid, "sms": True})
    assert r.status_code == 201 and r.get_json()["sms"] == "planned"
    code = r.get_json()["code"]
    [d] = _rows(app)
    assert (d.status, d.attempts, d.channel, d.party) == ("retry", 1, "sms", f"petitioner:{pid}")
    assert "BUSINESS_LIMIT_CONTROL" in d.detail and d.not_before == start + dt.timedelta(seconds=30)
    assert d.message_cipher and code not in d.message_cipher  # kept, encrypted, for the retry
    with app.app_context():
        with clock.frozen(start + dt.timedelta(seconds=10)):
            assert outbound.sweep_due() == 0  # not yet due
        with clock.frozen(start + dt.timedelta(seconds=31)):
            assert outbound.sweep_due() == 1
        with clock.frozen(start + dt.timedelta(hours=1)):
            assert outbound.sweep_due() == 0  # sent: never again
            assert outbound.deliver(d.id) == "not claimed"
    [d] = _rows(app)
    assert (d.status, d.attempts, d.via) == ("sent", 2, "sms") and d.message_cipher is None
    assert len(sms_api.requests) == 2 and sms_api.requests[-1]["PhoneNumbers"] == PHONE
    assert json.loads(sms_api.requests[-1]["TemplateParam"]) == {"title": code, "ref": case["reference"]}
    # In the admins' log: the party's kind, never its number or its code.
    admin = api.user("admin")
    log = api.get("/api/notifications/deliveries", admin).get_json()["items"]
    assert [(x["party"], x["type"], x["status"], x["user_id"]) for x in log] == [
        ("petitioner", "petitioner.receipt_issued", "sent", None)]
    assert PHONE not in json.dumps(log) and code not in json.dumps(log)
    html = PageClient(app).sign_in(admin).text("/notifications/deliveries")
    assert 'data-party="petitioner"' in html and "信访人" in html and PHONE not in html


def test_a_provider_that_keeps_failing_is_given_up_and_the_text_dropped(api, app, configured):
    box, robot, sms_api = configured
    officer, case, pid = _case(api)
    sms_api.answers.extend([{"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "流控"}] * 5)
    start = _beijing(10)
    with clock.frozen(start):
        api.post(f"/api/cases/{case['id']}/receipts", officer, {"petitioner_id": pid, "sms": True})
    with app.app_context():
        for seconds in (31, 31 + 61, 3600):
            with clock.frozen(start + dt.timedelta(seconds=seconds)):
                outbound.sweep_due()
    [d] = _rows(app)
    assert (d.status, d.attempts) == ("failed", 3) and d.message_cipher is None
    assert len(sms_api.requests) == 3


def test_the_survey_link_goes_as_a_delivery_row_per_petitioner(api, app, configured):
    box, robot, sms_api = configured
    officer = api.user("case_officer", "510104")
    supervisor = api.user("supervisor", "510104")
    case = api.case(officer, petitioners=[
        {"name": "赵六", "id_number": "510104198001011234", "phone": PHONE},
        {"name": "钱七", "id_number": "510104198001021234", "phone": "13800138001"},
        {"name": "孙八", "id_number": "510104198001031234"}])  # no phone: nothing for him
    with clock.frozen(_beijing(10)):
        r = api.post(f"/api/cases/{case['id']}/surveys", supervisor, {"sms": True})
    assert r.status_code == 201 and r.get_json()["sms"] == "sent"
    rows = _rows(app)
    assert [(d.status, d.template, d.subject) for d in rows] == [
        ("sent", "survey.sent", f"survey_invite:{r.get_json()['invite_id']}")] * 2
    assert sorted(q["PhoneNumbers"] for q in sms_api.requests) == [PHONE, "13800138001"]
    assert all(r.get_json()["url"] == json.loads(q["TemplateParam"])["title"] for q in sms_api.requests)
    # At most once per (subject, party, channel): the database refuses a second row.
    with app.app_context():
        try:
            outbound.plan_party(db.session, case["id"], "survey.sent", rows[0].subject, rows[0].party, "x")
            db.session.commit()
        except sa.exc.IntegrityError:
            db.session.rollback()
        else:
            raise AssertionError("a second delivery row for the same subject, party and channel")
