"""What referrals adds to the case page and the officer's board (see `mediation/pages.py`):

- "转介与协同" (case_referrals): where routing stands for each need, the referrals with their
  countdowns, and — for case staff — the ranked candidates of each need with the reasons of
  their rank, one click to offer a need to the best candidate or to a chosen one, to confirm
  routing of every need, or to withdraw a live referral (with a reason);
- "法律意见" (case_opinions): the lawyers' opinions on the case;
- a board column with each case's referrals and the countdown of every open offer.

The actions post to this blueprint and call the same commands as the API; their refusals
(409 when nobody is free or the referral has moved on, 422 for a missing reason) come back
as a message at the top of the case page.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from mediation import labels, web
from mediation.cases.board_pages import BoardFilter, register_board_filter
from mediation.cases.models import Case
from mediation.errors import Conflict
from mediation.extensions import db
from mediation.pages import (
    BoardColumn,
    BoardPanel,
    Section,
    register_board_column,
    register_board_panel,
    register_case_section,
    user_names,
)
from mediation.permissions import Action, can, role_may, visible_cases_filter
from mediation.pii import mask_phone
from mediation.timeline import iso
from mediation.users import PROVIDER_ROLES, User
from referrals import lifecycle, products, routing
from referrals.api import _routing_view
from referrals.models import Provider, Referral, RoutingNeed
from referrals.pages import reason_lines
from referrals.schemas import ReferralIn, WithdrawIn

bp = web.page_blueprint("routing_pages", __name__)

CANDIDATES_SHOWN = 5
# The words for referral statuses, need states, provider kinds, decline reasons and mediation
# types are registered once, in referrals/pages.py (the providers' pages).

def referral_row(r: Referral, provider: Provider | None) -> dict[str, Any]:
    return {"id": r.id, "need": r.need, "status": r.status, "provider": provider.name if provider else "",
            "kind": provider.kind if provider else "", "offered_at": iso(r.offered_at),
            "respond_by": iso(r.respond_by), "decline_reason": r.decline_reason,
            "decline_note": r.decline_note, "outcome": r.outcome, "attempt": r.attempt}


def _referrals(case_ids: list[int], user: User) -> dict[int, list[dict[str, Any]]]:
    """The referrals of these cases, oldest first (a provider sees only its own)."""
    if not case_ids:
        return {}
    query = (sa.select(Referral, Provider).join(Provider, Provider.id == Referral.provider_id)
             .where(Referral.case_id.in_(case_ids)).order_by(Referral.id))
    if user.role in PROVIDER_ROLES:
        query = query.where(Referral.provider_id.in_(lifecycle.provider_ids_of(user)))
    found: dict[int, list[dict[str, Any]]] = {}
    for r, p in db.session.execute(query):
        found.setdefault(r.case_id, []).append(referral_row(r, p))
    return found


def _candidates(case: Case, need: str) -> list[dict[str, Any]]:
    ranked = routing.candidates(case, need).ranked[:CANDIDATES_SHOWN]
    return [{"rank": c.reasons["rank"], **c.as_dict()} for c in ranked]


def _referrals_section(user: User, case: Case) -> dict[str, Any] | None:
    staff = role_may(user, Action.ROUTING_VIEW)
    rows = _referrals([case.id], user).get(case.id, [])
    if not staff and not rows:
        return None
    section: dict[str, Any] = {"referrals": rows, "staff": staff, "needs": [], "mode": None}
    if staff:
        view = _routing_view(case)
        section["mode"] = view["mode"]
        live_needs = {r["need"] for r in rows if r["status"] in ("offered", "accepted")}
        for need in view["needs"]:
            need["candidates"] = [] if need["need"] in live_needs else _candidates(case, need["need"])
            section["needs"].append(need)
    return section


def _opinions_section(user: User, case: Case) -> dict[str, Any] | None:
    found = products.opinions(user, case.id)
    is_lawyer = user.role == "lawyer"
    if not found and not is_lawyer and not role_may(user, Action.ROUTING_VIEW):
        return None
    return {"opinions": found, "authors": user_names({o.author_id for o in found}), "lawyer": is_lawyer}


def _board_referrals(user: User, case_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Per case, the latest referral of each need (an expired offer followed by a new one
    shows the new one), and the needs waiting for a free provider (无人可接) or sent back
    to the officer after failed offers (已退回) — not the same as a provider's refusal."""
    found = {case_id: list({r["need"]: r for r in rows}.values())
             for case_id, rows in _referrals(case_ids, user).items()}
    if case_ids and role_may(user, Action.ROUTING_VIEW):
        for need in db.session.execute(sa.select(RoutingNeed).where(
                RoutingNeed.case_id.in_(case_ids), RoutingNeed.state.in_(TRIAGE_STATES))
                .order_by(RoutingNeed.id)).scalars():
            found.setdefault(need.case_id, []).append(
                {"need": need.need, "state": need.state, "status": None,
                 "since": iso(need.waiting_since if need.state == "waiting" else need.escalated_at)})
    return found


# The board's 转介 filter (triage): needs as the officer must see them.
TRIAGE_STATES = ("waiting", "escalated")
TRIAGE = {
    "escalated": _l("已退回办案人员（多次无人接受）"),
    "waiting": _l("无人可接（等待空闲人员）"),
    "declined": _l("有服务方拒绝"),
    "offered": _l("待服务方答复"),
}


