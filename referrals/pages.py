"""The providers' pages: the inbox of offers with "my active cases", and the forms
of what a referral produces — the lawyer's legal opinion, the counsellor's confidential
notes, the mass organisation's support records.

Every action runs through the API's own schema and command (`referrals.lifecycle`,
`referrals.products`), so the rules live in one place: a race lost to another click or to
the sweep is the command's 409, shown with the referral's current state; a refused form is
the command's 422, shown beside its field. Pages a role has no business with are 404s, like
a case the user cannot see.

The inbox is live: its offers and active cases are server-rendered parts
(`templates/referrals/parts/inbox_offers.html`, `inbox_active.html`) that pages.js fetches again when a
`referral.*` event reaches the page — offers, expiries and withdrawals arrive in the user's
own `user:<id>` room without any subscription; the page also follows the cases it shows,
so an acceptance or completion by a colleague of the same provider appears too.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from mediation import clock, labels, web
from mediation.cases.models import Case
from mediation.clock import today
from mediation.errors import Forbidden, NotFound
from mediation.extensions import db
from mediation.permissions import Action, can, require_case, roles_for
from mediation.timeline import iso
from mediation.users import User
from referrals import continuity, history, lifecycle, products
from referrals import schemas as s
from referrals.models import (
    CounsellingNote,
    LegalOpinion,
    Provider,
    ProviderKind,
    Referral,
    ReferralStatus,
    SupportRecord,
)

bp = web.page_blueprint("provider_pages", __name__)

# Which form a referral of each provider kind leads to, and who may fill it.
LAWYER_KINDS: tuple[str, ...] = (ProviderKind.LAWYER.value,)
COUNSELLOR_KINDS: tuple[str, ...] = (ProviderKind.COUNSELLOR.value,)
MASS_ORG_KINDS: tuple[str, ...] = tuple(k.value for k in products.MASS_ORG_KINDS)
LEGAL_BASIS_ROWS = 3

# What the commands say in English, in the pages' languages.
_COMMAND_MESSAGES = {
    "say why when the reason is 'other'": _l("选择“其他”时请写明原因"),
}


# --- labels ------------------------------------------------------------------------------------

# The same words as the case page's referrals section (`referrals/case_sections.py`) where
# the groups overlap, so that a code reads the same on every page whichever registers last.
LABELS: dict[str, dict[str, Any]] = {
    "decline_reason": {
        "capacity": _l("案件已满"), "conflict_of_interest": _l("存在利害关系"),
        "outside_expertise": _l("超出专业范围"), "outside_region": _l("不在服务区域"),
        "unavailable": _l("暂时无法承接"), "other": _l("其他原因"),
    },
    "referral_status": {
        "offered": _l("待答复"), "accepted": _l("已接受"), "declined": _l("已拒绝"),
        "expired": _l("已超时"), "withdrawn": _l("已撤回"), "completed": _l("已完成"),
    },
    "provider_kind": {
        "mediator": _l("调解员"), "lawyer": _l("律师"), "counsellor": _l("心理咨询师"),
        "trade_union": _l("工会"), "womens_federation": _l("妇联"),
        "disabled_persons_federation": _l("残联"), "deputy": _l("人大代表"),
        "cppcc_member": _l("政协委员"), "worthy": _l("乡贤"),
    },
    "need_state": {
        "unrouted": _l("未转介"), "waiting": _l("等待空闲人员"), "offered": _l("已发出邀请"),
        "accepted": _l("已接受"), "completed": _l("已完成"), "escalated": _l("已退回办案人员"),
        "cancelled": _l("已取消"),
    },
    "support_kind": {
        "legal_aid": _l("法律援助"), "financial_assistance": _l("困难帮扶"),
        "employment": _l("就业帮扶"), "rehabilitation": _l("康复服务"), "care": _l("关爱服务"),
        "advocacy": _l("维权服务"), "other": _l("其他"),
    },
    "referral_outcome": {
        "agreement_reached": _l("达成调解协议"), "resolved": _l("已化解"),
        "partially_resolved": _l("部分化解"), "not_resolved": _l("未能化解"),
        "service_given": _l("已提供服务"),
    },
    "risk_level": {"low": _l("低风险"), "medium": _l("中风险"), "high": _l("高风险")},
    "mediation_type": {
        "people": _l("人民调解"), "administrative": _l("行政调解"), "industry": _l("行业调解"),
        "professional": _l("专业调解"),
    },
}


def init_app(app: Flask) -> None:
    """Register the pages and their links in the top bar."""
    app.register_blueprint(bp)
    labels.register_groups(app, LABELS)
    web.add_nav(app, "provider_pages.inbox", _l("待办邀请"), roles_for(Action.REFERRALS_RESPOND, app), 20)
    web.add_nav(app, "provider_pages.my_record", _l("我的办案记录"),
                roles_for(Action.REFERRALS_RESPOND, app), 21)


# --- helpers -----------------------------------------------------------------------------------

def _me() -> User:
    return current_user._get_current_object()


def _provider_user() -> User:
    """The signed-in user if they act for providers; anyone else is told there is no page."""
    user = _me()
    if not can(user, Action.REFERRALS_RESPOND):
        raise NotFound("page")
    return user


def _localise(outcome: web.Outcome) -> web.Outcome:
    """The commands' English messages in the page's language."""
    for name, msgs in outcome.errors.items():
        outcome.errors[name] = [str(_COMMAND_MESSAGES.get(m, m)) for m in msgs]
    return outcome


def _refused(outcome: web.Outcome, what: str) -> web.Outcome:
    """A 409 in words: what could not be done, and the referral's state now."""
    if outcome.status == 409:
        outcome.message = what
        if outcome.current_state:
            outcome.current_state = labels.label(outcome.current_state, "referral_status")
    elif outcome.status == 403:
        outcome.message = _("您无权进行此操作")
    return outcome


