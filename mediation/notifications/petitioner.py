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
part, and every respondent party entered on the case (被申请人, `parties.py`), has
consented; other mediators (lawyers, industry and administrative mediation) follow their
own rules. Consent is given here (`consent`, on the timeline) or recorded by an officer
from paper (`parties.record_consent`); session start enforces the rule
(`parties.missing_for_session`, a 409 naming whose consent is missing).

A respondent party has the same channel: a code on its notice of mediation (调解告知书),
the last four digits of its phone, the same milestones, session and consent.
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


def issue(session: Any, case_id: int, petitioner_id: int | None, actor_id: int | None,
          respondent_id: int | None = None) -> tuple[str, QueryCode]:
    """A new code for the petitioner, or the respondent (the old one stops working); the
    receipt's event."""
    now = clock.now()
    column = QueryCode.petitioner_id if petitioner_id is not None else QueryCode.respondent_id
    session.execute(sa.update(QueryCode).where(column == (petitioner_id or respondent_id),
                                               QueryCode.revoked_at.is_(None)).values(revoked_at=now))
    code = new_code()
    qc = QueryCode(case_id=case_id, petitioner_id=petitioner_id, respondent_id=respondent_id,
                   code_hash=code_hash(code), issued_by_id=actor_id, created_at=now)
    session.add(qc)
    session.flush()
    who = {"petitioner_id": petitioner_id} if petitioner_id is not None else {"respondent_id": respondent_id}
    timeline.append(session, case_id, events.RECEIPT_ISSUED, who, actor_id)
    return code, qc


def lookup(code: str, phone_tail: str, client: str) -> QueryCode | None:
    """The live code matching both, or None (the same None for a wrong code or phone)."""
    from mediation.cases.models import Petitioner
    from mediation.notifications.models import Respondent

    digest = code_hash(code)
    qc = db.session.execute(sa.select(QueryCode).where(QueryCode.code_hash == digest,
                                                       QueryCode.revoked_at.is_(None))).scalar_one_or_none()
    tail = None
    if qc is not None and qc.petitioner_id is not None:
        tail = db.session.execute(sa.select(Petitioner.phone_tail)
                                  .where(Petitioner.id == qc.petitioner_id)).scalar_one_or_none()
    elif qc is not None:
        tail = db.session.execute(sa.select(Respondent.phone_tail)
                                  .where(Respondent.id == qc.respondent_id)).scalar_one_or_none()
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
    """Record the party's consent on the query page, once (the consent row is unique per
    party: a paper consent an officer recorded counts too); False if already given."""
    from mediation.notifications import parties
    from mediation.notifications.models import ConsentMethod

    db.session.execute(sa.update(QueryCode).where(QueryCode.id == qc.id, QueryCode.consented_at.is_(None))
                       .values(consented_at=clock.now()).execution_options(synchronize_session=False))
    done = parties.add_consent(qc.case_id, qc.petitioner_id, qc.respondent_id, ConsentMethod.QUERY_PAGE,
                               clock.today(), "", None)
    db.session.commit()
    return done


def consented(petitioner_ids: list[int]) -> set[int]:
    """Of these petitioners, those who have consented (on the page or on paper)."""
    from mediation.notifications.models import Consent

    if not petitioner_ids:
        return set()
    return set(db.session.execute(sa.select(Consent.petitioner_id)
                                  .where(Consent.petitioner_id.in_(petitioner_ids))).scalars())


def issue_receipt(actor: Any, case_id: int, petitioner_id: int | None, sms: bool = False,
                  respondent_id: int | None = None) -> dict[str, Any]:
    """Issue (or issue again) a petitioner's receipt — or a respondent's notice of mediation —
    with a new query code: the officers of the case (Action.CASE_EDIT). The code is in the
    answer once, and with `sms` in an SMS to the party's phone: a delivery row
    (`outbound.plan_party`) sent by a task after the commit, retried with backoff, at most
    once; the text is kept encrypted only until it is sent or given up."""
    from mediation.cases.models import Case, Petitioner
    from mediation.errors import Invalid
    from mediation.notifications.models import Respondent
    from mediation.permissions import Action, require_case
    from mediation.transactions import transactional

    field = "petitioner_id" if respondent_id is None else "respondent_id"

    @transactional
    def run() -> dict[str, Any]:
        case: Case = require_case(actor, case_id, Action.CASE_EDIT)
        if (petitioner_id is None) == (respondent_id is None):
            raise Invalid({"petitioner_id": ["give a petitioner or a respondent, one of them"]})
        person: Any = (db.session.get(Petitioner, petitioner_id) if respondent_id is None
                       else db.session.get(Respondent, respondent_id))
        if person is None or person.case_id != case.id:
            raise Invalid({field: [f"not a {field[:-3]} of this case"]})
        if not person.phone_tail:
            raise Invalid({field: [f"the {field[:-3]} has no phone number: the query page "
                                   "needs its last four digits"]})
        code, qc = issue(db.session, case.id, petitioner_id, actor.id, respondent_id)
        sms_state = None
        if sms:
            from mediation.notifications import outbound

            party = f"{field[:-3]}:{person.id}"
            sms_state = outbound.plan_party(db.session, case.id, events.RECEIPT_ISSUED.name,
                                            f"query_code:{qc.id}", party, display(code))
        return {"case_id": case.id, "case_reference": case.reference, "petitioner_id": petitioner_id,
                "respondent_id": respondent_id, "petitioner_name": person.name, "name": person.name,
                "party": field[:-3], "code": display(code), "sms": sms_state,
                "received_on": case.received_on, "issued_at": clock.now()}

    return run()


def sms_petitioners(case_id: int, template: str, title: str, subject: str) -> str:
    """Send a template to every petitioner of the case with a phone: a delivery row each
    (`subject`, the thing sent, e.g. `survey_invite:<id>`), sent after the commit — not in
    quiet hours unless the template is urgent (then nothing is planned: "quiet_hours").
    Returns "sent" (planned), "quiet_hours" or "no_phone"."""
    from mediation import settings
    from mediation.cases.models import Petitioner
    from mediation.notifications import messages, outbound
    from mediation.notifications.outbound import quiet_window

    if not messages.urgent(template) and quiet_window(settings.get("MEDIATION_NOTIFY_QUIET_HOURS"),
                                                      clock.now()) is not None:
        return "quiet_hours"
    ids = db.session.execute(sa.select(Petitioner.id).where(
        Petitioner.case_id == case_id, Petitioner.phone_enc.is_not(None))
        .order_by(Petitioner.id)).scalars().all()
    for pid in ids:
        outbound.plan_party(db.session, case_id, template, subject, f"petitioner:{pid}", title)
    return "sent" if ids else "no_phone"
