"""The referral lifecycle, one explicit state machine, and the commands that move it.

offered -> accepted | declined | expired | withdrawn; accepted -> completed | withdrawn.
Each move is a conditional update on the status checked by its row count, so of two
concurrent moves exactly one wins and the other is a 409 with the state it found. Each
move appends its event to the case's timeline in the same transaction.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from mediation import timeline
from mediation.cases.models import Case
from mediation.errors import Conflict, Invalid, NotFound
from mediation.events import EventType
from mediation.extensions import db
from mediation.permissions import Action, can
from mediation.timeline import utcnow
from mediation.transactions import transactional
from mediation.users import User
from referrals import events, routing
from referrals.models import (
    REFERRAL_TRANSITIONS,
    DeclineReason,
    NeedState,
    Outcome,
    ProviderMember,
    Referral,
    ReferralStatus,
    RoutingNeed,
)


def is_member(user: User, provider_id: int) -> bool:
    return db.session.execute(
        sa.select(ProviderMember.user_id).where(ProviderMember.user_id == user.id,
                                                ProviderMember.provider_id == provider_id)
    ).first() is not None


def provider_ids_of(user: User) -> list[int]:
    return list(db.session.execute(
        sa.select(ProviderMember.provider_id).where(ProviderMember.user_id == user.id)).scalars())


def can_view_referral(user: User, referral: Referral) -> bool:
    """Its provider's members, and whoever may see the case except other providers."""
    if is_member(user, referral.provider_id):
        return True
    from mediation.users import PROVIDER_ROLES

    case = db.session.get(Case, referral.case_id)
    return user.role not in PROVIDER_ROLES and case is not None and can(user, Action.CASE_VIEW, case)


def get_referral(user: User, referral_id: int) -> Referral:
    referral = db.session.get(Referral, referral_id)
    if referral is None or not can_view_referral(user, referral):
        raise NotFound("referral")
    return referral


def _own_referral(user: User, referral_id: int) -> Referral:
    """A referral of one of the user's providers; anybody else's is a 404."""
    referral = db.session.get(Referral, referral_id)
    if referral is None or not is_member(user, referral.provider_id):
        raise NotFound("referral")
    return referral


