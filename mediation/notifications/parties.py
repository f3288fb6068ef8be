"""The parties of a case as the consent rule sees them: the petitioners (信访人), and the
respondent parties (被申请人) the officers enter so that they have a channel of their own;
each party's consent to mediation, given on the query page or recorded by an officer from
paper (a signed consent, or an oral one written into the record).

The rule (人民调解法 第三条、第十七条: people's mediation is voluntary, and a party's refusal
ends it): a session whose mediator acts for a people's mediation committee may start only
when every petitioner taking part in it and every respondent party entered on the case has
consented. Respondents named only on a session (a unit's representative, by name) are not
parties entered on the case: they have no code and no consent of their own. Other mediators
(lawyers, administrative, industry and professional mediation) follow their own rules: no
check. `missing_for_session` is what `sessions.commands.start` asks; its answer names every
missing consent (a 409 there).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from mediation import clock, timeline
from mediation.errors import Conflict, Invalid
from mediation.extensions import db
from mediation.notifications import events
from mediation.notifications.models import RECORDED_METHODS, Consent, Respondent
from mediation.permissions import Action, require_case
from mediation.pii import PHONE_RE, cipher, mask_phone, normalize
from mediation.transactions import transactional
from mediation.users import User

PEOPLE = "people"  # the people's-mediation type of a mediator (人民调解)


# --- consents -------------------------------------------------------------------------------

def add_consent(case_id: int, petitioner_id: int | None, respondent_id: int | None, method: str,
                given_on: dt.date, note: str, actor_id: int | None) -> bool:
    """Insert the party's consent and its event in the caller's transaction, once: False if
    the party had consented already (the unique row decides between two recorders)."""
    column = Consent.petitioner_id if petitioner_id is not None else Consent.respondent_id
    if db.session.execute(sa.select(Consent.id).where(column == (petitioner_id or respondent_id))).first():
        return False
    try:
        with db.session.begin_nested():
            db.session.add(Consent(case_id=case_id, petitioner_id=petitioner_id, respondent_id=respondent_id,
                                   method=method, given_on=given_on, note=note, recorded_by_id=actor_id,
                                   recorded_at=clock.now()))
    except IntegrityError:
        return False
    who = {"petitioner_id": petitioner_id} if petitioner_id is not None else {"respondent_id": respondent_id}
    data: dict[str, Any] = {**who, "via": method}
    if actor_id is not None:  # recorded by an officer: the day the party consented
        data["given_on"] = given_on.isoformat()
    timeline.append(db.session, case_id, events.CONSENTED, data, actor_id)
    return True


@transactional
def record_consent(actor: User, case_id: int, data: dict[str, Any]) -> Consent:
    """An officer records a party's consent given on paper or orally (who, when, how): the
    case's officers (Action.CASE_EDIT). 409 if the party has consented already."""
    from mediation.cases.models import Petitioner

    case = require_case(actor, case_id, Action.CASE_EDIT)
    pid, rid = data.get("petitioner_id"), data.get("respondent_id")
    if (pid is None) == (rid is None):
        raise Invalid({"petitioner_id": ["give a petitioner or a respondent, one of them"]})
    model, field = (Petitioner, "petitioner_id") if pid is not None else (Respondent, "respondent_id")
    person = db.session.get(model, pid or rid)
    errors: dict[str, list[str]] = {}
    if person is None or person.case_id != case.id:
        errors[field] = [f"not a {field[:-3]} of this case"]
    if data.get("method") not in RECORDED_METHODS:
        errors["method"] = [f"must be one of {', '.join(RECORDED_METHODS)}"]
    given_on = data.get("given_on") or clock.today()
    if given_on > clock.today():
        errors["given_on"] = ["not after today"]
    if errors:
        raise Invalid(errors)
    if not add_consent(case.id, pid, rid, data["method"], given_on, (data.get("note") or "").strip(),
                       actor.id):
        raise Conflict(f"this {field[:-3]} has consented already", current_state="consented")
    return db.session.execute(sa.select(Consent).where(
        getattr(Consent, field) == person.id)).scalar_one()


