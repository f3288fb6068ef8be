"""The departments' pages: the directory (责任单位名录), the hand-over list (a department's
inbox of 交办事项, an official's list with the overdue ones first), one hand-over with its
replies and actions, and the case page's hand-over section with the form that hands a
matter over.

Every action runs the API's schema and command (`departments.commands`): a race lost to
another click is the command's 409, shown with the hand-over's state in words; a refused
form is the command's 422 beside its field. A department user sees no case: their pages
are the inbox and the hand-overs sent to them (404 for any other). The inbox and a
hand-over's page are live: `handover.*` events reach the department's users in their own
`user:<id>` room, the officials through the case's room.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from mediation import clock, labels, web
from mediation.cases.models import Case
from mediation.departments import commands, directory
from mediation.departments import schemas as s
from mediation.departments.models import Department, DepartmentMember, Handover, HandoverStatus
from mediation.departments.rules import department_of
from mediation.documents import api as documents_api
from mediation.documents import commands as documents
from mediation.errors import NotFound
from mediation.extensions import db
from mediation.pages import BoardPanel, Section, register_board_panel, register_case_section
from mediation.permissions import OFFICIAL_ROLES, Action, can, roles_for, visible_cases_filter
from mediation.users import Role, User

bp = web.page_blueprint("department_pages", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    inbox_roles = {Role.DEPARTMENT.value, *(r.value for r in OFFICIAL_ROLES)}
    web.add_nav(app, "department_pages.handovers", _l("交办事项"), inbox_roles, 22)
    web.add_nav(app, "department_pages.directory_page", _l("责任单位"),
                {*roles_for(Action.DEPARTMENTS_READ, app)}, 62)
    register_case_section(app, Section("case_handovers", _l("交办责任单位"), handovers_section,
                                       on="handover.", order=47))
    register_board_panel(app, BoardPanel("board_handovers", _l("交办超期"), board_panel, on="handover."))


def _me() -> User:
    return current_user._get_current_object()


def _refused(outcome: web.Outcome, what: str) -> web.Outcome:
    """A 409 in words: what could not be done, and the hand-over's state now."""
    if outcome.status == 409:
        outcome.message = what
        if outcome.current_state:
            outcome.current_state = labels.label(outcome.current_state, "handover_status")
    elif outcome.status == 403:
        outcome.message = _("您无权进行此操作")
    return outcome


def _view(h: Handover) -> dict[str, Any]:
    v = commands.handover_view(h)
    v["url"] = url_for("department_pages.handover", handover_id=h.id)
    return v


# --- the case page's section -------------------------------------------------------------------

def reachable_departments(case: Case) -> list[Department]:
    """The active departments a case's matter may go to: of its region, above or inside it."""
    chain = directory.ancestors(case.region_code)
    prefix = case.region_code.rstrip("0") if case.region_code.endswith("00") else case.region_code
    rows = db.session.execute(sa.select(Department).where(
        Department.active.is_(True),
        sa.or_(Department.region_code.in_(chain), Department.region_code.startswith(prefix)))
        .order_by(Department.region_code, Department.name)).scalars()
    return list(rows)


def handovers_section(user: User, case: Case) -> dict[str, Any] | None:
    if not can(user, Action.HANDOVER_READ, case):
        return None
    rows = db.session.execute(sa.select(Handover).where(Handover.case_id == case.id)
                              .order_by(Handover.id)).scalars()
    may_create = can(user, Action.HANDOVER_CREATE, case)
    return {"handovers": [_view(h) for h in rows], "can_create": may_create,
            "departments": [(d.id, f"{d.name}（{labels.label(d.kind, 'department_kind')}）")
                            for d in reachable_departments(case)] if may_create else [],
            "today": clock.today().isoformat()}


def board_panel(user: User) -> dict[str, Any] | None:
    """Beside the board: the overdue hand-overs of the cases the user sees (the list's link
    filters the hand-over list to them)."""
    if not can(user, Action.BOARD_VIEW):
        return None
    return {"overdue": commands.overdue_in(visible_cases_filter(user), clock.today(), 50)}


@bp.post("/cases/<int:case_id>/handovers")
@login_required
def create(case_id: int):
    """The case page's form: hand the matter to the departments ticked."""
    outcome = web.submit(s.HandoverIn(), lambda data: commands.create(_me(), case_id, data))
    web.report(_refused(outcome, _("无法交办")), _("已交办，责任单位会收到通知"))
    return redirect(url_for("pages.case_page", case_id=case_id) + "#part-case_handovers")


