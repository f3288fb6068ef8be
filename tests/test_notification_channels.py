"""Outbound channels against stand-in servers on loopback, each checking the real request
shape. The stand-ins exist only because the real providers (an SMTP relay, WeCom's
qyapi.weixin.qq.com, Aliyun's dysmsapi.aliyuncs.com) cannot be reached from this machine;
the adapters speak the real protocols to them: SMTP with STARTTLS (aiosmtpd, TLS required
before MAIL), WeCom's robot webhook JSON, Aliyun SMS with its signature v1 checked by the
stand-in from the spec.

End to end: a user chooses channels over the API, an offer notifies them, and after the
commit each channel is delivered once (eager tasks here; a real worker in
test_notification_worker.py); a failing provider is retried with backoff, then logged as
failed, never sent twice; SMS wait out the night unless urgent.
"""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import hashlib
import hmac
import http.server
import json
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from mediation import clock
from mediation.extensions import db
from mediation.notifications import channels, outbound
from mediation.notifications.models import Delivery
from tests.test_notifications import _offer, _setup

SMS_SECRET = "test-secret-不可外传"


# --- stand-ins ---------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "smtp.crt", tmp / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class _Mailbox:
    def __init__(self) -> None:
        self.mails: list[dict] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.mails.append({"from": envelope.mail_from, "to": envelope.rcpt_tos,
                           "tls": session.ssl is not None,
                           "content": envelope.content.decode("utf-8", "replace")})
        return "250 OK"


@pytest.fixture
def smtp(tmp_path) -> Iterator[tuple[int, Path, _Mailbox]]:
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    box = _Mailbox()
    port = _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True)
    controller.start()
    yield port, cert, box
    controller.stop()


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: list = []
    answers: list = []

    def log_message(self, *args) -> None:
        pass

    def _answer(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _WecomRobot(_Recorder):
    def do_POST(self):  # noqa: N802 - http.server's name
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        body = json.loads(raw)
        shape_ok = (self.path.startswith("/cgi-bin/webhook/send?key=")
                    and self.headers["Content-Type"].startswith("application/json")
                    and body.get("msgtype") == "text" and isinstance(body["text"].get("content"), str)
                    and all(isinstance(m, str) for m in body["text"].get("mentioned_mobile_list", [])))
        self.requests.append(body)
        if not shape_ok:
            return self._answer({"errcode": 40008, "errmsg": "invalid message type"})
        self._answer(self.answers.pop(0) if self.answers else {"errcode": 0, "errmsg": "ok"})


def _spec_signature(query: dict[str, str], secret: str) -> str:
    """Aliyun's signature v1 as its documentation states it, written here independently."""
    def enc(s: str) -> str:
        return urllib.parse.quote_plus(s).replace("+", "%20").replace("*", "%2A").replace("%7E", "~")

    canonical = "&".join(enc(k) + "=" + enc(query[k]) for k in sorted(query))
    string_to_sign = "GET&" + enc("/") + "&" + enc(canonical)
    return base64.b64encode(hmac.new((secret + "&").encode("utf-8"), string_to_sign.encode("utf-8"),
                                     hashlib.sha1).digest()).decode()


class _AliyunSms(_Recorder):
    def do_GET(self):  # noqa: N802
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query, keep_blank_values=True))
        signature = query.pop("Signature", "")
        self.requests.append(query)
        required = {"AccessKeyId", "Action", "Format", "PhoneNumbers", "RegionId", "SignName",
                    "SignatureMethod", "SignatureNonce", "SignatureVersion", "TemplateCode", "TemplateParam",
                    "Timestamp", "Version"}
        if not required <= set(query) or query["Action"] != "SendSms" or query["Version"] != "2017-05-25":
            return self._answer({"Code": "MissingParameter", "Message": "bad request"})
        if signature != _spec_signature(query, SMS_SECRET):
            return self._answer({"Code": "SignatureDoesNotMatch",
                                 "Message": "Specified signature is not matched"})
        json.loads(query["TemplateParam"])
        ok = {"Code": "OK", "Message": "OK", "BizId": "biz-1"}
        self._answer(self.answers.pop(0) if self.answers else ok)