china_time = web.china_time  # a moment as Beijing time, to the minute


def reason_lines(reasons: dict[str, Any] | None) -> list[str]:
    """Why the router chose this provider, as short sentences (from the stored reasons)."""
    if not reasons:
        return []
    lines: list[str] = []
    if reasons.get("rank"):
        lines.append(_("候选排名第 %(n)s 位", n=reasons["rank"]))
    region = reasons.get("region") or {}
    if region:
        distance = region.get("distance") or 0
        where = {0: _("本级"), 1: _("上一级"), 2: _("上两级")}.get(distance, _("上级"))
        lines.append(_("服务区域：%(where)s（%(code)s）", where=where, code=region.get("served", "—")))
    matched = (reasons.get("speciality") or {}).get("matched") or []
    if matched:
        lines.append(_("专长匹配：%(fields)s", fields="、".join(labels.label(f, "livelihood")
                                                              for f in matched)))
    mtype = reasons.get("mediation_type") or {}
    if mtype.get("type"):
        words = labels.label(mtype["type"], "mediation_type")
        if mtype.get("place"):
            lines.append(_("调解类型：%(type)s（本案优先第 %(n)s 位）", type=words, n=mtype["place"]))
        else:
            lines.append(_("调解类型：%(type)s", type=words))
    load = reasons.get("load") or {}
    if "capacity" in load:
        lines.append(_("承接量：%(load)s / %(capacity)s", load=load.get("load", 0),
                       capacity=load["capacity"]))
    acceptance = reasons.get("acceptance") or {}
    if "rate" in acceptance:
        if acceptance.get("decided"):
            lines.append(_("近期接受率：%(rate)s%%", rate=round(float(acceptance["rate"]) * 100)))
        else:
            lines.append(_("近期无邀请记录"))
    idle = (reasons.get("idle") or {})
    if "hours_since_last_offer" in idle:
        hours = idle["hours_since_last_offer"]
        lines.append(_("此前未收到过邀请") if hours is None
                     else _("距上次邀请 %(h)s 小时", h=round(float(hours))))
    return lines