# --- the list --------------------------------------------------------------------------------

def _list_user() -> User:
    user = _me()
    if user.role != Role.DEPARTMENT and user.role not in OFFICIAL_ROLES:
        raise NotFound("page")
    return user


def list_context(user: User) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if request.args.get("overdue") == "1":
        args["overdue"] = True
    status = request.args.get("status", "")
    if status in HandoverStatus.__members__.values():
        args["status"] = status
    items = [_view(h) for h in commands.list_handovers(user, args)]
    if user.role != Role.DEPARTMENT:
        items.sort(key=lambda v: (not v["overdue"], v["due_on"] is None, v["due_on"] or clock.today()))
    own = department_of(user)
    return {"items": items, "department": db.session.get(Department, own) if own else None,
            "is_department": user.role == Role.DEPARTMENT, "args": args,
            "statuses": labels.choices("handover_status")}


@bp.get("/handovers")
@login_required
def handovers():
    """A department's inbox of hand-overs; an official's list of their cases' hand-overs."""
    return web.render_page("departments/handovers.html", **list_context(_list_user()))


# --- one hand-over ---------------------------------------------------------------------------

def handover_context(user: User, h: Handover, form: dict[str, Any] | None = None) -> dict[str, Any]:
    v = _view(h)
    latest = h.replies[-1] if h.replies else None
    docs: dict[int, list[dict[str, Any]]] = {}
    for r in h.replies:
        found = []
        for doc_id in commands.document_ids(r.id):
            try:
                d = documents.readable(user, doc_id)
            except NotFound:
                continue
            found.append({"id": d.id, "name": d.name, "url": url_for("documents_pages.download",
                                                                          document_id=d.id)})
        docs[r.id] = found
    names = dict(db.session.execute(sa.select(User.id, User.display_name).where(User.id.in_(
        {r.replied_by_id for r in h.replies} | {h.created_by_id or 0}))).all())
    officer = can(user, Action.HANDOVER_CREATE, db.session.get(Case, h.case_id)) \
        if user.role != Role.DEPARTMENT else False
    respond = can(user, Action.HANDOVER_RESPOND, h)
    return {
        "h": v, "docs": docs, "names": names, "form": form or {},
        "case_url": url_for("pages.case_page", case_id=h.case_id) if user.role != Role.DEPARTMENT else None,
        "can_ack": respond and h.status == HandoverStatus.SENT,
        "can_reply": respond and h.status in (HandoverStatus.SENT, HandoverStatus.ACKNOWLEDGED,
                                              HandoverStatus.RETURNED),
        "can_attach": respond and h.status == HandoverStatus.REPLIED and latest is not None,
        "latest_reply": latest.id if latest is not None else None,
        "can_decide": officer and h.status == HandoverStatus.REPLIED,
        "can_send": officer and h.status == HandoverStatus.SUGGESTED,
        "can_withdraw": officer and h.status in (HandoverStatus.SUGGESTED, HandoverStatus.SENT,
                                                 HandoverStatus.ACKNOWLEDGED, HandoverStatus.RETURNED),
        "kinds": labels.choices("document_kind"),
        "today": clock.today().isoformat(),
        "events": commands.handover_events(user, h.id),
    }


def _attach(user: User, h: Handover, reply_id: int) -> web.Outcome:
    uploads = documents_api.uploads_of_request()
    if not [u for u in uploads if u.name]:
        return web.Outcome()
    return web.attempt(documents.add_documents, user, h.case_id, uploads,
                       request.form.get("kind") or "other", attach_to=f"handover_reply:{reply_id}")


