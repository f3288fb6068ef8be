"""The petitioner's channel, without an account: a receipt (受理告知书) with a query code
(查询码) at intake, and a public page that takes the code and the last four digits of the
petitioner's phone and shows the case's milestones only, the session's time and place, and
takes the petitioner's consent to mediation.

The code is 20 characters of Crockford base32 (100 random bits; shown as five groups of
four), kept only as its SHA-256: guessing is hopeless and a leaked database gives no codes.
A wrong code and a wrong phone give the same answer; every lookup is logged with a short
prefix of the code's hash and the outcome, never the phone.

Consent rule decided for people's mediation (人民调解法 第三条、第十七条: mediation is
voluntary, and a party's refusal ends it): a session whose mediator acts for a people's
mediation committee (`mediation_type` "people") may start only when every petitioner taking
part has consented; other mediators (lawyers, industry and administrative mediation) follow
their own rules. Consent is recorded here (`consent`, on the timeline); the check at session
start is NOT enforced yet (`consented` is the query it will use).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from typing import Any

import sqlalchemy as sa

from mediation import clock, timeline
from mediation.extensions import db
from mediation.notifications import events
from mediation.notifications.models import QueryCode

log = logging.getLogger("mediation.query")

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32: no I, L, O, U
LENGTH = 20


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def display(code: str) -> str:
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def normalise(text: str) -> str:
    text = "".join(ch for ch in (text or "").upper() if ch.isalnum())
    return text.replace("O", "0").replace("I", "1").replace("L", "1")


def code_hash(code: str) -> str:
    return hashlib.sha256(normalise(code).encode()).hexdigest()


def issue(session: Any, case_id: int, petitioner_id: int, actor_id: int | None) -> str:
    """A new code for the petitioner (the old one stops working); the receipt's event."""
    now = clock.now()
    session.execute(sa.update(QueryCode).where(QueryCode.petitioner_id == petitioner_id,
                                               QueryCode.revoked_at.is_(None)).values(revoked_at=now))
    code = new_code()
    session.add(QueryCode(case_id=case_id, petitioner_id=petitioner_id, code_hash=code_hash(code),
                          issued_by_id=actor_id, created_at=now))
    timeline.append(session, case_id, events.RECEIPT_ISSUED, {"petitioner_id": petitioner_id}, actor_id)
    return code


def lookup(code: str, phone_tail: str, client: str) -> QueryCode | None:
    """The live code matching both, or None (the same None for a wrong code or phone)."""
    from mediation.cases.models import Petitioner

    digest = code_hash(code)
    qc = db.session.execute(sa.select(QueryCode).where(QueryCode.code_hash == digest,
                                                       QueryCode.revoked_at.is_(None))).scalar_one_or_none()
    tail = None
    if qc is not None:
        tail = db.session.execute(sa.select(Petitioner.phone_tail)
                                  .where(Petitioner.id == qc.petitioner_id)).scalar_one_or_none()
    given = (phone_tail or "").encode()
    ok = qc is not None and tail is not None and hmac.compare_digest(tail.encode(), given)
    log.info("query lookup code=%s… client=%s %s", digest[:8], client, "found" if ok else "refused")
    return qc if ok else None


def milestones(case_id: int) -> dict[str, Any]:
    """What the petitioner sees: milestones with their days, the next session, consent."""
    from mediation.cases.models import Case

    case = db.session.get(Case, case_id)
    wanted = ("case.created", "referral.accepted", "session.scheduled", "session.postponed",
              "session.cancelled", "agreement.in_effect", "case.resolved", "petitioner.consented")
    from mediation.timeline import Event

    rows = db.session.execute(sa.select(Event).where(Event.case_id == case_id, Event.type.in_(wanted))
                              .order_by(Event.seq)).scalars().all()
    first: dict[str, Any] = {}
    session_info = None
    for ev in rows:
        first.setdefault(ev.type, ev.at)
        if ev.type in ("session.scheduled", "session.postponed"):
            data = ev.payload
            session_info = {"at": data.get("scheduled_at"), "place": data.get("place"),
                            "online_link": data.get("online_link")}
        elif ev.type == "session.cancelled":
            session_info = None
    def day(moment: Any) -> Any:
        return clock.local_date(moment) if moment is not None and hasattr(moment, "hour") else moment

    first = {k: day(v) for k, v in first.items()}
    steps = [
        ("received", case.received_on or first.get("case.created")),
        ("accepted", case.accepted_on),
        ("handed_over", first.get("referral.accepted")),
        ("session_scheduled", first.get("session.scheduled")),
        ("agreement", first.get("agreement.in_effect")),
        ("resolved", first.get("case.resolved")),
    ]
    return {"reference": case.reference, "steps": steps, "session": session_info}


