"""The referrals API: directory, candidates, the referral lifecycle, what referrals produce."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask.views import MethodView
from flask_smorest import Blueprint

from mediation.api.auth import authenticated, current
from mediation.cases.models import Case
from mediation.errors import Conflict, Forbidden
from mediation.extensions import db
from mediation.permissions import Action, can, require_case, role_may, visible_cases_filter
from mediation.users import PROVIDER_ROLES
from referrals import continuity, directory, history, lifecycle, products, routing
from referrals import schemas as s
from referrals.models import LIVE, Provider, ProviderMember, Referral, RoutingNeed

blp = Blueprint("referrals", __name__, url_prefix="/api",
                description="Providers, routing and the referral lifecycle")



def referral_view(r: Referral) -> dict[str, Any]:
    p: Provider = r.provider
    return {
        "id": r.id, "case_id": r.case_id, "need": r.need, "status": r.status,
        "attempt": r.attempt, "provider": {"id": p.id, "name": p.name, "kind": p.kind},
        "offered_by_id": r.offered_by_id, "offered_at": r.offered_at, "respond_by": r.respond_by,
        "responded_at": r.responded_at, "closed_at": r.closed_at,
        "decline_reason": r.decline_reason, "decline_note": r.decline_note,
        "withdraw_reason": r.withdraw_reason, "outcome": r.outcome,
        "outcome_note": r.outcome_note, "reasons": r.reasons or {},
    }


# --- directory -------------------------------------------------------------------------------

@blp.route("/providers")
class Providers(MethodView):
    @authenticated
    @blp.arguments(s.ProviderListArgs, location="query")
    @blp.response(200, s.ProviderPage)
    def get(self, args):
        """The provider directory (staff see all; a provider's members see their own)."""
        items, total = directory.list_providers(current(), args)
        return {"items": [directory.provider_view(p) for p in items], "total": total,
                "page": args["page"], "page_size": args["page_size"]}

    @authenticated
    @blp.arguments(s.ProviderIn)
    @blp.response(201, s.ProviderOut)
    def post(self, data):
        """Add a provider (admins and supervisors)."""
        return directory.provider_view(directory.create_provider(current(), data))


@blp.route("/providers/<int:provider_id>")
class ProviderItem(MethodView):
    @authenticated
    @blp.response(200, s.ProviderOut)
    def get(self, provider_id):
        """One provider."""
        return directory.provider_view(directory.get_provider(current(), provider_id))

    @authenticated
    @blp.arguments(s.ProviderPatch)
    @blp.response(200, s.ProviderOut)
    def patch(self, data, provider_id):
        """Change a provider; its own members may change only their availability."""
        return directory.provider_view(directory.update_provider(current(), provider_id, data))


# --- routing ---------------------------------------------------------------------------------

def _staff_case(case_id: int, action: str = "view") -> Case:
    case = require_case(current(), case_id, action)
    if not can(current(), Action.ROUTING_VIEW, case):
        raise Forbidden("routing is for case officers and supervisors")
    return case


@blp.route("/providers/<int:provider_id>/record")
class ProviderRecord(MethodView):
    @authenticated
    @blp.response(200, s.ProviderRecordOut)
    def get(self, provider_id):
        """A provider's referrals with counts by status, outcome and month (admins,
        supervisors and the provider's own members)."""
        return history.provider_record(current(), provider_id)


@blp.route("/me/record")
class MyRecord(MethodView):
    @authenticated
    @blp.response(200, s.ProviderRecordOut)
    def get(self):
        """My providers' referrals, past and current, with counts by status, outcome and
        month — the basis of per-case subsidy claims."""
        if not can(current(), Action.REFERRALS_RESPOND):
            raise Forbidden("the record is a provider's")
        return history.my_record(current())


@blp.route("/cases/<int:case_id>/candidates")
class CaseCandidates(MethodView):
    @authenticated
    @blp.arguments(s.CandidatesArgs, location="query")
    @blp.response(200, s.CandidatesOut)
    def get(self, args, case_id):
        """The providers who may take a need of the case, ranked, each with its reasons."""
        case = _staff_case(case_id)
        found = routing.candidates(case, args["need"])
        return {
            "case_id": case.id, "need": found.need, "kinds": list(found.kinds),
            "candidates": [{"rank": c.reasons["rank"], **c.as_dict()} for c in found.ranked],
            "excluded": [{"provider_id": pid, "name": found.pool[pid].name,
                          "reasons": [{"code": w.code, "message": w.message} for w in why]}
                         for pid, why in sorted(found.excluded.items())],
        }


@blp.route("/cases/<int:case_id>/referrals")
class CaseReferrals(MethodView):
    @authenticated
    @blp.response(200, s.ReferralOut(many=True))
    def get(self, case_id):
        """The case's referrals (a provider sees its own only)."""
        user = current()
        case = require_case(user, case_id)
        query = sa.select(Referral).where(Referral.case_id == case.id)
        if user.role in PROVIDER_ROLES:
            query = query.where(Referral.provider_id.in_(lifecycle.provider_ids_of(user)))
        return [referral_view(r) for r in db.session.execute(query.order_by(Referral.id)).scalars()]

    @authenticated
    @blp.arguments(s.ReferralIn)
    @blp.response(201, s.ReferralOut)
    @blp.alt_response(409, description="Nobody is free: the need waits and the case is escalated")
    def post(self, data, case_id):
        """Offer a need of the case: routed to the best candidate, or to `provider_id`."""
        referral = lifecycle.request_referral(current(), case_id, data["need"],
                                              data.get("provider_id"))
        if referral is None:
            raise Conflict("no eligible provider is free: the need waits, is offered as soon as "
                           "capacity frees, and the case is escalated to its officer",
                           current_state=_need_state(case_id, data["need"]))
        return referral_view(referral)


def _need_state(case_id: int, need: str) -> dict[str, Any] | None:
    row = db.session.execute(sa.select(RoutingNeed).where(
        RoutingNeed.case_id == case_id, RoutingNeed.need == need)).scalar_one_or_none()
    return None if row is None else _routing_need_view(row)


def _routing_need_view(row: RoutingNeed) -> dict[str, Any]:
    live = db.session.execute(sa.select(Referral.id).where(
        Referral.routing_need_id == row.id, Referral.status.in_(LIVE))).scalar_one_or_none()
    return {"need": row.need, "state": row.state, "failed_offers": row.failed_offers,
            "waiting_since": row.waiting_since, "escalated_at": row.escalated_at,
            "live_referral_id": live}


def _routing_view(case: Case) -> dict[str, Any]:
    from mediation.cases.rules import effective_needs

    rows = {r.need: r for r in db.session.execute(
        sa.select(RoutingNeed).where(RoutingNeed.case_id == case.id)).scalars()}
    needs = []
    for need in dict.fromkeys([*effective_needs(case), *rows]):
        row = rows.get(need)
        needs.append(_routing_need_view(row) if row else {
            "need": need, "state": "unrouted", "failed_offers": 0, "waiting_since": None,
            "escalated_at": None, "live_referral_id": None})
    return {"case_id": case.id, "mode": routing.routing_mode(), "needs": needs}


@blp.route("/cases/<int:case_id>/routing")
class CaseRouting(MethodView):
    @authenticated
    @blp.response(200, s.RoutingOut)
    def get(self, case_id):
        """Where routing stands for each need of the case."""
        return _routing_view(_staff_case(case_id))

    @authenticated
    @blp.response(200, s.RoutingOut)
    def post(self, case_id):
        """Confirm routing: offer every need of the case that has no live referral."""
        lifecycle.confirm(current(), case_id)
        return _routing_view(require_case(current(), case_id))


# --- referrals -------------------------------------------------------------------------------

@blp.route("/referrals")
class Referrals(MethodView):
    @authenticated
    @blp.arguments(s.ReferralListArgs, location="query")
    @blp.response(200, s.ReferralPage)
    def get(self, args):
        """Referrals: `mine=1` for your providers' inbox; staff see those of their cases."""
        user = current()
        query = sa.select(Referral)
        own = Referral.provider_id.in_(
            sa.select(ProviderMember.provider_id).where(ProviderMember.user_id == user.id))
        if args["mine"] or user.role in PROVIDER_ROLES:
            query = query.where(own)
        elif role_may(user, Action.ROUTING_VIEW):
            query = query.join(Case, Case.id == Referral.case_id).where(visible_cases_filter(user))
        else:
            query = query.where(sa.false())
        for name in ("status", "need", "case_id"):
            if name in args:
                query = query.where(getattr(Referral, name) == args[name])
        total = db.session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
        page, size = args["page"], args["page_size"]
        rows = db.session.execute(query.order_by(Referral.id.desc()).offset((page - 1) * size)
                                  .limit(size)).scalars()
        return {"items": [referral_view(r) for r in rows], "total": total, "page": page,
                "page_size": size}


@blp.route("/referrals/<int:referral_id>")
class ReferralItem(MethodView):
    @authenticated
    @blp.response(200, s.ReferralOut)
    def get(self, referral_id):
        """One referral (its provider's members and the case's staff)."""
        return referral_view(lifecycle.get_referral(current(), referral_id))


@blp.route("/referrals/<int:referral_id>/record")
class ReferralRecord(MethodView):
    @authenticated
    @blp.response(200, s.ReferralRecordOut)
    def get(self, referral_id):
        """What the referral's provider keeps of the case: its timeline up to completion
        and what they authored, for `MEDIATION_PROVIDER_RECORD_DAYS` after completion
        (404 afterwards, and to anyone but the provider's members)."""
        return continuity.record(current(), referral_id)


@blp.route("/referrals/<int:referral_id>/accept")
class ReferralAccept(MethodView):
    @authenticated
    @blp.response(200, s.ReferralOut)
    def post(self, referral_id):
        """Accept an offer (409 with the current state if it is no longer open)."""
        return referral_view(lifecycle.accept(current(), referral_id))


@blp.route("/referrals/<int:referral_id>/decline")
class ReferralDecline(MethodView):
    @authenticated
    @blp.arguments(s.DeclineIn)
    @blp.response(200, s.ReferralOut)
    def post(self, data, referral_id):
        """Decline an offer with a reason (a note for 'other'); the need goes on."""
        return referral_view(lifecycle.decline(current(), referral_id, data["reason"],
                                               data.get("note")))


@blp.route("/referrals/<int:referral_id>/withdraw")
class ReferralWithdraw(MethodView):
    @authenticated
    @blp.arguments(s.WithdrawIn)
    @blp.response(200, s.ReferralOut)
    def post(self, data, referral_id):
        """Withdraw a referral: the officer, or the provider from an accepted one."""
        return referral_view(lifecycle.withdraw(current(), referral_id, data["reason"],
                                                data["reroute"]))


@blp.route("/referrals/<int:referral_id>/complete")
class ReferralComplete(MethodView):
    @authenticated
    @blp.arguments(s.CompleteIn)
    @blp.response(200, s.ReferralOut)
    def post(self, data, referral_id):
        """Close an accepted referral with its outcome."""
        return referral_view(lifecycle.complete(current(), referral_id, data["outcome"],
                                                data.get("note")))


# --- what referrals produce --------------------------------------------------------------------

def _opinion_view(o) -> dict[str, Any]:
    return {"id": o.id, "case_id": o.case_id, "referral_id": o.referral_id,
            "provider_id": o.provider_id, "author_id": o.author_id, "summary": o.summary,
            "legal_basis": o.legal_basis, "recommendation": o.recommendation,
            "created_at": o.created_at}


def _support_view(r) -> dict[str, Any]:
    return {"id": r.id, "case_id": r.case_id, "referral_id": r.referral_id,
            "provider_id": r.provider_id, "author_id": r.author_id, "kind": r.kind,
            "given_on": r.given_on, "description": r.description, "created_at": r.created_at}


@blp.route("/cases/<int:case_id>/opinions")
class CaseOpinions(MethodView):
    @authenticated
    @blp.response(200, s.OpinionOut(many=True))
    def get(self, case_id):
        """The case's legal opinions."""
        return [_opinion_view(o) for o in products.opinions(current(), case_id)]

    @authenticated
    @blp.arguments(s.OpinionIn)
    @blp.response(201, s.OpinionOut)
    def post(self, data, case_id):
        """Post a legal opinion (a lawyer with an accepted referral on the case)."""
        return _opinion_view(products.post_opinion(current(), case_id, data))


@blp.route("/cases/<int:case_id>/counselling-notes")
class CaseCounselling(MethodView):
    @authenticated
    @blp.response(200, s.CounsellingOut(many=True))
    def get(self, case_id):
        """Counselling sessions: date and risk level; the content for its author only."""
        user = current()
        return [products.counselling_view(n, user)
                for n in products.counselling_notes(user, case_id)]

    @authenticated
    @blp.arguments(s.CounsellingIn)
    @blp.response(201, s.CounsellingOut)
    def post(self, data, case_id):
        """Record a counselling session (a counsellor with an accepted referral)."""
        return products.counselling_view(products.record_counselling(current(), case_id, data),
                                         current())


@blp.route("/counselling-notes/<int:note_id>")
class CounsellingItem(MethodView):
    @authenticated
    @blp.response(200, s.CounsellingOut)
    def get(self, note_id):
        """One counselling note; the content for its author only."""
        return products.counselling_view(products.counselling_note(current(), note_id), current())


@blp.route("/cases/<int:case_id>/support-records")
class CaseSupport(MethodView):
    @authenticated
    @blp.response(200, s.SupportOut(many=True))
    def get(self, case_id):
        """Support given by mass organisations."""
        return [_support_view(r) for r in products.support_records(current(), case_id)]

    @authenticated
    @blp.arguments(s.SupportIn)
    @blp.response(201, s.SupportOut)
    def post(self, data, case_id):
        """Record support given (a mass organisation with an accepted referral)."""
        return _support_view(products.record_support(current(), case_id, data))

