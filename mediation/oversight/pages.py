"""Oversight's pages: the task force and the supervision orders on the case page, the list
of orders, one order with its answer form, the printable order (A4, Chinese), and the
responsibility page (第一/直接责任人 of each region; 约谈提醒 and 问责 records). Every
action goes through the API's schema and command; a refusal is shown in words (409 with
the order's state now, 422 beside the field)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from mediation import clock, labels, web
from mediation.cases.models import Case
from mediation.departments.models import OWING, Department, Handover
from mediation.errors import Invalid, NotFound
from mediation.extensions import db
from mediation.oversight import commands, counting
from mediation.oversight.models import (
    MEMBER_ROLES,
    RECORD_KINDS,
    RESPONSIBLE_KINDS,
    SUBJECT_KINDS,
    SupervisionOrder,
)
from mediation.pages import BoardPanel, Section, register_board_panel, register_case_section
from mediation.permissions import OFFICIAL_ROLES, Action, can, role_may, roles_for, visible_cases_filter
from mediation.regions import region_prefix
from mediation.schemas.oversight import (
    AccountabilityIn,
    AnswerOrderIn,
    HandoverOrderIn,
    MemberIn,
    OrderIn,
    ResponsibleIn,
)
from mediation.supervision import reports
from mediation.supervision.scope import report_scope
from mediation.users import Role, User

bp = web.page_blueprint("oversight_pages", __name__, url_prefix="/oversight")
# Who may be addressed by an order (and so has the list of orders): officials, departments.
_ADDRESSEES = OFFICIAL_ROLES | {Role.DEPARTMENT}

LABELS: dict[str, dict[str, Any]] = {
    "responsible_kind": {"first": _l("第一责任人"), "direct": _l("直接责任人"),
                         "department": _l("责任单位")},
    "task_force_role": {"leader": _l("分管领导"), "backbone": _l("业务骨干"),
                        "petition_cadre": _l("信访干部")},
    "order_state": {"open": _l("待回复"), "answered": _l("已回复"), "escalated": _l("已逾期升级"),
                    "overdue": _l("已逾期")},
    "accountability_kind": {"warning_talk": _l("约谈提醒"), "accountability": _l("问责")},
    "accountability_subject": {"person": _l("个人"), "region": _l("地区"), "department": _l("部门")},
}

# What the commands say in English, in the pages' languages.
_MESSAGES = {
    "a day after today": _l("办理时限须晚于今天"),
    "the hand-over is not overdue": _l("该交办事项未逾期"),
    "a region that covers the case's region": _l("须为案件所在地区或其上级地区"),
    "not an active official in the directory of users": _l("请选择在岗的工作人员"),
    "already on the task force": _l("该人员已在工作专班中"),
    "only the order's addressee answers it": _l("只有督办对象可以回复督办单"),
    "outside your jurisdiction": _l("不在您的辖区内"),
    "the person concerned": _l("请选择被约谈或问责的人员"),
    "the department concerned": _l("请填写部门名称"),
    "the region concerned (or the person's region)": _l("请填写地区代码"),
    "cannot be in the future": _l("不能晚于今天"),
}


def _msg(text: Any) -> str:
    text = str(text)
    if text.startswith("no responsible person is named for region"):
        return _("该地区尚未明确责任人，请先在“责任落实”页指定")
    if text.startswith("no case") and text.endswith("in your jurisdiction"):
        return _("案件不存在或不在您的辖区内") + text.removeprefix("no case").removesuffix(
            "in your jurisdiction")
    if text.startswith("the order is "):
        return _("督办单状态已变化")
    return str(_MESSAGES.get(text, text))


def _localised(outcome: web.Outcome) -> web.Outcome:
    for name, msgs in outcome.errors.items():
        outcome.errors[name] = [_msg(m) for m in msgs]
    if outcome.message:
        outcome.message = _msg(outcome.message)
    if outcome.status == 403:
        outcome.message = _("您无权进行此操作")
    if outcome.status == 409 and outcome.current_state in LABELS["order_state"]:
        outcome.current_state = labels.label(outcome.current_state, "order_state")
    return outcome


def _me() -> User:
    return current_user._get_current_object()


def _officials(prefix: str = "") -> list[tuple[int, str]]:
    """Active officials to pick from (national ones and those of the province)."""
    q = sa.select(User.id, User.display_name, User.username, User.region).where(
        User.active.is_(True), User.role.in_([r.value for r in OFFICIAL_ROLES]))
    if prefix:
        q = q.where(sa.or_(User.region.is_(None), User.region.startswith(prefix[:2])))
    return [(uid, f"{name or username}" + (f"（{region}）" if region else ""))
            for uid, name, username, region in db.session.execute(q.order_by(User.id).limit(500))]


# --- the case page's section ---------------------------------------------------------------

def oversight_section(user: User, case: Case) -> dict[str, Any] | None:
    """Officials who see the case: its task force and its supervision orders."""
    if not role_may(user, Action.CASE_INTERNAL):
        return None
    members = commands.task_force(user, case.id)
    today = clock.today()
    orders = [commands.order_view(o, today) for o in db.session.execute(
        sa.select(SupervisionOrder).where(SupervisionOrder.case_id == case.id)
        .order_by(SupervisionOrder.id.desc())).scalars()]
    can_manage = can(user, Action.TASKFORCE_MANAGE, case)
    can_issue = can(user, Action.ORDER_ISSUE, case)
    named = commands.responsible_for(case.region_code) if can_issue else None
    late = db.session.execute(
        sa.select(Handover, Department.name).join(Department, Department.id == Handover.department_id)
        .where(Handover.case_id == case.id, Handover.status.in_(OWING), Handover.due_on < today)
        .order_by(Handover.due_on, Handover.id)).all()
    overdue_handovers = [{"id": h.id, "matter": h.matter, "department": name, "due_on": h.due_on.isoformat(),
                          "days": (today - h.due_on).days} for h, name in late]
    return {"members": members, "orders": orders, "can_manage": can_manage, "can_issue": can_issue,
            "people": _officials(region_prefix(case.region_code)) if can_manage else [],
            "roles": [(r, labels.label(r, "task_force_role")) for r in MEMBER_ROLES],
            "capacities": [(k, labels.label(k, "responsible_kind")) for k in RESPONSIBLE_KINDS],
            "addressee": commands.responsible_view(named) if named else None,
            "overdue_handovers": overdue_handovers,
            "today": today.isoformat()}


def _back(case_id: int):
    return redirect(url_for("pages.case_page", case_id=case_id) + "#h-case_oversight")


@bp.post("/cases/<int:case_id>/task-force")
@login_required
def add_member(case_id: int):
    outcome = _localised(web.submit(MemberIn(), lambda d: commands.add_member(
        current_user, case_id, d["user_id"], d["role"])))
    web.report(outcome, _("已加入工作专班"))
    return _back(case_id)


@bp.post("/cases/<int:case_id>/task-force/<int:user_id>/remove")
@login_required
def remove_member(case_id: int, user_id: int):
    outcome = _localised(web.attempt(commands.remove_member, current_user, case_id, user_id))
    web.report(outcome, _("已退出工作专班"))
    if outcome.ok and not can(current_user, Action.CASE_VIEW, db.session.get(Case, case_id)):
        return redirect(url_for("oversight_pages.orders_page"))
    return _back(case_id)


@bp.post("/cases/<int:case_id>/orders")
@login_required
def issue_order(case_id: int):
    outcome = _localised(web.submit(OrderIn(), lambda d: commands.issue_order(current_user, case_id, d)))
    if outcome.ok:
        web.report(outcome, _("督办单已下发"))
        return redirect(url_for("oversight_pages.order_page", order_id=outcome.value["id"]))
    web.report(outcome)
    return _back(case_id)


@bp.post("/handovers/<int:handover_id>/orders")
@login_required
def issue_handover_order(handover_id: int):
    handover = db.session.get(Handover, handover_id)
    if handover is None:
        raise NotFound("hand-over")
    outcome = _localised(web.submit(HandoverOrderIn(), lambda d: commands.issue_handover_order(
        current_user, handover_id, d)))
    if outcome.ok:
        web.report(outcome, _("督办单已下发"))
        return redirect(url_for("oversight_pages.order_page", order_id=outcome.value["id"]))
    web.report(outcome)
    return _back(handover.case_id)


# --- orders ----------------------------------------------------------------------------------

def board_panel(user: User) -> dict[str, Any] | None:
    """Beside the board: the open orders past their deadline on the cases the user sees (the
    link lists them on the orders page)."""
    if not can(user, Action.BOARD_VIEW):
        return None
    return {"overdue": commands.overdue_in(visible_cases_filter(user), clock.today(), 50)}


@bp.get("/orders")
@login_required
def orders_page():
    """The orders addressed to me, and for readers of figures those of their jurisdiction."""
    user = _me()
    if user.role not in _ADDRESSEES:
        raise NotFound("page")
    state = request.args.get("state") or None
    if state not in (None, "open", "answered", "escalated", "overdue"):
        state = None
    rows = commands.orders(user, state)
    return web.render_page("oversight/orders.html", orders=rows, state=state,
                           states=[(s, labels.label(s, "order_state"))
                                   for s in ("open", "overdue", "answered", "escalated")])


def _order_context(order_id: int, outcome: web.Outcome | None = None) -> dict[str, Any]:
    order = commands.get_order(_me(), order_id)
    case = db.session.get(Case, order["case_id"])
    return {"order": order, "outcome": outcome, "live_cases": str(case.id),
            "live_cursors": f"{case.id}:{case.last_seq}",
            "form_errors": outcome.errors if outcome else {},
            "form_values": request.form if outcome else {}}


@bp.get("/orders/<int:order_id>")
@login_required
def order_page(order_id: int):
    return web.render_page("oversight/order.html", **_order_context(order_id))


@bp.post("/orders/<int:order_id>/answer")
@login_required
def answer_order(order_id: int):
    outcome = _localised(web.submit(AnswerOrderIn(), lambda d: commands.answer_order(
        current_user, order_id, d["answer"])))
    if outcome.ok:
        web.report(outcome, _("已回复督办单"))
        return redirect(url_for("oversight_pages.order_page", order_id=order_id))
    return web.render_page("oversight/order.html", outcome.status, **_order_context(order_id, outcome))


@bp.get("/orders/<int:order_id>/print")
@login_required
def order_print(order_id: int):
    """The order as issued, on A4, in Chinese (an official paper)."""
    order = commands.get_order(_me(), order_id)
    return web.render_page("oversight/order_print.html", order=order,
                           capacity={"first": "第一责任人", "direct": "直接责任人", "department": "责任单位"},
                           issued=_chinese_day(order["issued_on"]), due=_chinese_day(order["due_on"]),
                           answered=_chinese_day(order["answered_on"]) if order["answered_on"] else None)


def _chinese_day(iso_day: str) -> str:
    y, m, d = (int(p) for p in iso_day.split("-"))
    return f"{y}年{m}月{d}日"


# --- responsibility ---------------------------------------------------------------------------

def _reader() -> User:
    user = _me()
    if not can(user, Action.REPORTS_READ):
        raise NotFound("page")
    return user


def _responsibility_page(user: User, failed: str | None = None, outcome: web.Outcome | None = None):
    errors: dict[str, list[str]] = {}
    today = clock.today()
    quarter = (request.args.get("quarter") or "").strip() or f"{today.year}-Q{(today.month - 1) // 3 + 1}"
    try:
        first, last = reports.parse_quarter(quarter)
    except ValueError:
        errors["quarter"] = [_("季度格式为 年-Q季度，例如 2025-Q4")]
        quarter = f"{today.year}-Q{(today.month - 1) // 3 + 1}"
        first, last = reports.parse_quarter(quarter)
    scope = report_scope(user)
    people = _officials(scope.prefix)
    cases = db.session.execute(sa.select(Case.id, Case.reference, Case.title).where(scope.condition())
                               .order_by(Case.id.desc()).limit(300)).all()
    status = outcome.status if outcome is not None and not outcome.ok else (422 if errors else 200)
    return web.render_page(
        "oversight/responsibility.html", status, responsibles=commands.responsibles(user),
        records=counting.listed(scope.prefix, first, last), quarter=quarter, errors=errors,
        values=request.args, people=people, cases=cases, failed=failed, outcome=outcome,
        form_values=request.form if failed else {}, form_errors=outcome.errors if outcome else {},
        can_name=role_may(user, Action.RESPONSIBLES_MANAGE),
        can_record=can(user, Action.ACCOUNTABILITY_RECORD), today=today.isoformat(),
        kinds=[(k, labels.label(k, "responsible_kind")) for k in RESPONSIBLE_KINDS],
        record_kinds=[(k, labels.label(k, "accountability_kind")) for k in RECORD_KINDS],
        subjects=[(k, labels.label(k, "accountability_subject")) for k in SUBJECT_KINDS],
        points={"warning_talk": counting.WARNING_TALK_POINTS,
                "accountability": counting.ACCOUNTABILITY_POINTS})


@bp.get("/responsibility")
@login_required
def responsibility_page():
    """第一责任人 and 直接责任人 of the jurisdiction's regions; 约谈提醒 and 问责 of a quarter."""
    return _responsibility_page(_reader())