def consent(qc: QueryCode) -> bool:
    """Record the petitioner's consent once (a conditional update); False if already given."""
    now = clock.now()
    done = db.session.execute(sa.update(QueryCode).where(QueryCode.id == qc.id,
                                                         QueryCode.consented_at.is_(None))
                              .values(consented_at=now).execution_options(synchronize_session=False)).rowcount
    if done:
        timeline.append(db.session, qc.case_id, events.CONSENTED,
                        {"petitioner_id": qc.petitioner_id, "via": "query_page"}, None)
    db.session.commit()
    return bool(done)


def consented(petitioner_ids: list[int]) -> set[int]:
    """Of these petitioners, those who have consented (through any code of theirs)."""
    if not petitioner_ids:
        return set()
    return set(db.session.execute(sa.select(QueryCode.petitioner_id)
                                  .where(QueryCode.petitioner_id.in_(petitioner_ids),
                                         QueryCode.consented_at.is_not(None))).scalars())


def issue_receipt(actor: Any, case_id: int, petitioner_id: int, sms: bool = False) -> dict[str, Any]:
    """Issue (or issue again) a petitioner's receipt with a new query code: the officers of
    the case (Action.CASE_EDIT). The code is in the answer once and nowhere else — and, with
    `sms`, in an SMS to the petitioner's phone, sent after the commit from this process (the
    code never goes through the task queue)."""
    from mediation.cases.models import Case, Petitioner
    from mediation.errors import Invalid
    from mediation.permissions import Action, require_case
    from mediation.transactions import transactional

    @transactional
    def run() -> dict[str, Any]:
        case: Case = require_case(actor, case_id, Action.CASE_EDIT)
        person = db.session.get(Petitioner, petitioner_id)
        if person is None or person.case_id != case.id:
            raise Invalid({"petitioner_id": ["not a petitioner of this case"]})
        if not person.phone_tail:
            raise Invalid({"petitioner_id": ["the petitioner has no phone number: the query page "
                                             "needs its last four digits"]})
        code = issue(db.session, case.id, person.id, actor.id)
        if sms:
            from mediation.transactions import after_commit

            after_commit(db.session(), "query.sms",
                         (person.phone_enc, events.RECEIPT_ISSUED.name, display(code), case.reference),
                         _send_sms)
        return {"case_id": case.id, "case_reference": case.reference, "petitioner_id": person.id,
                "petitioner_name": person.name, "code": display(code),
                "received_on": case.received_on, "issued_at": clock.now()}

    return run()


def _send_sms(items: list[tuple[str, str, str, str]]) -> None:
    """SMS to petitioners (after the commit): (encrypted phone, template, title, case
    reference); the outcome is logged without the number."""
    from mediation.notifications import channels, messages
    from mediation.pii import cipher

    adapter = channels.channel("sms")
    for phone_enc, template, title, reference in items:
        try:
            message = messages.render(template, title, reference)
            adapter.send(cipher().decrypt(phone_enc), message)
            log.info("%s SMS for case %s sent via %s", template, reference, adapter.name)
        except channels.DeliveryError as exc:
            log.warning("%s SMS for case %s failed via %s: %s", template, reference, adapter.name, exc)


def sms_petitioners(case_id: int, template: str, title: str) -> str:
    """Send a template to every petitioner of the case with a phone, after the commit — not
    in quiet hours unless the template is urgent (then nothing is sent: "quiet_hours").
    Returns "sent", "quiet_hours" or "no_phone"."""
    from mediation import settings
    from mediation.cases.models import Case, Petitioner
    from mediation.notifications import messages
    from mediation.notifications.outbound import quiet_window
    from mediation.transactions import after_commit

    if not messages.urgent(template) and quiet_window(settings.get("MEDIATION_NOTIFY_QUIET_HOURS"),
                                                      clock.now()) is not None:
        return "quiet_hours"
    case = db.session.get(Case, case_id)
    phones = db.session.execute(sa.select(Petitioner.phone_enc).where(
        Petitioner.case_id == case_id, Petitioner.phone_enc.is_not(None))).scalars().all()
    for phone in phones:
        after_commit(db.session(), "query.sms", (phone, template, title, case.reference), _send_sms)
    return "sent" if phones else "no_phone"
