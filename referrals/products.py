"""What referrals produce: legal opinions, confidential counselling notes, support records.

Each is written only by a member of a provider holding an accepted referral of the right
kind on the case, and recorded on the timeline in the same transaction. A counselling
note's content is encrypted at rest and never leaves it except to its author: the event,
the list and every other view carry only that a session took place and its risk level.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from mediation import timeline
from mediation.clock import today
from mediation.errors import Forbidden, Invalid, NotFound
from mediation.extensions import db
from mediation.permissions import Action, require_case, role_may
from mediation.pii import cipher
from mediation.transactions import transactional
from mediation.users import User
from referrals import events
from referrals.models import (
    CounsellingNote,
    LegalOpinion,
    Provider,
    ProviderKind,
    ProviderMember,
    Referral,
    ReferralStatus,
    SupportRecord,
)

MASS_ORG_KINDS = (ProviderKind.TRADE_UNION, ProviderKind.WOMENS_FEDERATION,
                  ProviderKind.DISABLED_PERSONS_FEDERATION)


def _accepted_referral(actor: User, case_id: int, kinds: tuple[str, ...], what: str) -> Referral:
    """The actor's accepted referral on the case from a provider of these kinds, or 403."""
    referral = db.session.execute(
        sa.select(Referral)
        .join(ProviderMember, ProviderMember.provider_id == Referral.provider_id)
        .join(Provider, Provider.id == Referral.provider_id)
        .where(ProviderMember.user_id == actor.id, Referral.case_id == case_id,
               Referral.status == ReferralStatus.ACCEPTED, Provider.kind.in_(kinds))
        .order_by(Referral.id).limit(1)
    ).scalar_one_or_none()
    if referral is None:
        raise Forbidden(f"only a {what} with an accepted referral on this case may do this")
    return referral


def _not_future(field: str, day: dt.date) -> None:
    if day > today():
        raise Invalid({field: ["cannot be in the future"]})


@transactional
def post_opinion(actor: User, case_id: int, data: dict[str, Any]) -> LegalOpinion:
    """A lawyer's legal opinion: summary, legal basis (laws and articles), recommendation."""
    case = require_case(actor, case_id)
    referral = _accepted_referral(actor, case.id, (ProviderKind.LAWYER,), "lawyer")
    opinion = LegalOpinion(case_id=case.id, referral_id=referral.id,
                           provider_id=referral.provider_id, author_id=actor.id,
                           summary=data["summary"], legal_basis=data["legal_basis"],
                           recommendation=data["recommendation"])
    db.session.add(opinion)
    db.session.flush()
    timeline.append(db.session, case.id, events.OPINION_POSTED, {
        "opinion_id": opinion.id, "referral_id": referral.id, "provider_id": referral.provider_id,
        "summary": opinion.summary, "legal_basis": opinion.legal_basis,
        "recommendation": opinion.recommendation}, actor.id)
    return opinion


def opinions(actor: User, case_id: int) -> list[LegalOpinion]:
    case = require_case(actor, case_id)
    return list(db.session.execute(
        sa.select(LegalOpinion).where(LegalOpinion.case_id == case.id).order_by(LegalOpinion.id)
    ).scalars())


@transactional
def record_counselling(actor: User, case_id: int, data: dict[str, Any]) -> CounsellingNote:
    """A counsellor records a session; its content is confidential (encrypted, author only)."""
    case = require_case(actor, case_id)
    referral = _accepted_referral(actor, case.id, (ProviderKind.COUNSELLOR,), "counsellor")
    _not_future("session_on", data["session_on"])
    note = CounsellingNote(case_id=case.id, referral_id=referral.id,
                           provider_id=referral.provider_id, author_id=actor.id,
                           session_on=data["session_on"], risk_level=data["risk_level"],
                           content_enc=cipher().encrypt(data["content"]))
    db.session.add(note)
    db.session.flush()
    # Only the fact of the session and the risk level: the content never reaches the timeline.
    timeline.append(db.session, case.id, events.COUNSELLING_RECORDED, {
        "note_id": note.id, "referral_id": referral.id, "session_on": note.session_on.isoformat(),
        "risk_level": note.risk_level}, actor.id)
    return note


def counselling_view(note: CounsellingNote, viewer: User) -> dict[str, Any]:
    """The note as this viewer may see it: content for its author only."""
    view = {"id": note.id, "case_id": note.case_id, "referral_id": note.referral_id,
            "session_on": note.session_on, "risk_level": note.risk_level,
            "author_id": note.author_id, "created_at": note.created_at}
    if viewer.id == note.author_id:
        view["content"] = cipher().decrypt(note.content_enc)
    return view


def counselling_notes(actor: User, case_id: int) -> list[CounsellingNote]:
    """Officials see every session of the case (never the content); others their own."""
    case = require_case(actor, case_id)
    query = sa.select(CounsellingNote).where(CounsellingNote.case_id == case.id)
    if not role_may(actor, Action.CASE_INTERNAL):
        query = query.where(CounsellingNote.author_id == actor.id)
    return list(db.session.execute(query.order_by(CounsellingNote.id)).scalars())


def counselling_note(actor: User, note_id: int) -> CounsellingNote:
    note = db.session.get(CounsellingNote, note_id)
    if note is None or (not role_may(actor, Action.CASE_INTERNAL) and note.author_id != actor.id):
        raise NotFound("counselling note")
    require_case(actor, note.case_id)
    return note


@transactional
def record_support(actor: User, case_id: int, data: dict[str, Any]) -> SupportRecord:
    """A mass organisation records the support it gave."""
    case = require_case(actor, case_id)
    referral = _accepted_referral(actor, case.id, tuple(MASS_ORG_KINDS), "mass organisation")
    _not_future("given_on", data["given_on"])
    record = SupportRecord(case_id=case.id, referral_id=referral.id,
                           provider_id=referral.provider_id, author_id=actor.id,
                           kind=data["kind"], given_on=data["given_on"],
                           description=data["description"])
    db.session.add(record)
    db.session.flush()
    timeline.append(db.session, case.id, events.SUPPORT_RECORDED, {
        "support_id": record.id, "referral_id": referral.id, "provider_id": referral.provider_id,
        "kind": record.kind, "given_on": record.given_on.isoformat(),
        "description": record.description}, actor.id)
    return record


def support_records(actor: User, case_id: int) -> list[SupportRecord]:
    case = require_case(actor, case_id)
    return list(db.session.execute(
        sa.select(SupportRecord).where(SupportRecord.case_id == case.id)
        .order_by(SupportRecord.id)).scalars())
