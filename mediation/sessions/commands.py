"""Actions on sessions and agreements. Each validates, changes its rows, appends its events
to the case's timeline and commits once (`transactional`). State changes are conditional
updates, so the database decides between two concurrent moves; an illegal move is a 409
with the current state."""

from __future__ import annotations

import datetime as dt
from collections import deque
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from mediation import clock, timeline
from mediation.cases import commands as case_commands
from mediation.cases.models import TRANSITIONS, Case, Petitioner, Status
from mediation.errors import Conflict, Forbidden, Invalid, NotFound
from mediation.events import EventType
from mediation.extensions import db
from mediation.permissions import OFFICIAL_ROLES, Action, can, require_case
from mediation.sessions import events, numbering, sources, visit_schedule
from mediation.sessions.models import (
    SESSION_TRANSITIONS,
    STATUTORY_PARTS,
    Agreement,
    AgreementKind,
    AgreementSignature,
    AgreementStatus,
    MediationSession,
    ParticipantKind,
    SessionParticipant,
    SessionStatus,
    SignMethod,
)
from mediation.timeline import iso, utcnow
from mediation.transactions import transactional
from mediation.users import Role, User

# The window in which both parties may apply together for judicial confirmation (司法确认).
JUDICIAL_CONFIRMATION_DAYS = 30


# --- who may do what ------------------------------------------------------------------------

def _officer(actor: User, case: Case) -> bool:
    """An officer of the case (or an admin): manages every session and records in person."""
    return can(actor, Action.CASE_EDIT, case)


def _participant_user_ids(session: MediationSession) -> set[int]:
    """The users in the session through their own account, while what brought them in
    still holds: the mediator and providers' users while their referral on the case is
    accepted, the lead official while they own the case. (Deputies and worthies are invited
    by name and stay.) Someone whose part ended leaves the room, its chat and its list."""
    with_account = [p for p in session.participants if p.user_id is not None]
    kinds = {p.kind for p in with_account}
    accepted = sources.referral_users(session.case_id)
    lead = db.session.execute(sa.select(Case.lead_official_id).where(
        Case.id == session.case_id)).scalar() if ParticipantKind.LEAD_OFFICIAL in kinds else None
    ids = {session.mediator_id} if session.mediator_id in accepted else set()
    for p in with_account:
        if p.kind in (ParticipantKind.PROVIDER, ParticipantKind.MEDIATOR) and p.user_id not in accepted:
            continue
        if p.kind == ParticipantKind.LEAD_OFFICIAL and p.user_id != lead:
            continue
        ids.add(p.user_id)
    return ids


def _sees_session(actor: User, case: Case, session: MediationSession) -> bool:
    """Officials who see the case watch every session; others only the ones they are in."""
    return actor.role in OFFICIAL_ROLES or actor.id in _participant_user_ids(session)


def get_session(actor: User, session_id: int) -> tuple[MediationSession, Case]:
    """The session and its case if the actor may see it; 404 otherwise, whatever the reason."""
    session = db.session.get(MediationSession, session_id)
    if session is None:
        raise NotFound("session")
    try:
        case = require_case(actor, session.case_id)
    except NotFound:
        raise NotFound("session") from None
    if not _sees_session(actor, case, session):
        raise NotFound("session")
    return session, case


def _require_runner(actor: User, case: Case, session: MediationSession) -> None:
    if actor.id != session.mediator_id and not _officer(actor, case):
        raise Forbidden("only the session's mediator or the case's officers may do this")


def sessions_of(actor: User, case_id: int) -> list[MediationSession]:
    """The case's sessions the actor may see, oldest first."""
    case = require_case(actor, case_id)
    rows = db.session.execute(
        sa.select(MediationSession).where(MediationSession.case_id == case.id)
        .order_by(MediationSession.id)).scalars()
    return [s for s in rows if _sees_session(actor, case, s)]


# --- sessions -----------------------------------------------------------------------------

