"""Outbound channels: each an adapter speaking its provider's real protocol.

- `email`: SMTP with STARTTLS (and AUTH when a user is configured);
- `wecom`: a WeCom (企业微信) group robot's webhook, a JSON POST;
- `sms`: Aliyun SMS (dysmsapi `SendSms`), signed with Aliyun's RPC signature v1
  (HMAC-SHA1 over the canonicalised query);
- `outbox`: the embedded default, a line of JSON per message in a local file and the log,
  so a demo shows what would have been sent.

A channel that is not configured is delivered to the outbox instead (the log says so).
`send` raises `DeliveryError` with words for the delivery log; it never retries itself.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import threading
import urllib.parse
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol

import requests

from mediation import settings

log = logging.getLogger(__name__)
CHANNELS = ("email", "wecom", "sms")
TIMEOUT = 10.0


class DeliveryError(Exception):
    """The provider refused or could not be reached; the words go to the delivery log."""


@dataclass(frozen=True)
class Message:
    subject: str
    body: str
    params: dict[str, str]  # the template's fields (an SMS template takes these, not the text)


class Channel(Protocol):
    name: str

    def send(self, address: str, message: Message) -> str:
        """Send; returns the provider's id or words for the log, raises DeliveryError."""
        ...


class OutboxChannel:
    """Nothing configured: the message goes to a local file (JSON lines) and the log."""

    _lock = threading.Lock()

    name = "outbox"

    def __init__(self, path: Path, channel: str) -> None:
        self.path = path
        self.channel = channel

    def send(self, address: str, message: Message) -> str:
        line = json.dumps({"channel": self.channel, "to": address, "subject": message.subject,
                           "body": message.body, "at": dt.datetime.now(dt.UTC).isoformat()},
                          ensure_ascii=False)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
        log.info("notification for %s written to the outbox %s (channel not configured)",
                 self.channel, self.path)
        return f"outbox {self.path.name}"


class SmtpChannel:
    name = "email"

    def __init__(self, host: str, port: int, sender: str, user: str | None = None,
                 password: str | None = None, ca_file: str | None = None) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.user, self.password, self.ca_file = user, password, ca_file

    def send(self, address: str, message: Message) -> str:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = address
        mail["Subject"] = message.subject
        mail["Message-ID"] = f"<{uuid.uuid4().hex}@{self.sender.rpartition('@')[2] or 'mediation'}>"
        mail.set_content(message.body)
        context = ssl.create_default_context(cafile=self.ca_file)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=TIMEOUT) as smtp:
                smtp.ehlo()
                # Never in clear: a server without STARTTLS is a failed delivery.
                smtp.starttls(context=context)
                smtp.ehlo()
                if self.user:
                    smtp.login(self.user, self.password or "")
                refused = smtp.send_message(mail)
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP: {exc.__class__.__name__}: {exc}") from exc
        if refused:
            raise DeliveryError(f"SMTP refused {sorted(refused)}")
        return str(mail["Message-ID"])


class WecomChannel:
    """A WeCom group robot: `POST <webhook>` with `{"msgtype": "text", "text": {...}}`; the
    address is the mobile number to @-mention (or empty for the group)."""

    name = "wecom"

    def __init__(self, webhook: str) -> None:
        self.webhook = webhook

    def send(self, address: str, message: Message) -> str:
        text: dict[str, Any] = {"content": f"{message.subject}\n{message.body}"}
        if address:
            text["mentioned_mobile_list"] = [address]
        try:
            r = requests.post(self.webhook, json={"msgtype": "text", "text": text}, timeout=TIMEOUT)
            body = r.json()
        except (requests.RequestException, ValueError) as exc:
            raise DeliveryError(f"WeCom: {exc.__class__.__name__}: {exc}") from exc
        if r.status_code != 200 or body.get("errcode") != 0:
            raise DeliveryError(f"WeCom: HTTP {r.status_code} errcode {body.get('errcode')} "
                                f"{body.get('errmsg', '')}".strip())
        return "ok"