def _triage_where(value: str) -> Any:
    """SQL on `Case`: the case has a need in this triage state."""
    if value in ("escalated", "waiting", "offered"):
        return sa.exists(sa.select(RoutingNeed.id).where(
            RoutingNeed.case_id == Case.id, RoutingNeed.state == value))
    # Declined: a provider refused and the need is still not taken (not 无人可接 by itself).
    return sa.exists(sa.select(Referral.id).join(RoutingNeed, RoutingNeed.id == Referral.routing_need_id)
                     .where(Referral.case_id == Case.id, Referral.status == "declined",
                            RoutingNeed.state.not_in(("accepted", "completed", "cancelled"))))


def _triage_panel(user: User) -> dict[str, Any] | None:
    """Beside the board: how many of the user's cases need the officer's decision on routing."""
    if not role_may(user, Action.ROUTING_VIEW):
        return None
    counts = {}
    for state in TRIAGE_STATES:
        counts[state] = db.session.execute(sa.select(sa.func.count(sa.distinct(RoutingNeed.case_id)))
                                           .join(Case, Case.id == RoutingNeed.case_id)
                                           .where(RoutingNeed.state == state, visible_cases_filter(user))
                                           ).scalar_one()
    return {"counts": counts, "words": TRIAGE}


def _care_section(user: User, case: Case) -> dict[str, Any] | None:
    """For officials: the counsellor's risk level of each session (never the note's content)
    and the support the mass organisations recorded."""
    if not role_may(user, Action.CASE_INTERNAL):
        return None
    notes = products.counselling_notes(user, case.id)
    support = products.support_records(user, case.id)
    if not notes and not support:
        return None
    providers = {p.id: p.name for p in db.session.execute(sa.select(Provider).where(
        Provider.id.in_({n.provider_id for n in notes} | {r.provider_id for r in support}))).scalars()}
    return {"notes": [{"on": n.session_on, "risk": n.risk_level, "provider": providers.get(n.provider_id, "")}
                      for n in reversed(notes)],
            "latest_risk": notes[-1].risk_level if notes else None,
            "support": [{"on": r.given_on, "kind": r.kind, "provider": providers.get(r.provider_id, ""),
                         "description": r.description} for r in reversed(support)]}


def _back(case_id: int):
    return redirect(url_for("pages.case_page", case_id=case_id) + "#h-case_referrals")


@bp.post("/cases/<int:case_id>/routing")
@login_required
def confirm(case_id: int):
    """Offer every need of the case that has no live referral to its best candidate."""
    outcome = web.attempt(lifecycle.confirm, current_user, case_id)
    if outcome.ok:
        waiting = [labels.label(need, "need") for need, referral in outcome.value if referral is None]
        web.report(outcome, _("已转介") if not waiting else _(
            "已转介；以下需求暂无空闲人员，已排队并提示办案人员：%(needs)s", needs="、".join(waiting)))
    else:
        web.report(outcome)
    return _back(case_id)


@bp.post("/cases/<int:case_id>/referrals")
@login_required
def offer(case_id: int):
    """Offer one need: to the best candidate, or to the provider picked from the list."""
    def run() -> Referral:
        data = ReferralIn().load(web.form_data(ReferralIn()))
        referral = lifecycle.request_referral(current_user, case_id, data["need"], data.get("provider_id"))
        if referral is None:
            raise Conflict(_("暂无空闲人员：需求已排队，一有空闲即发出邀请"), current_state="waiting")
        return referral

    web.report(web.attempt(run), _("转介邀请已发出"))
    return _back(case_id)


@bp.post("/referrals/<int:referral_id>/withdraw")
@login_required
def withdraw(referral_id: int):
    """Withdraw a live referral with a reason; optionally offer the need to the next candidate."""
    referral = lifecycle.get_referral(current_user, referral_id)
    outcome = web.submit(WithdrawIn(), lambda data: lifecycle.withdraw(
        current_user, referral_id, data["reason"], data["reroute"]))
    rerouted = outcome.ok and bool(request.form.get("reroute") not in (None, "", "0"))
    # Say what happened to the need too: withdrawing without rerouting cancels it.
    web.report(outcome, _("转介已撤回；这项需求已改派下一位候选人（暂无空闲人员时排队等候）") if rerouted
               else _("转介已撤回；这项需求已取消，如仍需要请重新发起转介"))
    return _back(referral.case_id)


def _contact_section(user: User, case: Case) -> dict[str, Any] | None:
    """For a provider working the case: each petitioner's phone, revealed with a reason."""
    if not can(user, Action.CASE_CONTACT_PETITIONER, case) or can(user, Action.CASE_REVEAL_PII, case):
        return None
    return {"petitioners": [{"id": p.id, "name": p.name, "phone": mask_phone(p.phone_tail)}
                            for p in case.petitioners if p.phone_tail]}


def init_app(app: Any) -> None:
    app.register_blueprint(bp)
    register_case_section(app, Section("case_referrals", _l("转介与协同"), _referrals_section,
                                       "referral.,routing.,case.", 50, wide=True))
    register_case_section(app, Section("case_contact", _l("联系当事人"), _contact_section, "pii.", 48))
    register_case_section(app, Section("case_opinions", _l("法律意见"), _opinions_section, "opinion.", 60))
    register_board_column(app, BoardColumn("board_referrals", _l("转介"), _board_referrals,
                                           "referral.,routing."))
    register_board_panel(app, BoardPanel("board_triage", _l("转介待决定"), _triage_panel,
                                         "referral.,routing."))
    register_board_filter(app, BoardFilter("triage", _l("转介情况"), lambda: [
        (k, str(v)) for k, v in TRIAGE.items()], _triage_where))
    register_case_section(app, Section("case_care", _l("心理疏导与群团帮扶"), _care_section,
                                       "counselling.,support.", 58))
    app.add_template_global(reason_lines, "reason_lines")  # why a candidate ranks where it does