def _participants(case: Case, mediator: User, data: dict[str, Any]) -> list[SessionParticipant]:
    errors: dict[str, list[str]] = {}
    people = [SessionParticipant(kind=ParticipantKind.MEDIATOR, name=mediator.display_name or
                                 mediator.username, user_id=mediator.id)]
    petitioners = {p.id: p for p in db.session.execute(
        sa.select(Petitioner).where(Petitioner.case_id == case.id)).scalars()}
    for pid in dict.fromkeys(data.get("petitioner_ids") or []):
        if pid not in petitioners:
            errors.setdefault("petitioner_ids", []).append(f"{pid} is not a petitioner of this case")
        else:
            people.append(SessionParticipant(kind=ParticipantKind.PETITIONER,
                                             name=petitioners[pid].name, petitioner_id=pid))
    for rep in data.get("respondents") or []:
        people.append(SessionParticipant(kind=ParticipantKind.RESPONDENT, name=rep["name"],
                                          unit=rep.get("unit") or ""))
    allowed = sources.referral_users(case.id)
    user_ids = [u for u in dict.fromkeys(data.get("user_ids") or []) if u != mediator.id]
    users = {u.id: u for u in db.session.execute(
        sa.select(User).where(User.id.in_(user_ids))).scalars()} if user_ids else {}
    for uid in user_ids:
        if uid not in allowed or uid not in users:
            errors.setdefault("user_ids", []).append(
                f"{uid} holds no accepted referral on this case")
        else:
            people.append(SessionParticipant(kind=ParticipantKind.PROVIDER, user_id=uid,
                                             name=users[uid].display_name or users[uid].username))
    for provider_id in dict.fromkeys(data.get("invited_provider_ids") or []):
        entry = sources.source().directory_entry(provider_id)
        if entry is None or not entry.active or entry.kind not in sources.INVITED_KINDS:
            errors.setdefault("invited_provider_ids", []).append(
                f"{provider_id} is not an active deputy, CPPCC member or worthy of the directory")
            continue
        if not entry.serves(case.region_code):
            errors.setdefault("invited_provider_ids", []).append(
                f"{provider_id} does not serve the case's region {case.region_code}")
            continue
        members = entry.user_ids or (None,)
        for uid in members:
            people.append(SessionParticipant(kind=ParticipantKind.INVITED, name=entry.name,
                                             unit=entry.kind, provider_id=entry.id, user_id=uid))
    if data.get("lead_official"):
        if case.lead_official_id is None:
            errors["lead_official"] = ["the case has no lead official yet"]
        else:
            lead = case.lead_official
            people.append(SessionParticipant(kind=ParticipantKind.LEAD_OFFICIAL, user_id=lead.id,
                                             name=lead.display_name or lead.username))
    if errors:
        raise Invalid(errors)
    return people


def participant_view(p: SessionParticipant) -> dict[str, Any]:
    return {"id": p.id, "kind": p.kind, "name": p.name, "unit": p.unit, "user_id": p.user_id,
            "petitioner_id": p.petitioner_id, "provider_id": p.provider_id,
            "attended": p.attended}


def session_view(s: MediationSession) -> dict[str, Any]:
    return {"id": s.id, "case_id": s.case_id, "mediator_id": s.mediator_id, "status": s.status,
            "scheduled_at": s.scheduled_at, "place": s.place, "online_link": s.online_link,
            "topic": s.topic, "postponements": s.postponements, "started_at": s.started_at,
            "ended_at": s.ended_at, "minutes": s.minutes, "cancel_reason": s.cancel_reason,
            "participants": [participant_view(p) for p in s.participants]}


def _summary(s: MediationSession) -> dict[str, Any]:
    """What a session event carries: enough for an invitation in an inbox."""
    return {"session_id": s.id, "scheduled_at": iso(s.scheduled_at), "place": s.place,
            "online_link": s.online_link, "topic": s.topic, "mediator_id": s.mediator_id,
            "participants": [{"id": p.id, "kind": p.kind, "name": p.name, "user_id": p.user_id}
                             for p in s.participants]}


def _session_event(case: Case, type_: EventType, session: MediationSession, data: dict[str, Any],
                   actor: User) -> None:
    """Append a session's event, naming who it concerns (its participants, as they are now)."""
    timeline.append(db.session, case.id, type_,
                    {**data, "audience": sorted(_participant_user_ids(session))}, actor.id)


def _aware(moment: dt.datetime) -> dt.datetime:
    """In UTC: SQLite keeps a datetime's digits and drops its offset, so a time given in
    the service's zone (+08:00) must be converted before it is stored."""
    return clock.as_utc(moment)