def _serve(handler) -> Iterator[tuple[str, type]]:
    cls = type(handler.__name__, (handler,), {"requests": [], "answers": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), cls)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", cls
    server.shutdown()
    server.server_close()


@pytest.fixture
def wecom() -> Iterator[tuple[str, type]]:
    yield from _serve(_WecomRobot)


@pytest.fixture
def sms() -> Iterator[tuple[str, type]]:
    yield from _serve(_AliyunSms)


def _beijing(hour: int, minute: int = 0, days: int = -1) -> dt.datetime:
    """A moment yesterday (by default) at this wall-clock time in Beijing, in UTC."""
    day = clock.today() + dt.timedelta(days=days)
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=clock.zone()).astimezone(dt.UTC)


def _message() -> channels.Message:
    return channels.Message("【多元化解平台】测试", "测试正文：案件 JJ-1", {"title": "测试", "ref": "JJ-1"})


# --- the adapters alone ---------------------------------------------------------------------------

def test_smtp_sends_over_starttls_only(smtp):
    port, cert, box = smtp
    adapter = channels.SmtpChannel("127.0.0.1", port, "noreply@example.org", ca_file=str(cert))
    detail = adapter.send("officer@example.org", _message())
    [mail] = box.mails
    assert mail["tls"] and mail["to"] == ["officer@example.org"] and mail["from"] == "noreply@example.org"
    assert "Subject: =?utf-8?" in mail["content"] and detail.startswith("<")
    # A certificate the service does not trust: refused before anything is sent in clear.
    with pytest.raises(channels.DeliveryError, match="SSL|certificate"):
        channels.SmtpChannel("127.0.0.1", port, "noreply@example.org").send("x@example.org", _message())
    assert len(box.mails) == 1


def test_wecom_webhook_shape_and_errors(wecom):
    base, robot = wecom
    adapter = channels.WecomChannel(f"{base}/cgi-bin/webhook/send?key=abc")
    assert adapter.send("13800138000", _message()) == "ok"
    assert robot.requests[0]["text"]["mentioned_mobile_list"] == ["13800138000"]
    assert "测试正文" in robot.requests[0]["text"]["content"]
    robot.answers.append({"errcode": 93000, "errmsg": "invalid webhook url"})
    with pytest.raises(channels.DeliveryError, match="93000"):
        adapter.send("", _message())


def test_aliyun_sms_request_is_signed_as_the_spec_says(sms):
    base, api = sms
    good = channels.AliyunSmsChannel(f"{base}/", "LTAI-test", SMS_SECRET, "多元化解", "SMS_123")
    assert good.send("13800138000", _message()) == "biz-1"
    q = api.requests[0]
    assert q["PhoneNumbers"] == "13800138000" and q["SignatureMethod"] == "HMAC-SHA1"
    assert json.loads(q["TemplateParam"]) == {"title": "测试", "ref": "JJ-1"}
    bad = channels.AliyunSmsChannel(f"{base}/", "LTAI-test", "wrong-secret", "多元化解", "SMS_123")
    with pytest.raises(channels.DeliveryError, match="SignatureDoesNotMatch"):
        bad.send("13800138000", _message())


# --- through the notification centre -----------------------------------------------------------

@pytest.fixture
def configured(app, monkeypatch, smtp, wecom, sms, tmp_path):
    port, cert, box = smtp
    for name, value in {
        "MEDIATION_SMTP_HOST": "127.0.0.1", "MEDIATION_SMTP_PORT": port, "MEDIATION_SMTP_CA_FILE": str(cert),
        "MEDIATION_WECOM_WEBHOOK": f"{wecom[0]}/cgi-bin/webhook/send?key=k",
        "MEDIATION_ALIYUN_SMS_ENDPOINT": f"{sms[0]}/", "MEDIATION_ALIYUN_SMS_ACCESS_KEY_ID": "LTAI-test",
        "MEDIATION_ALIYUN_SMS_ACCESS_KEY_SECRET": SMS_SECRET, "MEDIATION_ALIYUN_SMS_SIGN_NAME": "多元化解",
        "MEDIATION_ALIYUN_SMS_TEMPLATE": "SMS_123", "MEDIATION_NOTIFY_MAX_ATTEMPTS": 3,
        "MEDIATION_NOTIFY_OUTBOX": str(tmp_path / "outbox.jsonl"),
    }.items():
        monkeypatch.setitem(app.config, name, value)
    return box, wecom[1], sms[1]


