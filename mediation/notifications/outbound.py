"""Delivering notifications outside the screen: e-mail, WeCom, SMS (`channels.py`).

`plan` runs in the event's transaction (after `centre.record`): a `Delivery` row per
notification and channel the user chose, unique per pair. After the commit a Celery task
per delivery is sent (`mediation.tasks.enqueue_after_commit`; eager in the embedded mode).
`deliver` claims the row by a conditional update (`pending`/`retry` and due -> `sending`)
before sending: a second worker, a retried task or the sweep finds it claimed and sends
nothing, so a message goes at most once; a worker lost mid-send leaves it `sending` (shown
in the log), never sent twice. A failure leaves it `retry` with a backoff (30 s doubling)
until MEDIATION_NOTIFY_MAX_ATTEMPTS, then `failed` with the reason. SMS wait out the quiet
hours (the service's local time) unless the type is urgent. The sweep (`sweep_due`, a job)
sends what is due and what a lost task never sent.

Messages to parties without an account (the receipt's query code, the survey's link) go
the same way (`plan_party`): a row per (subject, party, channel), its text encrypted until
it is sent or given up, the number read from the party's record at sending time.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import sqlalchemy as sa

from mediation import clock, settings
from mediation.notifications import channels, messages
from mediation.notifications.models import Delivery, DeliveryStatus, Notification, Preference

log = logging.getLogger(__name__)
DELIVER_TASK = "mediation.notifications.deliver"
SWEEP_TASK = "mediation.notifications.sweep"
BACKOFF_SECONDS = 30


def quiet_window(spec: str, moment: dt.datetime) -> dt.datetime | None:
    """If `moment` falls in the quiet hours `HH:MM-HH:MM` (local), the moment they end (UTC)."""
    start_s, end_s = spec.split("-")
    start = dt.time.fromisoformat(start_s)
    end = dt.time.fromisoformat(end_s)
    local = clock.local(moment)
    t = local.time()
    inside = (start <= t < end) if start <= end else (t >= start or t < end)
    if not inside:
        return None
    day = local.date() if t < end else local.date() + dt.timedelta(days=1)
    return clock.as_utc(dt.datetime.combine(day, end, tzinfo=clock.zone()))


def plan(session: Any, notification_ids: list[int]) -> list[int]:
    """Delivery rows for these (new) notifications, per the users' channels; their ids.
    The tasks are sent after the commit."""
    from mediation.tasks import enqueue_after_commit

    if not notification_ids:
        return []
    pairs = session.execute(
        sa.select(Notification.id, Preference.channels)
        .join(Preference, Preference.user_id == Notification.user_id)
        .where(Notification.id.in_(notification_ids))
    ).all()
    now = clock.now()
    rows = [{"notification_id": nid, "channel": ch, "status": DeliveryStatus.PENDING, "attempts": 0,
             "created_at": now} for nid, chs in pairs for ch in (chs or []) if ch in channels.CHANNELS]
    if not rows:
        return []
    ids = list(session.execute(sa.insert(Delivery).returning(Delivery.id, sort_by_parameter_order=True),
                               rows).scalars())
    for did in ids:
        enqueue_after_commit(DELIVER_TASK, did)
    return ids


def plan_party(session: Any, case_id: int, template: str, subject: str, party: str, title: str) -> str:
    """A delivery row for an SMS to a party (`petitioner:<id>`, `respondent:<id>`) about
    `subject` (the thing sent: `query_code:<id>`, `survey_invite:<id>`), in the caller's
    transaction; its task is sent after the commit. `title` fills the template (the code,
    the link) and is kept encrypted on the row only until it is sent or given up. At most
    once: the (subject, party, channel) is unique. Returns "planned"."""
    import json

    from mediation.pii import cipher
    from mediation.tasks import enqueue_after_commit

    body = cipher().encrypt(json.dumps({"title": title}, ensure_ascii=False))
    did = session.execute(sa.insert(Delivery).returning(Delivery.id), [{
        "notification_id": None, "case_id": case_id, "template": template, "subject": subject,
        "party": party, "message_cipher": body, "channel": "sms", "status": DeliveryStatus.PENDING,
        "attempts": 0, "created_at": clock.now()}]).scalar_one()
    enqueue_after_commit(DELIVER_TASK, did)
    return "planned"


def _party_phone(party: str) -> str | None:
    """The party's number, decrypted, or None."""
    from mediation.cases.models import Petitioner
    from mediation.extensions import db
    from mediation.notifications.models import Respondent
    from mediation.pii import cipher

    kind, _, number = party.partition(":")
    model = {"petitioner": Petitioner, "respondent": Respondent}.get(kind)
    row = db.session.get(model, int(number)) if model is not None and number.isdigit() else None
    return cipher().decrypt(row.phone_enc) if row is not None and row.phone_enc else None


def _party_message(d: Delivery) -> channels.Message:
    import json

    from mediation.cases.models import Case
    from mediation.extensions import db
    from mediation.pii import cipher

    if not d.message_cipher:
        raise channels.DeliveryError("the message's text is gone")
    title = json.loads(cipher().decrypt(d.message_cipher))["title"]
    case = db.session.get(Case, d.case_id)
    return messages.render(d.template or "", title, case.reference if case is not None else "")


def address_for(pref: Preference | None, channel: str) -> str | None:
    from mediation.pii import cipher

    if pref is None:
        return None
    if channel == "email":
        return pref.email
    if channel == "sms":
        return cipher().decrypt(pref.phone_cipher) if pref.phone_cipher else None
    if channel == "wecom":
        return cipher().decrypt(pref.wecom_mobile_cipher) if pref.wecom_mobile_cipher else ""
    return None