@transactional
def schedule(actor: User, case_id: int, data: dict[str, Any]) -> MediationSession:
    """Schedule a session with the case's mediator and the participants it needs."""
    case = require_case(actor, case_id)
    mediators = sources.mediator_users(case.id)
    if not _officer(actor, case) and actor.id not in mediators:
        raise Forbidden("only the case's officers or its mediator may schedule a session")
    mediator_id = data.get("mediator_id") or (actor.id if actor.id in mediators else None)
    if mediator_id is None or mediator_id not in mediators:
        raise Invalid({"mediator_id": [
            "must be a mediator's user with an accepted mediation referral on this case"]})
    if not (data.get("place") or data.get("online_link")):
        raise Invalid({"place": ["a place or an online meeting link is required"]})
    when = _aware(data["scheduled_at"])
    if when <= utcnow():
        raise Invalid({"scheduled_at": ["must be in the future"]})
    mediator = db.session.get(User, mediator_id)
    session = MediationSession(
        case_id=case.id, mediator_id=mediator_id, status=SessionStatus.SCHEDULED.value,
        scheduled_at=when, place=data.get("place") or "", online_link=data.get("online_link") or "",
        topic=data.get("topic") or "", created_by_id=actor.id, postponements=0,
        participants=_participants(case, mediator, data))
    db.session.add(session)
    db.session.flush()
    _session_event(case, events.SESSION_SCHEDULED, session, _summary(session), actor)
    return session