def product_link(kind: str, case_id: int) -> tuple[str, str] | None:
    """The form a referral of this provider kind produces: (url, words), or None."""
    if kind in LAWYER_KINDS:
        return url_for("provider_pages.opinion", case_id=case_id), _("出具法律意见")
    if kind in COUNSELLOR_KINDS:
        return url_for("provider_pages.counselling", case_id=case_id), _("心理疏导记录")
    if kind in MASS_ORG_KINDS:
        return url_for("provider_pages.support", case_id=case_id), _("帮扶记录")
    return None


# The week's days as the offer card names a deadline's day (Monday first, as `weekday()`).
WEEKDAYS = (_l("周一"), _l("周二"), _l("周三"), _l("周四"), _l("周五"), _l("周六"), _l("周日"))


def mask_name(name: str) -> str:
    """A party's name as the offer card shows it: the first character, the rest starred
    (张三 -> 张*, 欧阳娜娜 -> 欧***) — enough to recognise a conflict of interest with someone
    one knows, no more before the provider has taken the case."""
    name = (name or "").strip()
    return name[:1] + "*" * max(len(name) - 1, 1) if name else "—"


def deadline_words(moment: dt.datetime | None) -> str:
    """A deadline as the provider's local day and time: "2026-11-30 周一 18:00"."""
    if moment is None:
        return "—"
    local = clock.local(moment)
    return f"{local:%Y-%m-%d} {WEEKDAYS[local.weekday()]} {local:%H:%M}"


def _offer_facts(case: Case) -> dict[str, Any]:
    """What an offer card tells about the case before the provider decides (see
    `templates/referrals/parts/inbox_offers.html`): the summary, the focal conflict, the
    parties masked, the respondent units, and the case page to check for conflicts — which
    an offered provider may open (a live referral shows its case, `live_referrals_of`) and
    which answers 404 again once the offer is declined, expires or is withdrawn."""
    return {"summary": case.summary or "", "focal_conflict": case.focal_conflict or "",
            "parties": [mask_name(p.name) for p in case.petitioners],
            "respondents": list(case.departments or []),
            "url": url_for("pages.case_page", case_id=case.id)}


def _referral_view(r: Referral, case: Case, provider: Provider) -> dict[str, Any]:
    return {
        "id": r.id, "status": r.status, "need": r.need, "attempt": r.attempt,
        "case": {"id": case.id, "reference": case.reference, "title": case.title,
                 "region_code": case.region_code, "status": case.status},
        "provider": {"id": provider.id, "name": provider.name, "kind": provider.kind},
        "offered_at": china_time(r.offered_at), "respond_by": iso(r.respond_by),
        "respond_by_text": china_time(r.respond_by), "responded_at": china_time(r.responded_at),
        "respond_by_day": deadline_words(r.respond_by),
        "facts": _offer_facts(case) if r.status == ReferralStatus.OFFERED else None,
        "reasons": reason_lines(r.reasons), "form": product_link(provider.kind, case.id),
    }


