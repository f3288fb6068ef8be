"""The petitioner's channel: a receipt with a query code, the public query page (milestones
only, consent on the timeline), and its abuse resistance (same answer for a wrong code or a
wrong phone, throttled per address and per code, lookups logged without the phone)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from mediation.extensions import db
from mediation.notifications import petitioner
from mediation.notifications.models import QueryCode
from mediation.timeline import Event
from tests.page_client import PageClient

PHONE = "13800138000"


def _receipt(api):
    officer = api.user("case_officer", "510104")
    case = api.case(officer, petitioners=[{"name": "张三", "id_number": "510104198001011234",
                                           "phone": PHONE}])
    pid = case["petitioners"][0]["id"]
    r = api.post(f"/api/cases/{case['id']}/receipts", officer, {"petitioner_id": pid})
    assert r.status_code == 201, r.get_json()
    return officer, case, r.get_json()


def _lookup(page: PageClient, code: str, tail: str):
    return page.post("/q", {"code": code, "phone_tail": tail}, token_from="/q")


def test_a_receipt_carries_a_long_code_kept_only_as_its_hash(api):
    officer, case, receipt = _receipt(api)
    code = receipt["code"]
    assert re.fullmatch(r"([0-9A-HJKMNP-TV-Z]{4}-){4}[0-9A-HJKMNP-TV-Z]{4}", code)  # 100 bits
    assert receipt["query_url"].endswith("/q") and receipt["case_reference"] == case["reference"]
    with api.app.app_context():
        [qc] = db.session.execute(sa.select(QueryCode)).scalars().all()
        assert qc.code_hash == petitioner.code_hash(code) and code.replace("-", "") not in qc.code_hash
    # Issued again: a new code, the old one no longer works.
    again = api.post(f"/api/cases/{case['id']}/receipts", officer,
                     {"petitioner_id": receipt["petitioner_id"]}).get_json()
    assert again["code"] != code
    with api.app.app_context():
        assert petitioner.lookup(code, PHONE[-4:], "test") is None
        assert petitioner.lookup(again["code"].lower(), PHONE[-4:], "test") is not None
    r = api.post(f"/api/cases/{case['id']}/receipts", officer, {"petitioner_id": 10**6})
    assert r.status_code == 422 and "petitioner_id" in r.get_json()["errors"]


def test_the_public_page_shows_milestones_and_takes_consent(api, app, csrf_on, caplog):
    officer, case, receipt = _receipt(api)
    page = PageClient(app)
    r = _lookup(page, receipt["code"], PHONE[-4:])
    assert r.status_code == 302 and r.headers["Location"].endswith("/q/case")
    html = page.text("/q/case")
    assert case["reference"] in html and 'data-step="received"' in html
    assert "张三" not in html and officer.username not in html  # milestones only
    assert PHONE not in caplog.text and PHONE[-4:] not in caplog.text.replace(PHONE, "")
    assert "query lookup code=" in caplog.text
    r = page.post("/q/consent", token_from="/q/case")
    assert r.status_code == 302
    assert 'id="consent-given"' in page.text("/q/case")
    page.post("/q/consent", token_from="/q/case")  # twice: recorded once
    with app.app_context():
        consents = db.session.execute(sa.select(Event)
                                      .where(Event.type == "petitioner.consented")).scalars().all()
        assert len(consents) == 1 and consents[0].actor_id is None
        assert consents[0].payload == {"petitioner_id": receipt["petitioner_id"], "via": "query_page"}
        assert petitioner.consented([receipt["petitioner_id"]]) == {receipt["petitioner_id"]}
    page.post("/q/leave", token_from="/q/case")
    assert page.get("/q/case").status_code == 302


def test_a_wrong_code_and_a_wrong_phone_look_the_same(api, app, csrf_on):
    officer, case, receipt = _receipt(api)
    page = PageClient(app)
    wrong_phone = _lookup(page, receipt["code"], "0000")
    wrong_code = _lookup(page, "ABCD-ABCD-ABCD-ABCD-ABCD", PHONE[-4:])
    assert wrong_phone.status_code == wrong_code.status_code == 404

    def body(r) -> str:
        return re.sub(r'name="csrf_token" value="[^"]+"', "", r.get_data(as_text=True))

    assert body(wrong_phone) == body(wrong_code)


@pytest.mark.parametrize("vary", ["code", "address"])
def test_brute_force_is_throttled_per_code_and_per_address(api, app, csrf_on, monkeypatch, vary):
    monkeypatch.setitem(app.config, "MEDIATION_QUERY_CODE_LIMIT", "3 per 15 minutes")
    monkeypatch.setitem(app.config, "MEDIATION_QUERY_IP_LIMIT", "5 per 15 minutes")
    officer, case, receipt = _receipt(api)
    page = PageClient(app)
    if vary == "code":  # one code, guessing the phone's digits
        statuses = [_lookup(page, receipt["code"], f"{n:04d}").status_code for n in range(4)]
        assert statuses == [404, 404, 404, 429]
        # Even the right digits now: the code is throttled.
        r = _lookup(page, receipt["code"], PHONE[-4:])
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    else:  # many codes from one address
        statuses = [_lookup(page, f"{n:04d}-AAAA-BBBB-CCCC-DDDD", "1234").status_code for n in range(6)]
        assert statuses == [404] * 5 + [429]


def test_the_officer_prints_a_receipt_from_the_case_page(api, app, csrf_on):
    officer = api.user("case_officer", "510104")
    case = api.case(officer, petitioners=[{"name": "李四", "id_number": "510104198001011234",
                                           "phone": PHONE}])
    page = PageClient(app).sign_in(officer)
    html = page.text(f"/cases/{case['id']}")
    assert 'data-part="case_receipt"' in html
    pid = case["petitioners"][0]["id"]
    r = page.post(f"/cases/{case['id']}/receipt", {"petitioner_id": str(pid)},
                  token_from=f"/cases/{case['id']}")
    assert r.status_code == 200
    text = r.get_data(as_text=True)
    code = re.search(r'id="receipt-code">([^<]+)<', text).group(1)
    assert "受理告知书" in text and case["reference"] in text and "/q" in text
    with app.app_context():
        assert petitioner.lookup(code, PHONE[-4:], "test") is not None
    # A party (or anyone who may not edit the case) sees no such section.
    party = api.user("party")
    assert PageClient(app).sign_in(party).get(f"/cases/{case['id']}?part=case_receipt").status_code == 404


def test_the_receipt_can_go_by_sms(api, app, monkeypatch, tmp_path, caplog):
    outbox = tmp_path / "outbox.jsonl"
    monkeypatch.setitem(app.config, "MEDIATION_NOTIFY_OUTBOX", str(outbox))  # SMS not configured
    officer = api.user("case_officer", "510104")
    case = api.case(officer, petitioners=[{"name": "王五", "id_number": "510104198001011234",
                                           "phone": PHONE}])
    pid = case["petitioners"][0]["id"]
    r = api.post(f"/api/cases/{case['id']}/receipts", officer, {"petitioner_id": pid, "sms": True})
    assert r.status_code == 201, r.get_json()
    import json

    [line] = [json.loads(x) for x in outbox.read_text(encoding="utf-8").splitlines()]
    assert line["channel"] == "sms" and line["to"] == PHONE
    assert r.get_json()["code"] in line["body"] and case["reference"] in line["body"]
    assert PHONE not in caplog.text
    # Through the delivery machinery: one row, sent, its secret text no longer kept.
    from mediation.notifications.models import Delivery

    with app.app_context():
        [d] = db.session.execute(sa.select(Delivery)).scalars().all()
        assert (d.status, d.channel, d.party, d.template) == ("sent", "sms", f"petitioner:{pid}",
                                                              "petitioner.receipt_issued")
        assert d.notification_id is None and d.message_cipher is None and d.attempts == 1


def test_the_survey_link_goes_by_sms_but_not_at_night(api, app, monkeypatch, tmp_path):
    import datetime as dt
    import json

    from mediation import clock

    outbox = tmp_path / "outbox.jsonl"
    monkeypatch.setitem(app.config, "MEDIATION_NOTIFY_OUTBOX", str(outbox))  # SMS not configured
    officer = api.user("case_officer", "510104")
    supervisor = api.user("supervisor", "510104")
    case = api.case(officer, petitioners=[{"name": "赵六", "id_number": "510104198001011234",
                                           "phone": PHONE}])
    yesterday = clock.today() - dt.timedelta(days=1)
    night = dt.datetime.combine(yesterday, dt.time(23, 30), tzinfo=clock.zone())
    with clock.frozen(night.astimezone(dt.UTC)):
        r = api.post(f"/api/cases/{case['id']}/surveys", supervisor, {"sms": True})
    assert r.status_code == 201 and r.get_json()["sms"] == "quiet_hours" and not outbox.exists()
    day = dt.datetime.combine(yesterday, dt.time(10, 0), tzinfo=clock.zone())
    with clock.frozen(day.astimezone(dt.UTC)):
        r = api.post(f"/api/cases/{case['id']}/surveys", supervisor, {"sms": True})
    assert r.status_code == 201 and r.get_json()["sms"] == "sent"
    [line] = [json.loads(x) for x in outbox.read_text(encoding="utf-8").splitlines()]
    assert line["to"] == PHONE and r.get_json()["url"] in line["body"]
    # Without asking for it, nothing goes.
    assert api.post(f"/api/cases/{case['id']}/surveys", supervisor, {}).get_json()["sms"] is None
    assert len(outbox.read_text(encoding="utf-8").splitlines()) == 1