def move(referral: Referral, to: ReferralStatus, **values: Any) -> ReferralStatus:
    """Move the referral along the state machine; 409 with the current state if illegal
    or if a concurrent move won. Returns the state it left."""
    current = ReferralStatus(referral.status)
    if to not in REFERRAL_TRANSITIONS[current]:
        raise Conflict(f"a referral that is {current} cannot be {to}", current_state=current.value)
    if to not in (ReferralStatus.OFFERED, ReferralStatus.ACCEPTED):
        values["live_key"] = None
    result = db.session.execute(
        sa.update(Referral).where(Referral.id == referral.id, Referral.status == current.value)
        .values(status=to.value, **values).execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        referral_id = referral.id
        db.session.rollback()
        fresh = db.session.execute(
            sa.select(Referral.status).where(Referral.id == referral_id)).scalar_one()
        raise Conflict(f"the referral is {fresh} now", current_state=fresh)
    db.session.refresh(referral)
    return current


def _need(referral: Referral) -> RoutingNeed:
    return db.session.get(RoutingNeed, referral.routing_need_id)


def _set_need_state(referral: Referral, state: NeedState) -> None:
    db.session.execute(
        sa.update(RoutingNeed).where(RoutingNeed.id == referral.routing_need_id)
        .values(state=state.value, updated_at=utcnow())
        .execution_options(synchronize_session=False))


def _event(referral: Referral, type_: EventType, actor: User | None, **data: Any) -> None:
    timeline.append(db.session, referral.case_id, type_, {
        "referral_id": referral.id, "need": referral.need, "provider_id": referral.provider_id,
        "audience": events.provider_users(referral.provider_id), **data}, actor.id if actor else None)


@transactional
def accept(actor: User, referral_id: int) -> Referral:
    """The provider takes the referral on."""
    referral = _own_referral(actor, referral_id)
    move(referral, ReferralStatus.ACCEPTED, responded_at=utcnow())
    _set_need_state(referral, NeedState.ACCEPTED)
    _event(referral, events.REFERRAL_ACCEPTED, actor)
    case = db.session.get(Case, referral.case_id)
    routing.clear_escalation(case, _need(referral), actor.id)
    return referral


@transactional
def decline(actor: User, referral_id: int, reason: str, note: str | None = None) -> Referral:
    """The provider turns the offer down with a reason; the need goes to the next candidate."""
    if reason not in DeclineReason._value2member_map_:
        raise Invalid({"reason": [f"one of {', '.join(r.value for r in DeclineReason)}"]})
    note = (note or "").strip() or None
    if reason == DeclineReason.OTHER and not note:
        raise Invalid({"note": ["say why when the reason is 'other'"]})
    referral = _own_referral(actor, referral_id)
    now = utcnow()
    move(referral, ReferralStatus.DECLINED, responded_at=now, closed_at=now,
         decline_reason=reason, decline_note=note)
    routing.release_capacity(referral.provider_id)
    _event(referral, events.REFERRAL_DECLINED, actor, reason=reason, note=note)
    case = db.session.get(Case, referral.case_id)
    routing.after_failed_offer(case, _need(referral), actor.id)
    return referral


@transactional
def complete(actor: User, referral_id: int, outcome: str, note: str | None = None) -> Referral:
    """The provider closes the referral with its outcome."""
    if outcome not in Outcome._value2member_map_:
        raise Invalid({"outcome": [f"one of {', '.join(o.value for o in Outcome)}"]})
    referral = _own_referral(actor, referral_id)
    move(referral, ReferralStatus.COMPLETED, closed_at=utcnow(), outcome=outcome,
         outcome_note=(note or "").strip() or None)
    routing.release_capacity(referral.provider_id)
    _set_need_state(referral, NeedState.COMPLETED)
    _event(referral, events.REFERRAL_COMPLETED, actor, outcome=outcome, note=referral.outcome_note)
    return referral


@transactional
def withdraw(actor: User, referral_id: int, reason: str, reroute: bool = False) -> Referral:
    """Take the referral back: the case's officer (an offer or an accepted referral), or
    the provider itself (an accepted referral it can no longer carry; the need is then
    offered to the next candidate). Anyone else: 404."""
    reason = (reason or "").strip()
    if not reason:
        raise Invalid({"reason": ["say why the referral is withdrawn"]})
    referral = db.session.get(Referral, referral_id)
    if referral is None:
        raise NotFound("referral")
    case = db.session.get(Case, referral.case_id)
    by_provider = is_member(actor, referral.provider_id)
    if not by_provider and not (case is not None and can(actor, Action.CASE_EDIT, case)):
        raise NotFound("referral")
    if by_provider and referral.status == ReferralStatus.OFFERED:
        raise Conflict("decline an offer rather than withdraw it", current_state=referral.status)
    was = move(referral, ReferralStatus.WITHDRAWN, closed_at=utcnow(), withdraw_reason=reason,
               withdrawn_by_id=actor.id)
    routing.release_capacity(referral.provider_id)
    _event(referral, events.REFERRAL_WITHDRAWN, actor, reason=reason, was=was.value,
           by="provider" if by_provider else "officer")
    row = _need(referral)
    if by_provider:
        routing.after_failed_offer(case, row, actor.id)
    elif reroute:
        _set_need_state(referral, NeedState.WAITING)
        db.session.refresh(row)
        routing.route(case, referral.need, actor, how="rerouted")
    else:
        _set_need_state(referral, NeedState.CANCELLED)
    return referral


@transactional
def request_referral(actor: User, case_id: int, need: str,
                     provider_id: int | None = None) -> Referral | None:
    """An officer offers a need of the case: to the best candidate, or to one provider."""
    from mediation.permissions import require_case

    case = require_case(actor, case_id, Action.CASE_EDIT)
    return routing.route(case, need, actor, provider_id,
                         how="chosen" if provider_id is not None else "routed")


@transactional
def confirm(actor: User, case_id: int) -> list[tuple[str, Referral | None]]:
    """The officer confirms routing of every need that has no live referral."""
    from mediation.permissions import require_case

    case = require_case(actor, case_id, Action.CASE_EDIT)
    return routing.confirm_routing(case, actor)