def aliyun_percent(text: str) -> str:
    """Aliyun's percent-encoding (RFC 3986: space %20, * %2A, ~ kept)."""
    return urllib.parse.quote(text, safe="~")


def aliyun_signature(params: dict[str, str], secret: str, method: str = "GET") -> str:
    """Aliyun RPC signature v1: HMAC-SHA1 (key `secret&`) of
    `METHOD&%2F&percent(sorted, percent-encoded k=v joined by &)`, base64."""
    canonical = "&".join(f"{aliyun_percent(k)}={aliyun_percent(v)}" for k, v in sorted(params.items()))
    to_sign = f"{method}&{aliyun_percent('/')}&{aliyun_percent(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class AliyunSmsChannel:
    """Aliyun SMS `SendSms` (API version 2017-05-25) with a pre-approved template."""

    name = "sms"

    def __init__(self, endpoint: str, key_id: str, secret: str, sign_name: str, template: str) -> None:
        self.endpoint, self.key_id, self.secret = endpoint, key_id, secret
        self.sign_name, self.template = sign_name, template

    def request_params(self, phone: str, message: Message) -> dict[str, str]:
        params = {
            "AccessKeyId": self.key_id, "Action": "SendSms", "Format": "JSON", "RegionId": "cn-hangzhou",
            "PhoneNumbers": phone, "SignName": self.sign_name, "TemplateCode": self.template,
            "TemplateParam": json.dumps(message.params, ensure_ascii=False, separators=(",", ":")),
            "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
            "SignatureNonce": uuid.uuid4().hex, "Version": "2017-05-25",
            "Timestamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        params["Signature"] = aliyun_signature(params, self.secret)
        return params

    def send(self, address: str, message: Message) -> str:
        try:
            r = requests.get(self.endpoint, params=self.request_params(address, message), timeout=TIMEOUT)
            body = r.json()
        except (requests.RequestException, ValueError) as exc:
            raise DeliveryError(f"Aliyun SMS: {exc.__class__.__name__}: {exc}") from exc
        if body.get("Code") != "OK":
            raise DeliveryError(f"Aliyun SMS: HTTP {r.status_code} {body.get('Code')} "
                                f"{body.get('Message', '')}")
        return str(body.get("BizId", "ok"))


def outbox_path() -> Path:
    from flask import current_app

    configured = settings.get("MEDIATION_NOTIFY_OUTBOX")
    return Path(configured) if configured else Path(current_app.instance_path) / "outbox.jsonl"


def channel(name: str) -> Channel:
    """The configured adapter for a channel, or the outbox when it is not configured."""
    if name == "email" and settings.get("MEDIATION_SMTP_HOST"):
        return SmtpChannel(settings.get("MEDIATION_SMTP_HOST"), settings.get("MEDIATION_SMTP_PORT"),
                           settings.get("MEDIATION_SMTP_FROM"), settings.get("MEDIATION_SMTP_USER"),
                           settings.get("MEDIATION_SMTP_PASSWORD"), settings.get("MEDIATION_SMTP_CA_FILE"))
    if name == "wecom" and settings.get("MEDIATION_WECOM_WEBHOOK"):
        return WecomChannel(settings.get("MEDIATION_WECOM_WEBHOOK"))
    if name == "sms" and settings.get("MEDIATION_ALIYUN_SMS_ACCESS_KEY_ID"):
        return AliyunSmsChannel(settings.get("MEDIATION_ALIYUN_SMS_ENDPOINT"),
                                settings.get("MEDIATION_ALIYUN_SMS_ACCESS_KEY_ID"),
                                settings.get("MEDIATION_ALIYUN_SMS_ACCESS_KEY_SECRET"),
                                settings.get("MEDIATION_ALIYUN_SMS_SIGN_NAME"),
                                settings.get("MEDIATION_ALIYUN_SMS_TEMPLATE"))
    if name not in CHANNELS:
        raise KeyError(name)
    return OutboxChannel(outbox_path(), name)