def inbox_context(user: User, form: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the inbox and its live parts show: the offers to the user's providers, soonest
    deadline first, and the referrals they have accepted."""
    provider_ids = lifecycle.provider_ids_of(user)
    rows = db.session.execute(
        sa.select(Referral, Case, Provider)
        .join(Case, Case.id == Referral.case_id)
        .join(Provider, Provider.id == Referral.provider_id)
        .where(Referral.provider_id.in_(provider_ids),
               Referral.status.in_((ReferralStatus.OFFERED.value, ReferralStatus.ACCEPTED.value)))
        .order_by(Referral.respond_by, Referral.id)
    ).all()
    offers = [_referral_view(r, c, p) for r, c, p in rows if r.status == ReferralStatus.OFFERED]
    active = [_referral_view(r, c, p) for r, c, p in rows if r.status == ReferralStatus.ACCEPTED]
    cases = {c.id: c.last_seq for _r, c, _p in rows}
    providers = db.session.execute(
        sa.select(Provider).where(Provider.id.in_(provider_ids)).order_by(Provider.id)).scalars().all()
    return {
        "offers": offers, "active": active, "providers": providers,
        "live_cases": ",".join(str(c) for c in cases),
        "live_cursors": ",".join(f"{c}:{seq}" for c, seq in cases.items()),
        "decline_reasons": labels.choices("decline_reason"),
        "outcomes": labels.choices("referral_outcome"),
        "form": form or {},
    }


# --- the inbox ---------------------------------------------------------------------------------

@bp.route("/inbox", methods=["GET", "POST"])
@login_required
def inbox():
    """Offers to the user's providers (accept / decline) and their active referrals (complete)."""
    user = _provider_user()
    if request.method == "GET":
        return web.render_page("referrals/inbox.html", **inbox_context(user))
    action = request.form.get("action", "")
    try:
        referral_id = int(request.form.get("referral_id", ""))
    except ValueError as exc:
        raise NotFound("referral") from exc
    if action == "accept":
        outcome = web.attempt(lifecycle.accept, user, referral_id)
        outcome = _refused(outcome, _("该邀请已无法接受"))
        success = _("已接受邀请，案件已列入“我承办的案件”")
    elif action == "decline":
        outcome = web.submit(s.DeclineIn(), lambda data: lifecycle.decline(
            user, referral_id, data["reason"], data.get("note")))
        outcome = _refused(_localise(outcome), _("该邀请已无法拒绝"))
        success = _("已拒绝邀请")
    elif action == "complete":
        outcome = web.submit(s.CompleteIn(), lambda data: lifecycle.complete(
            user, referral_id, data["outcome"], data.get("note")))
        outcome = _refused(_localise(outcome), _("该转介已无法办结"))
        success = _("已办结")
    else:
        raise NotFound("action")
    if outcome.ok:
        web.report(outcome, success)
        return redirect(url_for("provider_pages.inbox"))
    form = {"action": action, "referral_id": referral_id, "outcome": outcome, "values": request.form}
    return web.render_page("referrals/inbox.html", status=outcome.status, **inbox_context(user, form))


# --- what a referral produces --------------------------------------------------------------------

def _accepted_on(user: User, case_id: int, kinds: tuple[str, ...], what: str) -> tuple[Case, Referral]:
    """The case and the user's accepted referral on it from a provider of these kinds — the
    API's rule (`products`). Without one, the page does not exist for them (404)."""
    if not can(user, Action.REFERRALS_RESPOND):
        raise NotFound("case")
    case = require_case(user, case_id)
    try:
        referral = products._accepted_referral(user, case.id, kinds, what)
    except Forbidden as exc:
        raise NotFound("case") from exc
    return case, referral


def _case_head(case: Case) -> dict[str, Any]:
    return {"id": case.id, "reference": case.reference, "title": case.title,
            "region_code": case.region_code, "status": case.status}


def _product_page(template: str, case: Case, referral: Referral, status: int = 200,
                  **context: Any):
    return web.render_page(template, status=status, case=_case_head(case),
                           referral={"id": referral.id, "need": referral.need},
                           today=today().isoformat(), **context)


def _after_post(outcome: web.Outcome, success: str, endpoint: str, case_id: int) -> Any:
    if outcome.ok:
        web.report(outcome, success)
        return redirect(url_for(endpoint, case_id=case_id))
    return None


@bp.route("/cases/<int:case_id>/opinion", methods=["GET", "POST"])
@login_required
def opinion(case_id: int):
    """A lawyer's legal opinion on a case they hold an accepted referral on, and their earlier ones."""
    user = _me()
    case, referral = _accepted_on(user, case_id, LAWYER_KINDS, "lawyer")
    outcome = None
    if request.method == "POST":
        outcome = _localise(web.submit(s.OpinionIn(), products.post_opinion, user, case.id))
        done = _after_post(_refused(outcome, _("无法提交法律意见")), _("法律意见已提交"),
                           "provider_pages.opinion", case.id)
        if done is not None:
            return done
    earlier = db.session.execute(
        sa.select(LegalOpinion).where(LegalOpinion.case_id == case.id, LegalOpinion.author_id == user.id)
        .order_by(LegalOpinion.id.desc())).scalars().all()
    return _product_page("referrals/opinion.html", case, referral, status=outcome.status if outcome else 200,
                         outcome=outcome, values=request.form if outcome else {},
                         errors=outcome.errors if outcome else {}, opinions=earlier,
                         rows=range(LEGAL_BASIS_ROWS), china_time=china_time)


@bp.route("/cases/<int:case_id>/counselling", methods=["GET", "POST"])
@login_required
def counselling(case_id: int):
    """A counsellor's sessions on the case; each note's content is shown to its author only."""
    user = _me()
    case, referral = _accepted_on(user, case_id, COUNSELLOR_KINDS, "counsellor")
    outcome = None
    if request.method == "POST":
        outcome = _localise(web.submit(s.CounsellingIn(), products.record_counselling, user, case.id))
        done = _after_post(_refused(outcome, _("无法保存心理疏导记录")), _("心理疏导记录已保存"),
                           "provider_pages.counselling", case.id)
        if done is not None:
            return done
    notes: list[CounsellingNote] = products.counselling_notes(user, case.id)
    return _product_page("referrals/counselling.html", case, referral,
                         status=outcome.status if outcome else 200, outcome=outcome,
                         values=request.form if outcome else {},
                         errors=outcome.errors if outcome else {},
                         notes=[products.counselling_view(n, user) for n in reversed(notes)],
                         risk_levels=labels.choices("risk_level"), china_time=china_time)


@bp.route("/cases/<int:case_id>/support", methods=["GET", "POST"])
@login_required
def support(case_id: int):
    """A mass organisation's support records on the case."""
    user = _me()
    case, referral = _accepted_on(user, case_id, MASS_ORG_KINDS, "mass organisation")
    outcome = None
    if request.method == "POST":
        outcome = _localise(web.submit(s.SupportIn(), products.record_support, user, case.id))
        done = _after_post(_refused(outcome, _("无法保存帮扶记录")), _("帮扶记录已保存"),
                           "provider_pages.support", case.id)
        if done is not None:
            return done
    records: list[SupportRecord] = products.support_records(user, case.id)
    return _product_page("referrals/support.html", case, referral, status=outcome.status if outcome else 200,
                         outcome=outcome, values=request.form if outcome else {},
                         errors=outcome.errors if outcome else {}, records=list(reversed(records)),
                         kinds=labels.choices("support_kind"), china_time=china_time)


# --- the provider's record ---------------------------------------------------------------------

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _xlsx(record: dict[str, Any], name: str) -> Response:
    from mediation.supervision.excel import workbook_bytes

    return Response(workbook_bytes(history.workbook_sheets(record)), mimetype=XLSX, headers={
        "Content-Disposition": f'attachment; filename="{name}.xlsx"', "Cache-Control": "no-store"})


@bp.get("/my-record")
@login_required
def my_record():
    """The user's providers' referrals with their counts, and the export."""
    user = _provider_user()
    return web.render_page("referrals/record.html", record=history.my_record(user),
                           providers=db.session.execute(sa.select(Provider).where(
                               Provider.id.in_(lifecycle.provider_ids_of(user)))
                               .order_by(Provider.id)).scalars().all(),
                           export=url_for("provider_pages.my_record_xlsx"), mine=True)


@bp.get("/my-record.xlsx")
@login_required
def my_record_xlsx():
    user = _provider_user()
    return _xlsx(history.my_record(user), f"record-{today().isoformat()}")


@bp.get("/providers/<int:provider_id>/record")
@login_required
def provider_record(provider_id: int):
    """One provider's record, for admins, supervisors and its members."""
    provider = history.provider_for(_me(), provider_id)
    return web.render_page("referrals/record.html", record=history.record_of([provider.id]),
                           providers=[provider], mine=False,
                           export=url_for("provider_pages.provider_record_xlsx", provider_id=provider.id))


@bp.get("/providers/<int:provider_id>/record.xlsx")
@login_required
def provider_record_xlsx(provider_id: int):
    provider = history.provider_for(_me(), provider_id)
    return _xlsx(history.record_of([provider.id]), f"provider-{provider.id}-{today().isoformat()}")


@bp.get("/referrals/<int:referral_id>/record")
@login_required
def referral_record(referral_id: int):
    """What the provider keeps of a case after completing its referral."""
    return web.render_page("referrals/referral_record.html",
                           rec=continuity.record(_me(), referral_id))