def _choose(api, user, channels_: list[str]):
    r = api.call("PUT", "/api/notifications/preferences", user, json={
        "channels": channels_, "email": "lawyer@example.org", "phone": "13900139000",
        "wecom_mobile": "13900139000"})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def _deliveries(app) -> list[Delivery]:
    with app.app_context():
        rows = list(db.session.execute(sa.select(Delivery).order_by(Delivery.channel)).scalars())
        db.session.expunge_all()
        return rows


def test_preferences_validate_and_mask(api):
    user = api.user("lawyer")
    r = api.call("PUT", "/api/notifications/preferences", user, json={"channels": ["sms"]})
    assert r.status_code == 422 and "phone" in r.get_json()["errors"]
    r = api.call("PUT", "/api/notifications/preferences", user, json={"channels": ["fax"]})
    assert r.status_code == 422
    body = _choose(api, user, ["sms", "email"])
    assert body["phone"] == "*******9000" and body["channels"] == ["email", "sms"]
    assert "13900139000" not in json.dumps(api.get("/api/notifications/preferences", user).get_json())


def test_an_offer_goes_out_once_on_each_chosen_channel(api, configured):
    box, robot, sms_api = configured
    officer, lawyer, other, case, pid = _setup(api)
    _choose(api, lawyer, ["email", "sms", "wecom"])
    with clock.frozen(_beijing(10)):  # 10:00 in Beijing
        _offer(api, officer, case["id"], pid)
    rows = _deliveries(api.app)
    assert [(d.channel, d.status, d.attempts, d.via) for d in rows] == [
        ("email", "sent", 1, "email"), ("sms", "sent", 1, "sms"), ("wecom", "sent", 1, "wecom")]
    mail = email.message_from_string(box.mails[0]["content"], policy=email.policy.default)
    assert len(box.mails) == 1 and mail["Subject"] == "【多元化解平台】新的转介邀请"
    assert case["reference"] in mail.get_content()
    assert len(robot.requests) == 1 and case["reference"] in robot.requests[0]["text"]["content"]
    assert len(sms_api.requests) == 1 and sms_api.requests[0]["PhoneNumbers"] == "13900139000"
    # Again, and by the sweep: claimed already, nothing goes twice.
    with api.app.app_context():
        assert {outbound.deliver(d.id) for d in rows} == {"not claimed"}
        assert outbound.sweep_due() == 0
    assert (len(box.mails), len(robot.requests), len(sms_api.requests)) == (1, 1, 1)
    admin = api.user("admin")
    log = api.get("/api/notifications/deliveries", admin).get_json()["items"]
    assert {x["status"] for x in log} == {"sent"} and "13900139000" not in json.dumps(log)
    assert api.get("/api/notifications/deliveries", lawyer).status_code == 403