def _move(session: MediationSession, target: SessionStatus, **values: Any) -> SessionStatus:
    """Move the session along its state machine by a conditional update; 409 if illegal
    or if another request moved it first."""
    current = SessionStatus(session.status)
    if target not in SESSION_TRANSITIONS[current]:
        raise Conflict(f"a session that is {current} cannot become {target}",
                       current_state=current.value)
    moved = db.session.execute(
        sa.update(MediationSession)
        .where(MediationSession.id == session.id, MediationSession.status == current.value)
        .values(status=target.value, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        fresh = db.session.execute(sa.select(MediationSession.status)
                                   .where(MediationSession.id == session.id)).scalar_one()
        raise Conflict("the session changed meanwhile", current_state=fresh)
    db.session.refresh(session)
    return current


def _require_consent(session: MediationSession) -> None:
    """People's mediation starts only with every party's consent (`notifications.parties`):
    409 naming each missing consent, with the session's state."""
    from mediation.notifications import parties

    if session.status not in (SessionStatus.SCHEDULED, SessionStatus.POSTPONED):
        return  # the move says why it cannot start
    missing = parties.missing_for_session(session)
    if missing:
        names = "、".join(m["name"] for m in missing)
        raise Conflict(f"people's mediation needs every party's consent; missing: {names}",
                       current_state=session.status, missing_consents=missing)


@transactional
def start(actor: User, session_id: int) -> MediationSession:
    session, case = get_session(actor, session_id)
    _require_runner(actor, case, session)
    _require_consent(session)
    _move(session, SessionStatus.IN_PROGRESS, started_at=utcnow())
    _session_event(case, events.SESSION_STARTED, session,
                   {"session_id": session.id, "started_at": iso(session.started_at)}, actor)
    return session


@transactional
def end(actor: User, session_id: int, minutes: str) -> MediationSession:
    """End the session with its minutes (笔录)."""
    session, case = get_session(actor, session_id)
    _require_runner(actor, case, session)
    text = (minutes or "").strip()
    if not text:
        raise Invalid({"minutes": ["the minutes (笔录) are written when the session ends"]})
    _move(session, SessionStatus.ENDED, ended_at=utcnow(), minutes=text)
    _session_event(case, events.SESSION_ENDED, session, {
        "session_id": session.id, "ended_at": iso(session.ended_at), "minutes": text,
        "attended": [p.id for p in session.participants if p.attended]}, actor)
    return session


@transactional
def cancel(actor: User, session_id: int, reason: str) -> MediationSession:
    session, case = get_session(actor, session_id)
    _require_runner(actor, case, session)
    _move(session, SessionStatus.CANCELLED, cancel_reason=reason)
    _session_event(case, events.SESSION_CANCELLED, session, {**_summary(session), "reason": reason}, actor)
    return session


@transactional
def postpone(actor: User, session_id: int, scheduled_at: dt.datetime, reason: str) -> MediationSession:
    """Put the session off to a new time; participants are told."""
    session, case = get_session(actor, session_id)
    _require_runner(actor, case, session)
    when = _aware(scheduled_at)
    if when <= utcnow():
        raise Invalid({"scheduled_at": ["must be in the future"]})
    previous = iso(session.scheduled_at)
    _move(session, SessionStatus.POSTPONED, scheduled_at=when,
          postponements=MediationSession.postponements + 1)
    _session_event(case, events.SESSION_POSTPONED, session,
                   {**_summary(session), "previous": previous, "reason": reason}, actor)
    return session


@transactional
def record_attendance(actor: User, session_id: int, items: list[dict[str, Any]]) -> MediationSession:
    """Record who attended (the mediator or an officer), during or after the session."""
    session, case = get_session(actor, session_id)
    _require_runner(actor, case, session)
    if session.status not in (SessionStatus.IN_PROGRESS, SessionStatus.ENDED):
        raise Conflict("attendance is recorded once the session has started",
                       current_state=session.status)
    by_id = {p.id: p for p in session.participants}
    unknown = [i["participant_id"] for i in items if i["participant_id"] not in by_id]
    if unknown:
        raise Invalid({"participant_id": [f"{u} is not a participant of this session" for u in unknown]})
    now = utcnow()
    for item in items:
        p = by_id[item["participant_id"]]
        p.attended = item["attended"]
        p.attendance_recorded_at = now
    _session_event(case, events.SESSION_ATTENDANCE_RECORDED, session, {
        "session_id": session.id,
        "attendance": [{"participant_id": i["participant_id"], "name": by_id[i["participant_id"]].name,
                        "attended": i["attended"]} for i in items]}, actor)
    return session


@transactional
def join(actor: User, session_id: int) -> MediationSession:
    """A participant joins a session in progress through their own account."""
    session, case = get_session(actor, session_id)
    mine = [p for p in session.participants if p.user_id == actor.id]
    if not mine:
        raise NotFound("session")  # an official watching is not in the room
    if session.status != SessionStatus.IN_PROGRESS:
        raise Conflict("only a session in progress can be joined", current_state=session.status)
    if all(p.attended for p in mine):
        return session
    for p in mine:
        p.attended = True
        p.attendance_recorded_at = utcnow()
    _session_event(case, events.SESSION_JOINED, session, {
        "session_id": session.id, "participant_id": mine[0].id, "name": mine[0].name,
        "user_id": actor.id}, actor)
    return session


# --- agreements -----------------------------------------------------------------------------

CONTENT_FIELDS = tuple(name for name, _ in STATUTORY_PARTS)
JUDICIAL_FIELDS = ("judicial_applied_on", "judicial_court", "judicial_decision",
                   "judicial_decided_on", "judicial_note")


def get_agreement(actor: User, agreement_id: int, read_only: bool = False) -> tuple[Agreement, Case]:
    """The agreement and its case if the actor sees the case, or is a party whose own
    account a final agreement names (to read what they sign), or — `read_only`, for
    reading alone — its mediator until the case is closed (`mediator_keeps`); 404
    otherwise."""
    agreement = db.session.get(Agreement, agreement_id)
    if agreement is None:
        raise NotFound("agreement")
    try:
        case = require_case(actor, agreement.case_id)
    except NotFound:
        case = db.session.get(Case, agreement.case_id)
        if not (_signs_as_party(actor, agreement)
                or (read_only and mediator_keeps(actor, agreement, case))):
            raise NotFound("agreement") from None
    return agreement, case


def mediator_keeps(actor: User, agreement: Agreement, case: Case | None) -> bool:
    """The mediator of an agreement reads it and its performance items until the case is
    closed, after their referral ended: performance reminders reach them and a follow-up
    visit asks them whether it is honoured. Never to change it: that takes the case."""
    return (case is not None and actor.active and actor.id == agreement.mediator_id
            and case.status != Status.CLOSED)


def agreements_naming(actor: User) -> list[Agreement]:
    """The agreements past drafting that name the actor's own account for a party (what a
    party account reads and signs), newest first."""
    if actor.role != Role.PARTY or not actor.active:
        return []
    # The parties are JSON: a text match narrows the rows in SQL, the exact test follows.
    text = sa.cast(Agreement.parties, sa.Text)
    near = sa.or_(text.contains(f'"user_id": {actor.id},', autoescape=True),
                  text.contains(f'"user_id": {actor.id}}}', autoescape=True))
    rows = db.session.execute(sa.select(Agreement).where(
        Agreement.status != AgreementStatus.DRAFT.value, near).order_by(Agreement.id.desc())).scalars()
    return [a for a in rows if _signs_as_party(actor, a)]


def _signs_as_party(actor: User, a: Agreement) -> bool:
    return (actor.role == Role.PARTY and actor.active and a.status != AgreementStatus.DRAFT
            and actor.id in {p.get("user_id") for p in a.parties or []})


def agreements_of(actor: User, case_id: int) -> list[Agreement]:
    case = require_case(actor, case_id)
    return list(db.session.execute(
        sa.select(Agreement).where(Agreement.case_id == case.id).order_by(Agreement.id)).scalars())


def missing_parts(a: Agreement) -> dict[str, list[str]]:
    """The statutory parts the agreement lacks, each with what is wrong."""
    missing: dict[str, list[str]] = {}
    parties = a.parties or []
    if len(parties) < 2:
        missing["parties"] = ["at least two parties, each with their basic details"]
    elif any(not (p.get("name") or "").strip() or not (p.get("details") or "").strip()
             for p in parties):
        missing["parties"] = ["every party needs a name and basic details"]
    for name in CONTENT_FIELDS[1:]:
        if not (getattr(a, name) or "").strip():
            missing[name] = ["missing"]
    return missing


def signers(a: Agreement) -> list[tuple[str, str, int | None]]:
    """Who must sign: (key, name, user id who may sign through their account)."""
    parties = [(f"party:{i}", p.get("name") or "", p.get("user_id")) for i, p in enumerate(a.parties or [])]
    return [*parties, ("mediator", "", a.mediator_id)]


def judicial_confirmation_until(effective_at: dt.datetime) -> dt.date:
    """The last day to apply for judicial confirmation: counted in the service's days from
    the day the agreement took effect."""
    return clock.local_date(effective_at) + dt.timedelta(days=JUDICIAL_CONFIRMATION_DAYS)


def agreement_view(a: Agreement) -> dict[str, Any]:
    signed = {s.signer: s for s in a.signatures}
    effective = a.effective_at
    return {
        "id": a.id, "case_id": a.case_id, "session_id": a.session_id, "mediator_id": a.mediator_id,
        "status": a.status, "version": a.version, "supersedes_id": a.supersedes_id,
        **{name: getattr(a, name) for name in CONTENT_FIELDS},
        "missing": sorted(missing_parts(a)) if a.status == AgreementStatus.DRAFT else [],
        "finalised_at": a.finalised_at, "effective_at": effective,
        "kind": a.kind, "issuer": a.issuer, "document_no": a.document_no,
        "judicial_confirmation_until": judicial_confirmation_until(effective)
        if effective and a.kind != AgreementKind.ADMINISTRATIVE else None,
        **{name: getattr(a, name) for name in JUDICIAL_FIELDS},
        "signers": [{"signer": key, "name": name, "signed": key in signed} for key, name, _ in signers(a)],
        "signatures": [{"signer": s.signer, "signer_name": s.signer_name, "method": s.method,
                        "user_id": s.user_id, "recorded_by_id": s.recorded_by_id,
                        "signed_at": s.signed_at} for s in a.signatures],
    }


def _content(a: Agreement) -> dict[str, Any]:
    return {name: getattr(a, name) for name in CONTENT_FIELDS}


# Why a party's account may not stand for that party (the pages translate these).
NO_SUCH_ACCOUNT = "no such account"
MEDIATORS_ACCOUNT = "the mediator's own account cannot stand for a party"
NOT_A_PARTY_ACCOUNT = "must be the party's own account, not an official's, a provider's or the mediator's"
ACCOUNT_DEACTIVATED = "the account is deactivated"
ACCOUNT_TWICE = "one account can stand for one party only"


def party_account_errors(parties: list[dict[str, Any]], mediator_id: int) -> dict[str, Any]:
    """For each party whose `user_id` is set, why that account cannot be the party's own:
    {"parties": {index: {"user_id": [message]}}}, or {} when every account is fine.

    A signature through an account proves only that the account's holder signed, so the
    account must be a party's (role `party`: officials, providers and the mediator all
    have accounts of their own roles) and stand for one party of the agreement at most."""
    ids = {p.get("user_id") for p in parties if p.get("user_id") is not None}
    users = {u.id: u for u in db.session.execute(
        sa.select(User).where(User.id.in_(ids))).scalars()} if ids else {}
    errors: dict[int, dict[str, list[str]]] = {}
    first: dict[int, int] = {}
    for i, party in enumerate(parties):
        uid = party.get("user_id")
        if uid is None:
            continue
        user = users.get(uid)
        if user is None:
            problem = NO_SUCH_ACCOUNT
        elif uid == mediator_id:
            problem = MEDIATORS_ACCOUNT
        elif user.role != Role.PARTY:
            problem = NOT_A_PARTY_ACCOUNT
        elif not user.active:
            problem = ACCOUNT_DEACTIVATED
        elif uid in first:
            problem = ACCOUNT_TWICE
        else:
            problem = None
        first.setdefault(uid, i)
        if problem:
            errors[i] = {"user_id": [problem]}
    return {"parties": errors} if errors else {}


@transactional
def draft(actor: User, case_id: int, data: dict[str, Any]) -> Agreement:
    """The case's mediator drafts an agreement; it supersedes the one in effect, if any,
    when it takes effect itself."""
    case = require_case(actor, case_id)
    if actor.id not in sources.mediator_users(case.id):
        raise Forbidden("only a mediator with an accepted referral on this case may draft an agreement")
    session_id = data.get("session_id")
    if session_id is not None:
        s = db.session.get(MediationSession, session_id)
        if s is None or s.case_id != case.id:
            raise Invalid({"session_id": ["not a session of this case"]})
    bad_accounts = party_account_errors(data.get("parties") or [], actor.id)
    if bad_accounts:
        raise Invalid(bad_accounts)
    in_effect = db.session.execute(
        sa.select(Agreement.id).where(Agreement.case_id == case.id,
                                      Agreement.status == AgreementStatus.IN_EFFECT)).scalar()
    agreement = Agreement(case_id=case.id, session_id=session_id, mediator_id=actor.id,
                          status=AgreementStatus.DRAFT.value, version=1, supersedes_id=in_effect,
                          **{name: data.get(name) or ([] if name == "parties" else "")
                             for name in CONTENT_FIELDS})
    db.session.add(agreement)
    db.session.flush()
    timeline.append(db.session, case.id, events.AGREEMENT_DRAFTED, {
        "agreement_id": agreement.id, "version": 1, "supersedes_id": in_effect,
        "missing": sorted(missing_parts(agreement))}, actor.id)
    return agreement


def _require_author(actor: User, a: Agreement) -> None:
    if actor.id != a.mediator_id:
        raise Forbidden("only the mediator who drafted the agreement may change it")


@transactional
def revise(actor: User, agreement_id: int, version: int, changes: dict[str, Any]) -> Agreement:
    """Edit a draft made on `version`; if someone saved since, 409 and nothing changes."""
    agreement, case = get_agreement(actor, agreement_id)
    _require_author(actor, agreement)
    if agreement.status != AgreementStatus.DRAFT:
        raise Conflict("only a draft can be changed; a new agreement supersedes one in effect",
                       current_state={"status": agreement.status, "version": agreement.version})
    values = {name: changes[name] for name in CONTENT_FIELDS if name in changes}
    if "parties" in values:
        bad_accounts = party_account_errors(values["parties"] or [], agreement.mediator_id)
        if bad_accounts:
            raise Invalid(bad_accounts)
    moved = db.session.execute(
        sa.update(Agreement)
        .where(Agreement.id == agreement.id, Agreement.version == version,
               Agreement.status == AgreementStatus.DRAFT.value)
        .values(version=Agreement.version + 1, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        fresh = db.session.execute(sa.select(Agreement.status, Agreement.version)
                                   .where(Agreement.id == agreement.id)).one()
        raise Conflict(f"the draft was changed meanwhile (you edited version {version})",
                       current_state={"status": fresh.status, "version": fresh.version})
    db.session.refresh(agreement)
    timeline.append(db.session, case.id, events.AGREEMENT_REVISED, {
        "agreement_id": agreement.id, "version": agreement.version, "fields": sorted(values)},
        actor.id)
    return agreement


@transactional
def finalise(actor: User, agreement_id: int) -> Agreement:
    """Fix the text for signing; every statutory part must be there (422 naming the gaps)."""
    agreement, case = get_agreement(actor, agreement_id)
    _require_author(actor, agreement)
    if agreement.status != AgreementStatus.DRAFT:
        raise Conflict("only a draft can be finalised", current_state=agreement.status)
    missing = missing_parts(agreement)
    if missing:
        raise Invalid(missing, message=f"the agreement lacks: {', '.join(missing)}")
    # A draft saved before these checks existed is checked again before anyone signs it.
    bad_accounts = party_account_errors(agreement.parties or [], agreement.mediator_id)
    if bad_accounts:
        raise Invalid(bad_accounts, message="a party's account is not that party's own")
    moved = db.session.execute(
        sa.update(Agreement)
        .where(Agreement.id == agreement.id, Agreement.status == AgreementStatus.DRAFT.value,
               Agreement.version == agreement.version)
        .values(status=AgreementStatus.FINAL.value, finalised_at=utcnow(), updated_at=utcnow())
        .execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        raise Conflict("the draft was changed meanwhile", current_state=db.session.execute(
            sa.select(Agreement.status).where(Agreement.id == agreement.id)).scalar_one())
    # Only the finalisation that won the update above takes a number (文号).
    db.session.execute(sa.update(Agreement).where(Agreement.id == agreement.id)
                       .values(**numbering.assign(agreement))
                       .execution_options(synchronize_session=False))
    db.session.refresh(agreement)
    # The event carries the whole text: the timeline's hash chain then vouches for it.
    timeline.append(db.session, case.id, events.AGREEMENT_FINALISED, {
        "agreement_id": agreement.id, "version": agreement.version, "content": _content(agreement),
        "kind": agreement.kind, "issuer": agreement.issuer, "document_no": agreement.document_no},
        actor.id)
    return agreement


@transactional
def sign(actor: User, agreement_id: int, signer: str, method: str,
         party_index: int | None = None) -> Agreement:
    """Record one signature; the last one puts the agreement into effect.

    Through an account, each signs for themself only, and one account for one signer of
    the agreement at most; in person (hand, seal, fingerprint), an official of the case who
    is not the mediator records it. The mediator signs through his own account."""
    agreement, case = get_agreement(actor, agreement_id)
    if agreement.status != AgreementStatus.FINAL:
        raise Conflict("only a final agreement is signed" if agreement.status == AgreementStatus.DRAFT
                       else "the agreement is no longer open for signatures",
                       current_state=agreement.status)
    parties = agreement.parties or []
    if signer == "mediator":
        if method != SignMethod.ACCOUNT:
            raise Invalid({"method": ["the mediator signs through his own account"]})
        key, user_id = "mediator", agreement.mediator_id
        name = db.session.get(User, agreement.mediator_id).display_name
    else:
        if party_index is None or not 0 <= party_index < len(parties):
            raise Invalid({"party_index": [f"between 0 and {len(parties) - 1}"]})
        key, user_id = f"party:{party_index}", parties[party_index].get("user_id")
        name = parties[party_index].get("name") or ""
    if method == SignMethod.ACCOUNT:
        if user_id is None:
            raise Forbidden("this party has no account of its own: an official records its "
                            "signature in person")
        if actor.id != user_id:
            raise Forbidden("through your own account you may sign only for yourself")
        if key != "mediator":
            bad = party_account_errors(parties, agreement.mediator_id).get("parties", {})
            if party_index in bad:
                raise Conflict(f"party {party_index + 1}'s account cannot sign for it: "
                               f"{bad[party_index]['user_id'][0]}; draft a new agreement",
                               current_state=agreement.status)
        already = [s.signer for s in agreement.signatures if s.user_id == actor.id]
        if already and already != [key]:
            raise Conflict(f"your account has signed for {already[0]} already: one account "
                           "signs for one signer", current_state=agreement.status)
    elif not _officer(actor, case) or actor.id == agreement.mediator_id:
        raise Forbidden("a signature in person is recorded by an official of the case who is "
                        "not the mediator")
    if any(s.signer == key for s in agreement.signatures):
        raise Conflict(f"{key} has signed already", current_state=agreement.status)
    try:
        with db.session.begin_nested():
            db.session.add(AgreementSignature(
                agreement_id=agreement.id, signer=key, signer_name=name, method=method,
                user_id=actor.id if method == SignMethod.ACCOUNT else None,
                recorded_by_id=actor.id, signed_at=utcnow()))
    except IntegrityError:
        # Either constraint: the signer has signed, or this account has signed for another.
        raise Conflict(f"{key} has signed already, or your account has signed for another "
                       "signer", current_state=agreement.status) from None
    # Appending locks the case's row until the commit: concurrent signatures are counted
    # one after the other, so exactly one of them sees the last signature go in.
    timeline.append(db.session, case.id, events.AGREEMENT_SIGNED, {
        "agreement_id": agreement.id, "signer": key, "name": name, "method": method,
        "recorded_by_id": actor.id}, actor.id)
    signed = set(db.session.execute(sa.select(AgreementSignature.signer).where(
        AgreementSignature.agreement_id == agreement.id)).scalars())
    if {k for k, _, _ in signers(agreement)} <= signed:
        _take_effect(actor, agreement, case)
    db.session.expire(agreement)
    return agreement


def _take_effect(actor: User, agreement: Agreement, case: Case) -> None:
    now = utcnow()
    moved = db.session.execute(
        sa.update(Agreement).where(Agreement.id == agreement.id,
                                   Agreement.status == AgreementStatus.FINAL.value)
        .values(status=AgreementStatus.IN_EFFECT.value, effective_at=now, updated_at=now)
        .execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        return
    superseded = list(db.session.execute(
        sa.select(Agreement.id).where(Agreement.case_id == case.id, Agreement.id != agreement.id,
                                      Agreement.status == AgreementStatus.IN_EFFECT.value)).scalars())
    if superseded:
        db.session.execute(sa.update(Agreement).where(Agreement.id.in_(superseded))
                           .values(status=AgreementStatus.SUPERSEDED.value, updated_at=now)
                           .execution_options(synchronize_session=False))
        for old in superseded:
            timeline.append(db.session, case.id, events.AGREEMENT_SUPERSEDED,
                            {"agreement_id": old, "by": agreement.id}, actor.id)
    timeline.append(db.session, case.id, events.AGREEMENT_IN_EFFECT, {
        "agreement_id": agreement.id, "effective_at": iso(now),
        "judicial_confirmation_until": judicial_confirmation_until(now).isoformat()}, actor.id)
    advance_case(case, Status.AGREEMENT_REACHED, actor, f"agreement {agreement.id} took effect")
    visit_schedule.schedule(case, f"agreement:{agreement.id}", now, agreement_id=agreement.id)


# Statuses a case passes through on its own only on the way to work: an agreement taking
# effect never resolves, closes or reopens a case.
_NOT_VIA = frozenset({Status.RESOLVED, Status.CLOSED, Status.REOPENED})


def _path(start: Status, goal: Status) -> list[Status] | None:
    """The shortest way from `start` to `goal` along the case's state machine."""
    seen, queue = {start: None}, deque([start])
    while queue:
        here = queue.popleft()
        if here == goal:
            steps = []
            while here != start:
                steps.append(here)
                here = seen[here]
            return steps[::-1]
        for nxt in TRANSITIONS[here]:
            if nxt not in seen and (nxt == goal or nxt not in _NOT_VIA):
                seen[nxt] = here
                queue.append(nxt)
    return None


def advance_case(case: Case, goal: Status, actor: User | None, reason: str,
                 **extra: Any) -> bool:
    """Move the case to `goal` along its state machine, in the caller's transaction, one
    `cases.commands.move_case` step each (`extra` goes into the last). False if there is
    no way (e.g. from resolved)."""
    db.session.refresh(case, ["status"])
    steps = _path(Status(case.status), goal)
    if steps is None:
        return False
    for target in steps:
        case_commands.move_case(case, target, actor, reason, **(extra if target == goal else {}))
    case_commands.refresh(case, actor)
    return True

