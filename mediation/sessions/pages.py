"""The mediator's pages: scheduling a session, the session room (state, people
present, live chat), drafting and signing the agreement, performance; and the printable
agreement (调解协议书), an A4 page for the signing table.

Every form goes through the API's own schema and command (`mediation.web`), so a rule is
written once; invisible things are 404 pages. The case page and the officer's board are the
lead's: `case_sections(user, case)` and `sessions_in_progress(user)` give them what to show,
rendered by `templates/sessions/parts/case_sessions.html` and `templates/sessions/parts/board_sessions.html`
(both also template globals, so the parts render themselves when the page did not pass them).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from mediation import clock, labels, web
from mediation.cases.models import Case, Petitioner
from mediation.errors import DomainError, NotFound
from mediation.extensions import db
from mediation.permissions import OFFICIAL_ROLES, Action, can, require_case, visible_cases_filter
from mediation.sessions import chat, commands, followup, presence, sources
from mediation.sessions import schemas as s
from mediation.sessions.models import (
    STATUTORY_PARTS,
    Agreement,
    AgreementStatus,
    MediationSession,
    SessionStatus,
    SignMethod,
)
from mediation.users import Role, User
from mediation.writes import TooManyWrites

bp = Blueprint("agreement_pages", __name__)
pages = web.page_blueprint("session_pages", __name__)

METHODS = {"account": "本人账户签署", "hand": "签名", "seal": "盖章", "fingerprint": "按指印"}
STATUS = {"draft": "草稿", "final": "待签署", "in_effect": "已生效", "superseded": "已被新协议取代"}
# The pages show times in the service's zone (mediation.clock); forms take them in it too.

LABELS: dict[str, dict[str, Any]] = {
    "session_status": {
        "scheduled": _l("已安排"), "postponed": _l("已延期"), "in_progress": _l("进行中"),
        "ended": _l("已结束"), "cancelled": _l("已取消"),
    },
    "participant_kind": {
        "mediator": _l("调解员"), "petitioner": _l("信访人"), "respondent": _l("被反映单位代表"),
        "provider": _l("专业力量"), "invited": _l("特邀人员"), "lead_official": _l("包案领导"),
    },
    "agreement_status": {
        "draft": _l("草稿"), "final": _l("待签署"), "in_effect": _l("已生效"),
        "superseded": _l("已被新协议取代"),
    },
    "sign_method": {
        "account": _l("本人账户签署"), "hand": _l("签名"), "seal": _l("盖章"), "fingerprint": _l("按指印"),
    },
    "performance_kind": {"payment": _l("给付款项"), "action": _l("履行行为")},
    # "organ": the respondent is an administrative organ, which makes a 行政调解协议书.
    "party_role": {"petitioner": _l("信访人一方"), "respondent": _l("被反映方"),
                   "organ": _l("被反映方（行政机关）")},
    "invited_kind": {"deputy": _l("人大代表"), "cppcc_member": _l("政协委员"),
                     "worthy": _l("乡贤")},
    "statutory_part": {
        "parties": _l("当事人的基本情况"), "facts": _l("纠纷的主要事实"),
        "matters_in_dispute": _l("争议事项"),
        "responsibilities": _l("各方当事人的责任"), "terms": _l("当事人达成调解协议的内容"),
        "performance_manner": _l("履行方式"), "performance_time_limit": _l("履行期限"),
    },
    "presence_reason": {
        "left": _l("离开"), "disconnected": _l("连接断开"), "timed_out": _l("长时间无响应"),
    },
    "judicial_decision": {"confirmed": _l("确认有效"), "rejected": _l("驳回申请")},
    "resolution_basis": {"agreement_performed": _l("调解协议已履行"),
                         "otherwise_settled": _l("诉求已通过其他方式解决")},
    "cessation_basis": {"undertaking": _l("签署息诉罢访承诺书"),
                        "quiet_period": _l("经过观察期未再信访")},
}

# The commands' commonest refusals, in the pages' languages (others are shown as written).
_MESSAGES = {
    "must be a mediator's user with an accepted mediation referral on this case":
        _l("须为本案已接受调解转介的调解员"),
    "a place or an online meeting link is required": _l("请填写地点或线上会议链接"),
    "must be in the future": _l("须为将来的时间"),
    "the case has no lead official yet": _l("本案尚未确定包案领导"),
    "the minutes (笔录) are written when the session ends": _l("结束调解会时须填写笔录"),
    "at least two parties, each with their basic details": _l("至少两方当事人，并写明基本情况"),
    "every party needs a name and basic details": _l("每方当事人都须填写姓名（名称）和基本情况"),
    "missing": _l("缺少此项"),
    "a note of the evidence of performance is required": _l("请填写履行证据说明"),
    commands.NO_SUCH_ACCOUNT: _l("没有这个账户"),
    commands.MEDIATORS_ACCOUNT: _l("调解员本人的账户不能代表当事人"),
    commands.NOT_A_PARTY_ACCOUNT: _l("须为该当事人本人的账户，不能是工作人员、专业力量或调解员的账户"),
    commands.ACCOUNT_DEACTIVATED: _l("该账户已停用"),
    commands.ACCOUNT_TWICE: _l("一个账户只能代表一方当事人"),
    "the mediator signs through his own account": _l("调解员须通过本人账户签署"),
}


def _msg(text: Any) -> str:
    found = _MESSAGES.get(str(text))
    if found is not None:
        return str(found)
    if str(text).endswith("holds no accepted referral on this case"):
        return _("该用户在本案没有已接受的转介")
    return str(text)


def _attempt(fn) -> web.Outcome:
    """`web.attempt`, with the chat's rate limit (429) shown like a refusal, and the
    commands' commonest messages in the page's language."""
    try:
        outcome = web.attempt(fn)
    except DomainError as exc:
        if exc.status != 429:
            raise
        db.session.rollback()
        busy = isinstance(exc, TooManyWrites)
        text = _("操作过于频繁，请稍后再试") if busy else _("发言过于频繁，请稍后再试")
        outcome = web.Outcome(status=429, message=text + f"（{exc.message}）")
    outcome.errors = {k: [_msg(m) for m in v] for k, v in outcome.errors.items()}
    return outcome


def init_app(app: Flask) -> None:
    from flask_babel import lazy_gettext as _l

    from mediation.labels import register_groups
    from mediation.pages import BoardPanel, Section, register_board_panel, register_case_section

    app.register_blueprint(pages)
    register_groups(app, LABELS)
    # On the case page (a live section) and the officer's board (a live panel).
    register_case_section(app, Section("case_sessions", _l("调解会与调解协议"), case_sections,
                                  "session.,agreement.,performance.", 55, wide=True))
    register_board_panel(app, BoardPanel("board_sessions", _l("进行中的调解会"),
                                    lambda user: {"rows": sessions_in_progress(user)}, "session."))
    app.add_template_global(case_sections, "case_sections")
    app.add_template_global(sessions_in_progress, "sessions_in_progress")
    web.add_nav(app, "session_pages.my_agreements", _l("我的调解协议"), {Role.PARTY.value}, 10)


def _me() -> User:
    return current_user._get_current_object()


local = web.china_time  # a moment as the pages show it: China time, to the minute


def _local_input(moment: dt.datetime | None) -> str:
    """The value of a datetime-local input (China time)."""
    return web.china_time(moment, "%Y-%m-%dT%H:%M", blank="")


_NAIVE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?$")


def _form_in_china_time(*names: str) -> MultiDict:
    """The posted form, with a datetime-local value (no zone) read in the service's zone."""
    form = MultiDict(request.form)
    for name in names:
        value = (form.get(name) or "").strip()
        if _NAIVE.match(value):
            moment = dt.datetime.fromisoformat(value.replace(" ", "T"))
            form[name] = clock.local_wall_time(moment).isoformat()
    return form