@bp.post("/responsibility/responsibles")
@login_required
def name_responsible():
    user = _reader()

    def run() -> dict[str, Any]:
        data = ResponsibleIn().load(web.form_data(ResponsibleIn()))
        code = (request.form.get("region_code") or "").strip()
        kind = request.form.get("kind") or ""
        if kind not in RESPONSIBLE_KINDS:
            raise Invalid({"kind": ["Must be one of: first, direct."]})
        return commands.name_responsible(user, code, kind, data["user_id"])

    outcome = _localised(web.attempt(run))
    if not outcome.ok:
        return _responsibility_page(user, "responsible", outcome)
    web.report(outcome, _("责任人已明确"))
    return redirect(url_for("oversight_pages.responsibility_page") + "#responsibles")


@bp.post("/responsibility/records")
@login_required
def record_accountability():
    user = _reader()
    outcome = _localised(web.submit(AccountabilityIn(), commands.record_accountability, user))
    if not outcome.ok:
        return _responsibility_page(user, "record", outcome)
    web.report(outcome, _("约谈问责记录已保存"))
    day = outcome.value["decided_on"]
    quarter = f"{day[:4]}-Q{(int(day[5:7]) - 1) // 3 + 1}"
    return redirect(url_for("oversight_pages.responsibility_page", quarter=quarter) + "#records")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    labels.register_groups(app, LABELS)
    register_case_section(app, Section("case_oversight", _l("工作专班与督办"), oversight_section,
                                       "taskforce.,oversight.", 56, wide=True))
    register_board_panel(app, BoardPanel("board_orders", _l("督办超期"), board_panel,
                                         on="oversight.order"))
    web.add_nav(app, "oversight_pages.orders_page", _l("督办单"), _ADDRESSEES, 32)
    web.add_nav(app, "oversight_pages.responsibility_page", _l("责任落实"),
                roles_for(Action.REPORTS_READ, app), 33)