def test_a_failing_provider_is_retried_with_backoff_then_logged_failed(api, configured):
    box, robot, sms_api = configured
    officer, lawyer, other, case, pid = _setup(api)
    _choose(api, lawyer, ["wecom"])
    robot.answers.extend([{"errcode": 45009, "errmsg": "api freq out of limit"}] * 5)
    start = _beijing(10)
    with clock.frozen(start):
        _offer(api, officer, case["id"], pid)
    [d] = _deliveries(api.app)
    assert (d.status, d.attempts) == ("retry", 1) and "45009" in d.detail
    assert d.not_before == start + dt.timedelta(seconds=30)
    with api.app.app_context():
        with clock.frozen(start + dt.timedelta(seconds=10)):  # before the backoff: not due
            assert outbound.sweep_due() == 0
        with clock.frozen(start + dt.timedelta(seconds=31)):
            outbound.sweep_due()
        with clock.frozen(start + dt.timedelta(seconds=31 + 61)):  # the backoff doubled
            outbound.sweep_due()
        with clock.frozen(start + dt.timedelta(hours=1)):
            assert outbound.sweep_due() == 0
    [d] = _deliveries(api.app)
    assert (d.status, d.attempts) == ("failed", 3) and "45009" in d.detail
    assert len(robot.requests) == 3  # three attempts, each once; none after giving up


def test_sms_waits_for_the_end_of_quiet_hours_unless_urgent(api, configured, monkeypatch):
    box, robot, sms_api = configured
    officer, lawyer, other, case, pid = _setup(api)
    _choose(api, lawyer, ["sms", "email"])
    night = _beijing(23, 30)  # 23:30 in Beijing
    from mediation.notifications import messages

    monkeypatch.setattr(messages, "urgent", lambda type_name: False)
    with clock.frozen(night):
        _offer(api, officer, case["id"], pid)
    email, sms_row = _deliveries(api.app)
    assert email.status == "sent" and (sms_row.status, sms_row.attempts) == ("pending", 0)
    assert sms_row.not_before == _beijing(7, 0, 0)  # 07:00 Beijing
    with api.app.app_context(), clock.frozen(_beijing(6, 59, 0)):
        assert outbound.sweep_due() == 0
    assert sms_api.requests == []
    with api.app.app_context(), clock.frozen(_beijing(7, 0, 0)):
        assert outbound.sweep_due() == 1
    assert len(sms_api.requests) == 1


def test_an_urgent_sms_goes_at_night(api, configured):
    box, robot, sms_api = configured
    officer, lawyer, other, case, pid = _setup(api)
    _choose(api, lawyer, ["sms"])
    with clock.frozen(_beijing(23, 30)):  # 23:30 in Beijing
        _offer(api, officer, case["id"], pid)  # an offer has a deadline: urgent
    [d] = _deliveries(api.app)
    assert d.status == "sent" and len(sms_api.requests) == 1


def test_nothing_configured_writes_the_outbox_file_and_the_log(api, app, tmp_path, monkeypatch, caplog):
    outbox = tmp_path / "outbox.jsonl"
    monkeypatch.setitem(app.config, "MEDIATION_NOTIFY_OUTBOX", str(outbox))
    officer, lawyer, other, case, pid = _setup(api)
    _choose(api, lawyer, ["email", "sms"])
    with clock.frozen(_beijing(10)):
        _offer(api, officer, case["id"], pid)
    lines = [json.loads(x) for x in outbox.read_text(encoding="utf-8").splitlines()]
    assert sorted((x["channel"], x["to"]) for x in lines) == [("email", "lawyer@example.org"),
                                                              ("sms", "13900139000")]
    assert all("新的转介邀请" in x["subject"] for x in lines)
    assert {(d.channel, d.status, d.via) for d in _deliveries(app)} == {("email", "sent", "outbox"),
                                                                        ("sms", "sent", "outbox")}
    assert "written to the outbox" in caplog.text


def test_cli_tests_a_channel(app, configured):
    box, robot, sms_api = configured
    runner = app.test_cli_runner()
    r = runner.invoke(args=["notifications", "test", "email", "ops@example.org"])
    assert r.exit_code == 0, r.output
    assert "sent via email" in r.output and box.mails[-1]["to"] == ["ops@example.org"]
    r = runner.invoke(args=["notifications", "test", "sms", "13800138000"])
    assert r.exit_code == 0 and len(sms_api.requests) == 1
    robot.answers.append({"errcode": 93000, "errmsg": "invalid webhook url"})
    r = runner.invoke(args=["notifications", "test", "wecom", "13800138000"])
    assert r.exit_code == 1 and "93000" in r.output