def consent_view(c: Consent | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {"method": c.method, "given_on": c.given_on, "note": c.note,
            "recorded_by_id": c.recorded_by_id, "recorded_at": c.recorded_at}


# --- respondents -----------------------------------------------------------------------------

def respondent_view(r: Respondent, consent: Consent | None = None) -> dict[str, Any]:
    return {"id": r.id, "case_id": r.case_id, "name": r.name, "unit": r.unit,
            "phone": mask_phone(r.phone_tail), "has_phone": bool(r.phone_tail),
            "consent": consent_view(consent)}


@transactional
def add_respondent(actor: User, case_id: int, data: dict[str, Any]) -> Respondent:
    """Enter a respondent party (被申请人) on the case: the case's officers."""
    case = require_case(actor, case_id, Action.CASE_EDIT)
    name = (data.get("name") or "").strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["the respondent's name (a person, or who speaks for the unit)"]
    phone = normalize("phone", data.get("phone") or "")
    if phone and not PHONE_RE.match(phone):
        errors["phone"] = ["not a phone number"]
    if errors:
        raise Invalid(errors)
    r = Respondent(case_id=case.id, name=name[:100], unit=(data.get("unit") or "").strip()[:200],
                   phone_enc=cipher().encrypt(phone) if phone else None,
                   phone_tail=phone[-4:] if phone else None, created_by_id=actor.id, created_at=clock.now())
    db.session.add(r)
    db.session.flush()
    timeline.append(db.session, case.id, events.RESPONDENT_ADDED,
                    {"respondent_id": r.id, "name": r.name, "unit": r.unit}, actor.id)
    return r


def respondents(case_id: int) -> list[Respondent]:
    return list(db.session.execute(sa.select(Respondent).where(Respondent.case_id == case_id)
                                   .order_by(Respondent.id)).scalars())


def parties(case: Any) -> dict[str, list[dict[str, Any]]]:
    """The case's petitioners and respondents with their consent (officials' view)."""
    consents = {(c.petitioner_id, c.respondent_id): c for c in db.session.execute(
        sa.select(Consent).where(Consent.case_id == case.id)).scalars()}
    return {
        "petitioners": [{"id": p.id, "name": p.name, "has_phone": bool(p.phone_tail),
                         "consent": consent_view(consents.get((p.id, None)))} for p in case.petitioners],
        "respondents": [respondent_view(r, consents.get((None, r.id))) for r in respondents(case.id)],
    }


# --- the rule at session start ---------------------------------------------------------------

def missing_for_session(session: Any) -> list[dict[str, Any]] | None:
    """None if the session's mediator is not a people's mediator (no rule); else the parties
    whose consent is missing (empty: the session may start)."""
    from mediation.cases.models import Petitioner
    from mediation.sessions import sources
    from mediation.sessions.models import ParticipantKind

    if PEOPLE not in sources.mediation_types(session.case_id, session.mediator_id):
        return None
    pids = [p.petitioner_id for p in session.participants
            if p.kind == ParticipantKind.PETITIONER and p.petitioner_id is not None]
    given = db.session.execute(sa.select(Consent.petitioner_id, Consent.respondent_id)
                               .where(Consent.case_id == session.case_id)).all()
    have_p = {p for p, _ in given if p is not None}
    have_r = {r for _, r in given if r is not None}
    missing: list[dict[str, Any]] = []
    if pids:
        for p in db.session.execute(sa.select(Petitioner).where(Petitioner.id.in_(pids))
                                    .order_by(Petitioner.id)).scalars():
            if p.id not in have_p:
                missing.append({"party": "petitioner", "id": p.id, "name": p.name})
    for r in respondents(session.case_id):
        if r.id not in have_r:
            missing.append({"party": "respondent", "id": r.id, "name": r.name, "unit": r.unit})
    return missing