def _load(schema: Any, form: MultiDict | None = None) -> dict[str, Any]:
    return schema.load(web.form_data(schema, form))


def _names(ids: set[int] | list[int]) -> dict[int, str]:
    from mediation.pages import user_names

    return user_names(set(ids))


def _case_id(case: Any) -> int:
    return int(case["id"] if isinstance(case, dict) else getattr(case, "id", case))


# --- scheduling ---------------------------------------------------------------------------

def _schedule_options(case: Case) -> dict[str, Any]:
    mediators = sources.mediator_users(case.id)
    others = sources.referral_users(case.id) - mediators
    names = _names(mediators | others)
    petitioners = db.session.execute(sa.select(Petitioner).where(Petitioner.case_id == case.id)
                                     .order_by(Petitioner.id)).scalars()
    invited = sources.invitable(case.region_code)
    return {
        "mediators": sorted((str(u), names.get(u, str(u))) for u in mediators),
        "providers": sorted((str(u), names.get(u, str(u))) for u in others),
        "petitioners": [(str(p.id), p.name) for p in petitioners],
        "invited": [(str(e.id), f"{e.name}（{labels.label(e.kind, 'invited_kind')}）") for e in invited],
        "lead": case.lead_official.display_name if case.lead_official else None,
    }


@pages.route("/cases/<int:case_id>/sessions/new", methods=["GET", "POST"])
@login_required
def schedule_session(case_id: int):
    """Schedule a session: time, place or link, participants, the lead official."""
    case = require_case(_me(), case_id)
    outcome = None
    if request.method == "POST":
        form = _form_in_china_time("scheduled_at")
        outcome = _attempt(lambda: commands.schedule(_me(), case.id, _load(s.SessionIn(), form)))
        if outcome.ok:
            web.report(outcome, _("调解会已安排，已通知各参会人员"))
            return redirect(url_for("session_pages.room", session_id=outcome.value.id))
    mine = _me().id in sources.mediator_users(case.id)
    return web.render_page("sessions/new.html", status=outcome.status if outcome else 200, case=case,
                           outcome=outcome, options=_schedule_options(case), i_mediate=mine,
                           values=request.form if outcome else {},
                           errors=outcome.errors if outcome else {})