def _message(n: Notification) -> channels.Message:
    from mediation.cases.models import Case
    from mediation.events import event_type
    from mediation.extensions import db
    from mediation.registry import UndeclaredEventType

    try:
        title = event_type(n.type).label
    except UndeclaredEventType:
        title = n.type
    case = db.session.get(Case, n.case_id)
    return messages.render(n.type, title, case.reference if case is not None else "")


def deliver(delivery_id: int) -> str:
    """Try one delivery once; returns its status afterwards (see the module's docstring)."""
    from mediation.extensions import db

    s = db.session
    now = clock.now()
    d = s.get(Delivery, delivery_id)
    if d is None:
        return "missing"
    n = s.get(Notification, d.notification_id) if d.notification_id is not None else None
    kind = n.type if n is not None else d.template or ""
    waiting = (DeliveryStatus.PENDING, DeliveryStatus.RETRY)
    if d.channel == "sms" and not messages.urgent(kind) and d.status in waiting:
        pref = s.get(Preference, n.user_id) if n is not None else None
        own = pref.quiet_hours if pref is not None else None
        spec = own or settings.get("MEDIATION_NOTIFY_QUIET_HOURS")
        ends = quiet_window(spec, now)
        if ends is not None:
            s.execute(sa.update(Delivery)
                      .where(Delivery.id == d.id, Delivery.status.in_(waiting))
                      .values(not_before=ends))
            s.commit()
            log.info("delivery %s (sms) waits for the end of quiet hours at %s", d.id, ends.isoformat())
            return "quiet"
    claimed = s.execute(
        sa.update(Delivery)
        .where(Delivery.id == delivery_id,
               Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.RETRY]),
               sa.or_(Delivery.not_before.is_(None), Delivery.not_before <= now))
        .values(status=DeliveryStatus.SENDING, attempts=Delivery.attempts + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    s.commit()
    if claimed != 1:
        return "not claimed"
    s.refresh(d)
    adapter = channels.channel(d.channel)
    try:
        if n is not None:
            address = address_for(s.get(Preference, n.user_id), d.channel)
            if address is None:
                raise channels.DeliveryError(f"no {d.channel} address in the user's preferences")
            message = _message(n)
        else:
            address = _party_phone(d.party or "")
            if address is None:
                raise channels.DeliveryError("the party has no phone number")
            message = _party_message(d)
        detail = adapter.send(address, message)
    except channels.DeliveryError as exc:
        last = d.attempts >= settings.get("MEDIATION_NOTIFY_MAX_ATTEMPTS") or address is None
        status = DeliveryStatus.FAILED if last else DeliveryStatus.RETRY
        wait = dt.timedelta(seconds=BACKOFF_SECONDS * 2 ** (d.attempts - 1))
        # Given up: the party's message (its code, its link) is not kept any longer.
        keep = {"message_cipher": None} if last else {}
        s.execute(sa.update(Delivery).where(Delivery.id == d.id, Delivery.status == DeliveryStatus.SENDING)
                  .values(status=status, detail=str(exc)[:2000], via=adapter.name,
                          not_before=None if last else now + wait, **keep))
        s.commit()
        log.warning("delivery %s (%s) attempt %s failed%s: %s", d.id, d.channel, d.attempts,
                    "; giving up" if last else f"; again in {wait.total_seconds():.0f} s", exc)
        return status
    s.execute(sa.update(Delivery).where(Delivery.id == d.id, Delivery.status == DeliveryStatus.SENDING)
              .values(status=DeliveryStatus.SENT, sent_at=clock.now(), via=adapter.name,
                      detail=detail[:2000], message_cipher=None))
    s.commit()
    log.info("delivery %s (%s) sent via %s", d.id, d.channel, adapter.name)
    return DeliveryStatus.SENT


def due(limit: int = 100) -> list[int]:
    from mediation.extensions import db

    now = clock.now()
    return list(db.session.execute(
        sa.select(Delivery.id)
        .where(Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.RETRY]),
               sa.or_(Delivery.not_before.is_(None), Delivery.not_before <= now))
        .order_by(Delivery.id).limit(limit)).scalars())


def sweep_due() -> int:
    """Deliver what is due (retries whose backoff has passed, SMS after quiet hours, and
    tasks that were lost); each is claimed, so a race with a task sends nothing twice."""
    sent = 0
    for did in due():
        sent += deliver(did) == DeliveryStatus.SENT
    return sent


def log_rows(limit: int = 200, status: str | None = None) -> list[dict[str, Any]]:
    """The delivery log for admins: newest first, without addresses."""
    from mediation.extensions import db

    q = (sa.select(Delivery, Notification)
         .outerjoin(Notification, Notification.id == Delivery.notification_id)
         .order_by(Delivery.id.desc()).limit(limit))
    if status:
        q = q.where(Delivery.status == status)
    # A party's message (no account) names the party's kind, never its number or its code.
    return [{"id": d.id, "notification_id": d.notification_id, "user_id": n.user_id if n else None,
             "party": d.party.partition(":")[0] if n is None and d.party else None,
             "type": n.type if n else d.template, "case_id": n.case_id if n else d.case_id,
             "channel": d.channel, "status": d.status, "attempts": d.attempts,
             "created_at": d.created_at, "sent_at": d.sent_at, "not_before": d.not_before, "via": d.via,
             "detail": d.detail} for d, n in db.session.execute(q).all()]