@bp.route("/handovers/<int:handover_id>", methods=["GET", "POST"])
@login_required
def handover(handover_id: int):
    """One hand-over: what is asked, the deadline, the replies with their documents, and
    the actions of who sees it (the department: acknowledge, reply, attach; the case's
    officer: send a suggestion, accept, send back, withdraw)."""
    user = _me()
    h = commands.get_handover(user, handover_id)
    if request.method == "GET":
        return web.render_page("departments/handover.html", **handover_context(user, h))
    action = request.form.get("action", "")
    if action == "acknowledge":
        outcome = _refused(web.attempt(commands.acknowledge, user, h.id), _("无法签收"))
        success = _("已签收")
    elif action == "reply":
        outcome = _refused(web.submit(s.ReplyIn(), lambda data: commands.reply(user, h.id, data)),
                           _("无法回复"))
        success = _("已回复，等待交办单位审核")
        if outcome.ok:
            attached = _attach(user, h, outcome.value.id)
            if not attached.ok:
                attached.message = _("回复已提交，但附件未能上传：") + (attached.message or "")
                outcome = attached
    elif action == "attach":
        outcome = _refused(_attach(user, h, int(request.form.get("reply_id") or 0)), _("无法上传附件"))
        success = _("附件已上传")
    elif action == "send":
        outcome = _refused(web.submit(s.HandoverSend(), lambda data: commands.send(user, h.id, data)),
                           _("无法交办"))
        success = _("已交办，责任单位会收到通知")
    elif action == "accept":
        outcome = _refused(web.attempt(commands.accept, user, h.id), _("无法采纳"))
        success = _("已采纳办理回复，交办事项办结")
    elif action == "return":
        outcome = _refused(web.submit(s.ReasonIn(), lambda data: commands.send_back(
            user, h.id, data["reason"])), _("无法退回"))
        success = _("已退回重办")
    elif action == "withdraw":
        outcome = _refused(web.submit(s.ReasonIn(), lambda data: commands.withdraw(
            user, h.id, data["reason"])), _("无法撤回"))
        success = _("已撤回交办")
    else:
        raise NotFound("action")
    if outcome.ok:
        web.report(outcome, success)
        return redirect(url_for("department_pages.handover", handover_id=h.id))
    db.session.expire_all()
    h = commands.get_handover(user, handover_id)
    form = {"action": action, "outcome": outcome, "values": request.form}
    return web.render_page("departments/handover.html", status=outcome.status,
                           **handover_context(user, h, form))


# The reply's files are streamed to disk while hashed, as the documents' own upload.
handover.upload_stream = documents_api.CaseDocuments.upload_stream  # type: ignore[attr-defined]
handover.upload_request_limit = documents_api.CaseDocuments.upload_request_limit  # type: ignore[attr-defined]


# --- the directory ---------------------------------------------------------------------------

def directory_context(user: User, form: dict[str, Any] | None = None) -> dict[str, Any]:
    rows = directory.list_departments(user, {})
    member_ids = {m.user_id for d in rows for m in d.members}
    users = {u.id: u for u in db.session.execute(sa.select(User).where(User.id.in_(member_ids))).scalars()}
    free = []
    if can(user, Action.DEPARTMENTS_EDIT):
        taken = sa.select(DepartmentMember.user_id)
        free = [(u.id, f"{u.display_name}（{u.username}）") for u in db.session.execute(
            sa.select(User).where(User.role == Role.DEPARTMENT.value, User.active.is_(True),
                                  User.id.notin_(taken)).order_by(User.username)).scalars()]
    return {"departments": [directory.department_view(d) | {
                "members": [users[m.user_id] for m in d.members if m.user_id in users],
                "editable": can(user, Action.DEPARTMENTS_EDIT, d.region_code)} for d in rows],
            "can_edit": can(user, Action.DEPARTMENTS_EDIT), "free_users": free,
            "kinds": labels.choices("department_kind"), "form": form or {},
            "within": user.region}


@bp.route("/departments", methods=["GET", "POST"])
@login_required
def directory_page():
    """The directory of departments (责任单位) per region; admins and supervisors add and
    change them (the API's validation), a department's users see their own."""
    user = _me()
    if not (can(user, Action.DEPARTMENTS_READ) or user.role == Role.DEPARTMENT):
        raise NotFound("page")
    if request.method == "GET":
        return web.render_page("departments/directory.html", **directory_context(user))
    action = request.form.get("action", "")
    if action == "create":
        outcome = web.submit(s.DepartmentIn(), lambda data: directory.create_department(user, data))
        success = _("已添加责任单位")
    elif action == "update":
        try:
            department_id = int(request.form.get("department_id", ""))
        except ValueError as exc:
            raise NotFound("department") from exc
        outcome = web.submit(s.DepartmentPatch(), lambda data: directory.update_department(
            user, department_id, data))
        success = _("已保存")
    else:
        raise NotFound("action")
    if outcome.ok:
        web.report(outcome, success)
        return redirect(url_for("department_pages.directory_page"))
    form = {"action": action, "outcome": outcome, "values": request.form,
            "department_id": request.form.get("department_id")}
    return web.render_page("departments/directory.html", status=outcome.status,
                           **directory_context(user, form))