# --- the session room ---------------------------------------------------------------------

def _room(session: MediationSession, case: Case, **extra: Any) -> dict[str, Any]:
    me = _me()
    members = commands._participant_user_ids(session)
    officer = commands._officer(me, case)
    view = commands.session_view(session)
    here = presence.present_in(session.id)
    here_ids = {p["user_id"] for p in here}
    mine = [p for p in session.participants if p.user_id == me.id]
    return {
        "case": case, "session": view, "mediator": _names([session.mediator_id]).get(session.mediator_id, ""),
        "participants": [{**p, "present": p["user_id"] in here_ids if p["user_id"] else False}
                         for p in view["participants"]],
        "present": here, "watchers": [p for p in here if p["user_id"] not in members],
        "messages": chat.room_messages(me, session.id),
        "can_run": me.id == session.mediator_id or officer,
        "can_post": me.id in members or officer,
        "may_enter": presence.may_enter(me, session, case),
        "can_join": bool(mine) and session.status == SessionStatus.IN_PROGRESS
        and not all(p.attended for p in mine),
        "i_mediate": me.id in sources.mediator_users(case.id),
        "heartbeat": presence.heartbeat_seconds(),
        "scheduled_input": _local_input(session.scheduled_at),
        "local": local, "action": None, "outcome": None, "errors": {}, "values": {},
        **extra,
    }


def _caucus_panel(me: User, session: MediationSession, side: int | None) -> dict[str, Any] | None:
    """The room's caucus panel (背靠背调解) for this reader, or None: the mediator picks a side
    (`?caucus=<user id>`) and holds a private channel with it; a side sees its own channel
    once the mediator has opened it (said something in it). Nobody else — not the other side,
    not the officials watching — has a panel, and the channel's events reach the two alone
    (`mediation.sessions.events.CAUCUS`)."""
    names = {p.user_id: p.name for p in session.participants if p.user_id is not None}
    if me.id == session.mediator_id:
        sides = [{"user_id": uid, "name": name} for uid, name in names.items() if uid != me.id]
        if not sides:
            return None
        chosen = side if side in {s["user_id"] for s in sides} else None
        return {"mediator": True, "sides": sides, "side": chosen, "form_side": chosen,
                "with": names.get(chosen, "") if chosen else "",
                "messages": chat.caucus_messages(me, session.id, chosen) if chosen else [],
                "open": session.status == SessionStatus.IN_PROGRESS}
    if me.id not in names:
        return None
    messages = chat.caucus_messages(me, session.id, me.id)
    return {"mediator": False, "sides": [], "side": me.id if messages else None, "form_side": me.id,
            "with": _names([session.mediator_id]).get(session.mediator_id, ""),
            "messages": messages, "open": session.status == SessionStatus.IN_PROGRESS}


def _caucus_names(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = _names({m["author_id"] for m in messages if m.get("author_id")})
    return [{**m, "author": names.get(m["author_id"], "")} for m in messages]


def _room_page(session_id: int, action: str | None = None, outcome: web.Outcome | None = None,
               side: int | None = None):
    session, case = commands.get_session(_me(), session_id)
    db.session.refresh(session)
    if side is None:
        side = request.args.get("caucus", type=int)
    panel = _caucus_panel(_me(), session, side)
    if panel is not None:
        panel["messages"] = _caucus_names(panel["messages"])
    ctx = _room(session, case, action=action, outcome=outcome, caucus=panel,
                errors=outcome.errors if outcome else {}, values=request.form if outcome else {})
    return web.render_page("sessions/room.html", status=outcome.status if outcome else 200, **ctx)


@pages.get("/sessions/<int:session_id>")
@login_required
def room(session_id: int):
    """The session room: details, state, who is present, the chat (live)."""
    return _room_page(session_id)


def _session_action(session_id: int, action: str, run, done: str):
    outcome = _attempt(run)
    if outcome.ok:
        web.report(outcome, done)
        anchor = "#chat" if action == "message" else ""
        return redirect(url_for("session_pages.room", session_id=session_id) + anchor)
    return _room_page(session_id, action, outcome)


@pages.post("/sessions/<int:session_id>/start")
@login_required
def start(session_id: int):
    return _session_action(session_id, "start", lambda: commands.start(_me(), session_id),
                           _("调解会已开始"))


@pages.post("/sessions/<int:session_id>/end")
@login_required
def end(session_id: int):
    return _session_action(session_id, "end", lambda: commands.end(
        _me(), session_id, _load(s.EndIn())["minutes"]), _("调解会已结束，笔录已保存"))


@pages.post("/sessions/<int:session_id>/postpone")
@login_required
def postpone(session_id: int):
    def run():
        data = _load(s.PostponeIn(), _form_in_china_time("scheduled_at"))
        return commands.postpone(_me(), session_id, data["scheduled_at"], data["reason"])
    return _session_action(session_id, "postpone", run, _("调解会已延期，已通知各参会人员"))


@pages.post("/sessions/<int:session_id>/cancel")
@login_required
def cancel(session_id: int):
    return _session_action(session_id, "cancel", lambda: commands.cancel(
        _me(), session_id, _load(s.CancelIn())["reason"]), _("调解会已取消"))


@pages.post("/sessions/<int:session_id>/attendance")
@login_required
def attendance(session_id: int):
    """Attendance rows: `attendance-<i>-participant_id` and `attendance-<i>-attended` (yes/no;
    a row left blank is not recorded)."""
    def run():
        rows = []
        for key in request.form:
            m = re.fullmatch(r"attendance-(\d+)-attended", key)
            if m and request.form[key] in ("1", "0"):
                rows.append({"participant_id": request.form.get(f"attendance-{m.group(1)}-participant_id"),
                             "attended": request.form[key] == "1"})
        return commands.record_attendance(_me(), session_id, s.AttendanceIn().load({"attendance": rows})
                                          ["attendance"])
    return _session_action(session_id, "attendance", run, _("出席情况已记录"))


@pages.post("/sessions/<int:session_id>/join")
@login_required
def join(session_id: int):
    return _session_action(session_id, "join", lambda: commands.join(_me(), session_id),
                           _("已签到参加调解会"))


@pages.post("/sessions/<int:session_id>/messages")
@login_required
def post_message(session_id: int):
    """The chat's post box without script (the room's script posts through the socket)."""
    return _session_action(session_id, "message", lambda: chat.post(
        _me(), session_id, _load(s.ChatIn())["body"]), _("发言已发送"))


@pages.post("/sessions/<int:session_id>/caucus/<int:user_id>")
@login_required
def post_caucus(session_id: int, user_id: int):
    """Say something in the private channel between the mediator and one side (the API's
    schema and command; 404 for anyone but the two)."""
    outcome = _attempt(lambda: chat.post_caucus(_me(), session_id, user_id, _load(s.ChatIn())["body"]))
    if outcome.ok:
        if request.headers.get("X-Requested-With") != "fetch":  # the room's script shows it itself
            web.report(outcome, _("背靠背谈话已发送"))
        mine = _me().id != user_id
        return redirect(url_for("session_pages.room", session_id=session_id,
                                **({"caucus": user_id} if mine else {})) + "#caucus")
    return _room_page(session_id, "caucus", outcome, side=user_id)


# --- agreements ---------------------------------------------------------------------------

def _party_rows(values: Any, parties: list[dict] | None, extra: int = 1) -> list[dict[str, Any]]:
    """Rows of the parties table: what was typed, else the agreement's, plus blank rows."""
    if values:
        rows = []
        for i in range(50):
            if not any(k.startswith(f"parties-{i}-") for k in values):
                break
            rows.append({k: values.get(f"parties-{i}-{k}", "")
                         for k in ("name", "role", "details", "user_id")})
    else:
        rows = [{"name": p.get("name") or "", "role": p.get("role") or "", "details": p.get("details") or "",
                 "user_id": p.get("user_id") or ""} for p in (parties or [])]
        if not rows:
            rows = [{"name": "", "role": "petitioner", "details": "", "user_id": ""},
                    {"name": "", "role": "respondent", "details": "", "user_id": ""}]
    rows += [{"name": "", "role": "", "details": "", "user_id": ""} for _ in range(extra)]
    return rows


@pages.get("/agreements/mine")
@login_required
def my_agreements():
    """A party's agreements: those naming their own account, to read and sign."""
    me = _me()
    if me.role != Role.PARTY:
        abort(404)
    rows = []
    for a in commands.agreements_naming(me):
        view = commands.agreement_view(a)
        mine = [i for i, p in enumerate(a.parties or []) if p.get("user_id") == me.id]
        signed = {x["signer"] for x in view["signatures"]}
        rows.append({"id": a.id, "status": a.status, "finalised_at": a.finalised_at,
                     "awaiting": a.status == AgreementStatus.FINAL
                     and any(f"party:{i}" not in signed for i in mine)})
    return web.render_page("sessions/my_agreements.html", agreements=rows, local=local)


@pages.route("/cases/<int:case_id>/agreements/new", methods=["GET", "POST"])
@login_required
def new_agreement(case_id: int):
    """Draft an agreement (the case's mediator) with every statutory part."""
    case = require_case(_me(), case_id)
    outcome = None
    if request.method == "POST":
        outcome = _attempt(lambda: commands.draft(_me(), case.id, _load(s.AgreementIn())))
        if outcome.ok:
            web.report(outcome, _("协议草稿已保存"))
            return redirect(url_for("session_pages.agreement", agreement_id=outcome.value.id))
    session_id = request.values.get("session_id", type=int)
    return web.render_page(
        "sessions/agreement_edit.html", status=outcome.status if outcome else 200, case=case, agreement=None,
        outcome=outcome, parts=STATUTORY_PARTS, session_id=session_id,
        rows=_party_rows(request.form if outcome else None, None),
        values=request.form if outcome else {}, errors=outcome.errors if outcome else {},
        i_mediate=_me().id in sources.mediator_users(case.id))


def _agreement_ctx(agreement: Agreement, case: Case, **extra: Any) -> dict[str, Any]:
    me = _me()
    view = commands.agreement_view(agreement)
    officer = commands._officer(me, case)
    signed = {x["signer"]: x for x in view["signatures"]}
    signers = []
    for i, (key, name, user_id) in enumerate(commands.signers(agreement)):
        is_mediator = key == "mediator"
        label = _names([agreement.mediator_id]).get(agreement.mediator_id, "") if is_mediator else name
        signers.append({
            "key": key, "name": label, "mediator": is_mediator, "index": None if is_mediator else i,
            "signature": signed.get(key),
            "may_sign_self": agreement.status == AgreementStatus.FINAL and key not in signed
            and user_id is not None and user_id == me.id,
            "may_record": agreement.status == AgreementStatus.FINAL and key not in signed
            and officer and not is_mediator,
        })
    # A party signing through their own account reads the agreement, not the case's file.
    items = [followup.item_view(i) for i in followup.items_of(me, case.id)
             if i.agreement_id == agreement.id] if can(me, Action.CASE_VIEW, case) else []
    return {
        "case": case, "agreement": view, "parts": STATUTORY_PARTS, "signers": signers, "items": items,
        "author": me.id == agreement.mediator_id, "officer": officer,
        "tracker": me.id == agreement.mediator_id or officer,
        "editable": agreement.status == AgreementStatus.DRAFT and me.id == agreement.mediator_id,
        "methods_in_person": [m.value for m in SignMethod if m != SignMethod.ACCOUNT],
        "local": local, "action": None, "outcome": None, "errors": {}, "values": {},
        "rows": _party_rows(None, view["parties"]), "session_id": agreement.session_id,
        **extra,
    }


def _agreement_page(agreement_id: int, action: str | None = None, outcome: web.Outcome | None = None,
                    rows: list | None = None):
    agreement, case = commands.get_agreement(_me(), agreement_id)
    db.session.refresh(agreement)
    typed = outcome is not None and action in ("revise", "performance", "done", "judicial")
    # The draft's fields show what was typed when a save was refused, else what is stored.
    content = {name: getattr(agreement, name) or "" for name in commands.CONTENT_FIELDS
               if name != "parties"}
    extra: dict[str, Any] = {"action": action, "outcome": outcome,
                             "errors": outcome.errors if outcome else {},
                             "values": request.form if typed else content}
    if rows is not None:
        extra["rows"] = rows
    ctx = _agreement_ctx(agreement, case, **extra)
    return web.render_page("sessions/agreement.html", status=outcome.status if outcome else 200, **ctx)


@pages.route("/agreements/<int:agreement_id>", methods=["GET", "POST"])
@login_required
def agreement(agreement_id: int):
    """An agreement: its parts (a form while it is its author's draft), signatures and
    performance. POST saves the draft made on the version carried in the form."""
    if request.method == "GET":
        return _agreement_page(agreement_id)

    def run():
        data = _load(s.AgreementPatch())
        version = data.pop("version")
        return commands.revise(_me(), agreement_id, version, data)
    outcome = _attempt(run)
    if outcome.ok:
        web.report(outcome, _("草稿已保存（第%(n)s稿）", n=outcome.value.version))
        return redirect(url_for("session_pages.agreement", agreement_id=agreement_id))
    if outcome.status == 409 and isinstance(outcome.current_state, dict):
        outcome.message = _("草稿已被他人修改：您编辑的是第%(mine)s稿，当前为第%(now)s稿。"
                            "请复制您的修改，重新载入后再保存。",
                            mine=request.form.get("version", "?"), now=outcome.current_state.get("version"))
    return _agreement_page(agreement_id, "revise", outcome, rows=_party_rows(request.form, None))


@pages.post("/agreements/<int:agreement_id>/finalise")
@login_required
def finalise(agreement_id: int):
    outcome = _attempt(lambda: commands.finalise(_me(), agreement_id))
    if outcome.ok:
        web.report(outcome, _("协议已定稿，等待各方签署"))
        return redirect(url_for("session_pages.agreement", agreement_id=agreement_id))
    if outcome.status == 422:
        parts = dict.fromkeys(k.split("-")[0] for k in outcome.errors)  # parties-1-user_id
        names = "、".join(labels.label(k, "statutory_part") for k in parts)
        outcome.message = _("协议缺少法定内容：%(parts)s", parts=names)
    return _agreement_page(agreement_id, "finalise", outcome)


@pages.post("/agreements/<int:agreement_id>/sign")
@login_required
def sign(agreement_id: int):
    def run():
        data = _load(s.SignIn())
        return commands.sign(_me(), agreement_id, data["signer"], data["method"], data.get("party_index"))
    outcome = _attempt(run)
    if outcome.ok:
        text = _("签署已记录")
        if outcome.value.status == AgreementStatus.IN_EFFECT:
            text = _("各方均已签署，调解协议生效")
        web.report(outcome, text)
        return redirect(url_for("session_pages.agreement", agreement_id=agreement_id) + "#signatures")
    return _agreement_page(agreement_id, "sign", outcome)


@pages.post("/agreements/<int:agreement_id>/performance")
@login_required
def add_performance(agreement_id: int):
    outcome = _attempt(lambda: followup.add_item(_me(), agreement_id, _load(s.PerformanceIn())))
    if outcome.ok:
        web.report(outcome, _("履行事项已添加"))
        return redirect(url_for("session_pages.agreement", agreement_id=agreement_id) + "#performance")
    return _agreement_page(agreement_id, "performance", outcome)


@pages.post("/performance/<int:item_id>/done")
@login_required
def performance_done(item_id: int):
    item, _case = followup.get_item(_me(), item_id)
    outcome = _attempt(lambda: followup.mark_done(_me(), item_id,
                                                                 _load(s.PerformanceDoneIn())["evidence"]))
    if outcome.ok:
        web.report(outcome, _("已标记履行完毕"))
        return redirect(url_for("session_pages.agreement", agreement_id=item.agreement_id) + "#performance")
    outcome.errors = {f"evidence-{item_id}": v for k, v in outcome.errors.items()} or outcome.errors
    return _agreement_page(item.agreement_id, "done", outcome)


@pages.post("/agreements/<int:agreement_id>/judicial/<step>")
@login_required
def judicial(agreement_id: int, step: str):
    """司法确认: record the joint application (within 30 days of effect) or the court's decision."""
    def apply() -> Any:
        data = _load(s.ConfirmationApplyIn())
        return followup.apply_for_confirmation(_me(), agreement_id, data["applied_on"], data["court"])

    def decide() -> Any:
        data = _load(s.ConfirmationDecisionIn())
        return followup.record_court_decision(_me(), agreement_id, data["decision"], data["decided_on"],
                                              data["note"])

    steps = {"apply": apply, "decision": decide}
    if step not in steps:
        abort(404)
    outcome = _attempt(steps[step])
    if outcome.ok:
        web.report(outcome, _("司法确认情况已记录"))
        return redirect(url_for("session_pages.agreement", agreement_id=agreement_id) + "#judicial")
    return _agreement_page(agreement_id, "judicial", outcome)


# --- for the case page and the board ----------------------------------------------------

def _session_summary(sess: MediationSession, here: list[dict], msgs: list[dict]) -> dict[str, Any]:
    return {"id": sess.id, "status": sess.status, "scheduled_at": local(sess.scheduled_at),
            "started_at": local(sess.started_at) if sess.started_at else None,
            "place": sess.place, "online_link": sess.online_link, "topic": sess.topic,
            "postponements": sess.postponements, "present": here, "messages": msgs,
            "url": url_for("session_pages.room", session_id=sess.id)}


def case_sections(user: User, case: Any) -> dict[str, Any]:
    """What the case page shows of sessions and agreements: each session the user may see
    (state, time, who is present, the latest 3 messages) and each agreement (status,
    signatures, performance), with the links to act. `case`: a Case, its view, or its id."""
    case_id = _case_id(case)
    sessions = commands.sessions_of(user, case_id)
    ids = [x.id for x in sessions]
    here = presence.present(ids)
    latest = chat.latest(case_id, ids, 3) if ids else {}
    row = db.session.get(Case, case_id)
    agreements = commands.agreements_of(user, case_id)
    items = followup.items_of(user, case_id)
    mediator = user.id in sources.mediator_users(case_id)
    return {
        "case_id": case_id,
        "sessions": [_session_summary(x, here[x.id], latest.get(x.id, [])) for x in sessions],
        "agreements": [{
            "id": a.id, "status": a.status, "version": a.version,
            "signed": len(a.signatures), "signers": len(commands.signers(a)),
            "signatures": [{"name": sig.signer_name, "method": sig.method, "at": local(sig.signed_at)}
                           for sig in a.signatures],
            "performance": [followup.item_view(i) for i in items if i.agreement_id == a.id],
            "url": url_for("session_pages.agreement", agreement_id=a.id),
            "print_url": url_for("agreement_pages.print_agreement", agreement_id=a.id),
        } for a in agreements],
        "can_schedule": mediator or can(user, Action.CASE_EDIT, row),
        "can_draft": mediator,
        "schedule_url": url_for("session_pages.schedule_session", case_id=case_id),
        "draft_url": url_for("session_pages.new_agreement", case_id=case_id),
    }


def sessions_in_progress(user: User, limit: int = 50) -> list[dict[str, Any]]:
    """Sessions in progress on the cases the user sees (officials: all of them; others: the
    ones they are in), newest start first, each with its case, who is present and the
    latest 3 messages."""
    rows = db.session.execute(
        sa.select(MediationSession, Case).join(Case, Case.id == MediationSession.case_id)
        .where(visible_cases_filter(user), MediationSession.status == SessionStatus.IN_PROGRESS.value)
        .order_by(MediationSession.started_at.desc(), MediationSession.id.desc()).limit(limit)).all()
    visible = [(x, c) for x, c in rows
               if user.role in OFFICIAL_ROLES or user.id in commands._participant_user_ids(x)]
    here = presence.present([x.id for x, _c in visible])
    by_case: dict[int, list[int]] = {}
    for x, c in visible:
        by_case.setdefault(c.id, []).append(x.id)
    latest: dict[int, list[dict]] = {}
    for case_id, ids in by_case.items():
        latest.update(chat.latest(case_id, ids, 3))
    return [{**_session_summary(x, here[x.id], latest.get(x.id, [])), "case_id": c.id,
             "case_reference": c.reference, "case_title": c.title,
             "case_url": url_for("pages.case_page", case_id=c.id)} for x, c in visible]


# --- the printable agreement ----------------------------------------------------------------

# A signer's title is printed once, by the block: a display name that starts with one
# ("人民调解员 孙调解") is shown by its bare name ("孙调解").
_TITLES = ("人民调解员", "行政调解员", "调解员")
PRINT_ROLE = {"petitioner": "信访人", "respondent": "被反映方", "organ": "行政机关"}


def bare_name(name: str | None) -> str:
    """A person's name without a leading title the printed block already says."""
    name = (name or "").strip()
    for title in _TITLES:
        if name.startswith(title) and name[len(title):].strip():
            return name[len(title):].strip()
    return name


def chinese_date(moment: dt.datetime | dt.date | None) -> str:
    """"2026年11月30日": a moment's day in the service's zone (the Beijing day)."""
    if moment is None:
        return ""
    day = clock.local_date(moment) if isinstance(moment, dt.datetime) else moment
    return f"{day.year}年{day.month}月{day.day}日"


@bp.get("/agreements/<int:agreement_id>/print")
@login_required
def print_agreement(agreement_id: int):
    """The agreement laid out for A4 printing: the issuer and document number, every
    statutory part, and a signature block for every party, the mediator and the issuer."""
    from mediation.sessions.models import AgreementKind
    from mediation.sessions.numbering import KINDS, SERVICE_ISSUER, issuer_of, kind_of

    try:
        agreement, case = commands.get_agreement(current_user, agreement_id, read_only=True)
    except NotFound:
        abort(404)
    view = commands.agreement_view(agreement)
    signed = {sig["signer"]: sig for sig in view["signatures"]}
    if agreement.kind:  # fixed at finalisation
        kind, issuer = AgreementKind(agreement.kind), agreement.issuer or SERVICE_ISSUER
    else:  # a draft: what it would be if finalised now, unnumbered
        entry = issuer_of(agreement.case_id, agreement.mediator_id)
        kind = kind_of(agreement.parties or [], getattr(entry, "mediation_type", None))
        issuer = entry.name if entry is not None else SERVICE_ISSUER
    words = KINDS[kind]
    mediator = db.session.get(User, agreement.mediator_id)

    def block(key: str, role: str, name: str) -> dict[str, Any]:
        sig = signed.get(key)
        return {"key": key, "role": role, "name": bare_name(name),
                "method": METHODS.get(sig["method"], "") if sig else "",
                "date": chinese_date(sig["signed_at"]) if sig else ""}

    blocks = [block(f"party:{i}", PRINT_ROLE.get(p.get("role") or "", "当事人"), p.get("name") or "")
              for i, p in enumerate(agreement.parties or [])]
    blocks.append(block("mediator", words["mediator"], mediator.display_name or mediator.username))
    return render_template(
        "sessions/agreement_print.html", agreement=view, case=case, parts=STATUTORY_PARTS,
        blocks=blocks, words=words, issuer=issuer, roles=PRINT_ROLE,
        status=STATUS.get(agreement.status, ""),
        effective_on=chinese_date(agreement.effective_at),
        confirm_until=chinese_date(view["judicial_confirmation_until"]))
