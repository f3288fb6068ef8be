"""Supervision's pages.

- The petitioner's survey page (`bp`): a Chinese form reached by a one-time link, no login;
  opening the link moves its token into the session (off the URL), and the form at /survey
  checks its own CSRF token (a post to the link itself needs none: the token is the proof).
- The supervisors' pages (`sup`, under /supervision; supervisors and admins, anyone else is
  told there is no such page): the KPI overview with the signals, the monthly bulletin
  (league tables, an SVG chart drawn by the server, xlsx and A4 print), the weekly list, the
  quarterly evaluation's records, and the ledger (template, upload with a dry run, import,
  export; the upload is the case officers').
- The evaluator's page: the anonymised data set, and nothing else.

Every figure comes from the same functions as the API (`kpis`, `reports`, `evaluation`,
`ledger`) with the same scope rule (`report_scope`); every action goes through the API's own
schema and command (`web.submit`), so a refused form shows the command's own errors.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    Flask,
    Response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf.csrf import validate_csrf
from wtforms import ValidationError

from mediation import checkpoints, clock, labels, web
from mediation.cases.models import Case
from mediation.errors import DomainError, Forbidden, NotFound
from mediation.extensions import db
from mediation.permissions import Action, can, roles_for
from mediation.regions import region_prefix
from mediation.schemas.supervision import DeductionIn, InspectionIn, RectificationIn, RectifiedIn
from mediation.settings import get as setting
from mediation.supervision import commands, evaluation, kpis, reports, uploads
from mediation.supervision.scope import Scope, report_scope
from mediation.timeline import utcnow
from mediation.users import Role, User
from mediation.validation import calendar_date

# --- the survey page (no login) ---------------------------------------------------------------

bp = Blueprint("survey_pages", __name__)


SURVEY_KEY = "survey_token"


def _survey_refused(exc: DomainError):
    state = "staff" if exc.status == 403 else exc.extra.get("current_state") or "invalid"
    return render_template("supervision/survey.html", state=state, error=exc.message), exc.status


def _signed_in() -> User | None:
    """The account this browser is signed in with, if any: an answer never comes from a
    staff account (see `commands.answer_survey`)."""
    return current_user._get_current_object() if current_user.is_authenticated else None


def _answer(token: str, after: Any = None):
    try:
        rating = int(request.form.get("rating", ""))
    except ValueError:
        return render_template("supervision/survey.html", state="form", error="请选择 1 至 5 分。"), 422
    try:
        commands.answer_survey(token, rating, request.form.get("comment", "")[:2000], _signed_in())
    except DomainError as exc:
        return _survey_refused(exc)
    if after:
        after()
    return render_template("supervision/survey.html", state="thanks")


@bp.route("/survey/<token>", methods=["GET", "POST"])
def survey(token: str):
    """The link a petitioner is sent. Opening it puts its token in the session and moves
    on to /survey, so the token leaves the address bar, the history and any Referer (and
    the access logs redact it). A POST here still answers, for forms opened before."""
    if request.method == "POST":
        return _answer(token)
    try:
        commands.survey_for(token)
    except DomainError as exc:
        return _survey_refused(exc)
    session[SURVEY_KEY] = token
    return redirect(url_for("survey_pages.survey_form"), 303)


@bp.route("/survey", methods=["GET", "POST"])
def survey_form():
    """Show the form for the link opened in this browser, or take the answer."""
    token = session.get(SURVEY_KEY) or ""
    if request.method == "POST":
        try:  # the token is in the session now, so a forged cross-site post would carry it
            validate_csrf(request.form.get("csrf_token"))
        except ValidationError:
            return render_template("supervision/survey.html", state="form",
                                   error="页面已过期，请重新打开评价链接。"), 400
        return _answer(token, after=lambda: session.pop(SURVEY_KEY, None))
    try:
        commands.survey_for(token)
    except DomainError as exc:
        return _survey_refused(exc)
    who = _signed_in()
    if who is not None and who.role != Role.PARTY:
        return render_template("supervision/survey.html", state="staff"), 403
    return render_template("supervision/survey.html", state="form")


# --- labels -----------------------------------------------------------------------------------

LABELS: dict[str, dict[str, Any]] = {
    "kpi": {
        "resolution_rate": _l("积案化解率"), "reasonable_demand_resolution_rate": _l("群众合理诉求解决率"),
        "ceased_petitioning_rate": _l("息诉罢访率"), "satisfaction_rate": _l("群众满意率"),
    },
    "level": {"province": _l("省"), "city": _l("市"), "county": _l("县（区）"),
              "department": _l("部门")},
    "check": {
        "responsibility_in_place": _l("责任落实"), "truly_resolved": _l("诉求真正解决"),
        "procedure_regular": _l("程序规范"), "file_complete": _l("档案完整"),
    },
    "deduction_kind": {"fake_resolution": _l("虚假化解"), "idle_handling": _l("“空转”办理")},
    "rectification_state": {
        "open": _l("整改中"), "overdue": _l("逾期未整改"), "done": _l("已按期整改"),
        "done_late": _l("逾期整改完成"),
    },
    "reminder_kind": {
        "owner_duty": _l("包案领导履职"), "statutory_clock": _l("法定期限"), "performance": _l("协议履行"),
        "followup_visit": _l("回访"),
    },
}
# Each KPI's definition in words (kpis.KPIS says the same in English, for the API).
KPI_NUMERATOR = {
    "resolution_rate": _l("截至统计日结束时状态为已化解或已办结的案件数"),
    "reasonable_demand_resolution_rate": _l(
        "经评估诉求合理且有政策依据、截至统计日结束时已化解或已办结的案件数"),
    "ceased_petitioning_rate": _l(
        "截至统计日结束时已息诉罢访的案件数（以时间线上最后一次“息诉罢访”或“再次信访”记录为准）"),
    "satisfaction_rate": _l("截至统计日结束时收到的评价中评为 4 分或 5 分（满意、非常满意）的份数"),
}
KPI_DENOMINATOR = {
    "resolution_rate": _l("纳入专项行动的案件数：纳入日期（台账日期，而非录入系统的时间）不晚于统计日、"
                          "且截至统计日结束时未并入其他案件；未归入六类积案的案件须有纳入理由才计入"
                          "（并入其他案件的自合并之日起不再计入，重复信访件计入原案件的件次，不另计案件）"),
    "reasonable_demand_resolution_rate": _l("纳入专项行动、经评估诉求合理且有政策依据的案件数"),
    "ceased_petitioning_rate": _l("纳入专项行动的案件数"),
    "satisfaction_rate": _l("截至统计日结束时纳入专项行动的案件收到的评价份数（评价自其案件纳入之日起计入）"),
}

# What the commands and parsers say in English, in the pages' languages.
_MESSAGES = {
    "cannot be in the future": _l("日期不能晚于今天"),
    "not an inspection of this case": _l("不是本案的检查记录"),
    "required in the ledger": _l("台账中必填"),
    "the sheet is empty": _l("工作表是空的"),
    "required column missing": _l("缺少必需的列"),
    "already used by another case": _l("已被其他案件使用"),
    "not an xlsx workbook": _l("不是有效的 xlsx 文件"),
    "the workbook is too large to read": _l("文件过大，无法读取"),
    "reading the workbook took too long: refused": _l("读取文件超时，已拒绝"),
    "too many rows (MEDIATION_LEDGER_MAX_ROWS): split the ledger into several files":
        _l("行数超过上限，请将台账拆分为多个文件"),
}

# --- the supervisors' pages -------------------------------------------------------------------

sup = web.page_blueprint("supervision_pages", __name__, url_prefix="/supervision")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SIGNAL_DAYS = 30  # the overview lists cases reopened (possible fake resolution) in this many days
CHART_ROWS = 40  # bars in the bulletin's chart at most (the table lists every unit)


def init_app(app: Flask) -> None:
    """Register the supervisors' and the evaluator's pages and their links in the top bar."""
    app.register_blueprint(sup)
    labels.register_groups(app, LABELS)
    web.add_nav(app, "supervision_pages.overview", _l("督查统计"), roles_for(Action.REPORTS_READ, app), 30)
    web.add_nav(app, "supervision_pages.ledger", _l("台账"), roles_for(Action.LEDGER_USE, app), 34)
    web.add_nav(app, "supervision_pages.evaluation_data", _l("评估数据"), {Role.EVALUATOR.value}, 30)


def _me() -> User:
    return current_user._get_current_object()


def _reader() -> User:
    """A supervisor or an admin; anyone else is told there is no such page."""
    user = _me()
    if not can(user, Action.REPORTS_READ):
        raise NotFound("page")
    return user


def _actor() -> User:
    """A supervisor or an admin, who act on the figures (inspections, deductions,
    rectifications); readers who may not (case officers) are told there is no such page."""
    user = _reader()
    if not can(user, Action.SUPERVISION_ACT):
        raise NotFound("page")
    return user


def _today() -> dt.date:
    return clock.today()


def _msg(text: Any) -> str:
    return str(_MESSAGES.get(str(text), text))


def _scope(user: User, errors: dict[str, list[str]]) -> Scope:
    """The scope the filters ask for: the `region` argument inside the reader's jurisdiction;
    a bad one is a field error and the reader's own jurisdiction is used."""
    region = (request.args.get("region") or "").strip()
    try:
        return report_scope(user, region or None)
    except ValueError:
        errors["region"] = [_("行政区划代码为 2、4 或 6 位数字，例如 51、5101、510104")]
    except Forbidden:
        errors["region"] = [_("该地区不在您的辖区内")]
    return report_scope(user)


def _arg(name: str, parse, default: Any, errors: dict[str, list[str]], message: str) -> Any:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return default
    try:
        return parse(raw)
    except ValueError:
        errors[name] = [message]
        return default


def _month(text: str) -> str:
    reports.parse_month(text)
    return text


def _week(text: str) -> dt.date:
    return reports.parse_week(text)


def _quarter(text: str) -> str:
    reports.parse_quarter(text)
    return text


def _level(text: str) -> str:
    if text not in ("province", "city", "county"):
        raise ValueError(text)
    return text


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _week_of(day: dt.date) -> str:
    iso = day.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def _quarter_of(day: dt.date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def _download(body: bytes | str, mimetype: str, filename: str) -> Response:
    return Response(body, mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})


@sup.app_template_filter("pct")
def pct_filter(value: float | None) -> str:
    return _pct(value)


# --- overview ----------------------------------------------------------------------------------

@sup.get("")
@login_required
def overview():
    """The KPI tiles against their targets for a date and a region, and the signals."""
    user = _reader()
    errors: dict[str, list[str]] = {}
    day = _arg("date", calendar_date, _today(), errors, _("日期格式为 年-月-日"))
    scope = _scope(user, errors)
    report = kpis.report(scope, day)
    tiles = [{"key": d["key"], "figure": report["kpis"][d["key"]],
              "stock": report["segments"]["stock"]["kpis"][d["key"]],
              "increment": report["segments"]["increment"]["kpis"][d["key"]],
              "numerator": KPI_NUMERATOR[d["key"]], "denominator": KPI_DENOMINATOR[d["key"]]}
             for d in report["definitions"]]
    today = _today()
    week = reports.weekly(scope, today - dt.timedelta(days=today.weekday()), today)
    signals = week["signals"]
    signals["reopened_after_resolution"] = reports.reopened_signals(
        scope, kpis.end_of(today - dt.timedelta(days=SIGNAL_DAYS)), kpis.end_of(today))
    return web.render_page("supervision/overview.html", 422 if errors else 200, tiles=tiles, report=report,
                           day=day, region=scope.region_code, errors=errors, values=request.args,
                           signals=signals, signal_days=SIGNAL_DAYS, stall_days=week["stall_days"],
                           reopen_days=setting("MEDIATION_REOPEN_WINDOW_DAYS"),
                           zone_words=_("北京时间") if clock.zone_name() == clock.DEFAULT_TIMEZONE
                           else _("本地时间"))


# --- monthly bulletin --------------------------------------------------------------------------

def _bulletin(user: User) -> tuple[dict[str, Any], dict[str, list[str]], dict[str, str]]:
    errors: dict[str, list[str]] = {}
    month = _arg("month", _month, _today().strftime("%Y-%m"), errors, _("月份格式为 年-月，例如 2025-11"))
    level = _arg("level", _level, "county", errors, _("请选择列表中的一项"))
    scope = _scope(user, errors)
    report = reports.monthly(scope, month, level)
    args = {"month": month, "level": level}
    if scope.prefix and (request.args.get("region") or "").strip() and "region" not in errors:
        args["region"] = scope.region_code
    return report, errors, args


def chart(rows: list[dict[str, Any]], target: float | None = 0.98) -> dict[str, Any]:
    """The league table as horizontal bars (resolution rate, 0-100 %), laid out for an
    inline <svg>: coordinates in the SVG's own units, colours as presentation attributes."""
    shown = [r for r in rows if r["rate"] is not None][:CHART_ROWS]
    label_w, bar_w, row_h, top = 150, 420, 22, 28
    bars = []
    for i, r in enumerate(shown):
        y = top + i * row_h
        width = round(bar_w * r["rate"], 1)
        met = target is not None and r["rate"] >= target
        bars.append({"key": r["key"], "rank": r["rank"], "rate": r["rate"], "y": y, "width": width,
                     "text_y": y + row_h * 0.68, "met": met})
    height = top + len(shown) * row_h + 24
    ticks = [{"x": label_w + bar_w * t / 100, "label": f"{t}%"} for t in (0, 25, 50, 75, 100)]
    return {"bars": bars, "height": height, "width": label_w + bar_w + 70, "label_w": label_w,
            "bar_w": bar_w, "row_h": row_h, "top": top, "ticks": ticks,
            "target_x": label_w + bar_w * target if target is not None else None,
            "target": target, "more": max(0, len([r for r in rows if r["rate"] is not None]) - len(shown))}


@sup.get("/bulletin")
@login_required
def bulletin():
    """The monthly bulletin (月通报): league tables by region and department, a chart."""
    user = _reader()
    report, errors, args = _bulletin(user)
    return web.render_page("supervision/bulletin.html", 422 if errors else 200, report=report,
                           errors=errors, values=request.args, args=args, chart=chart(report["regions"]),
                           levels=[(c, labels.label(c, "level")) for c in ("province", "city", "county")])


@sup.get("/bulletin/print")
@login_required
def bulletin_print():
    """The bulletin laid out for A4 paper."""
    user = _reader()
    report, errors, args = _bulletin(user)
    # The latest checkpoint's digest on paper anchors the chains' heads outside the database.
    return render_template("supervision/bulletin_print.html", report=report, args=args,
                           chart=chart(report["regions"]), printed=utcnow(),
                           checkpoint=checkpoints.latest_digest()), 422 if errors else 200


@sup.get("/bulletin.xlsx")
@login_required
def bulletin_xlsx():
    """The bulletin as a workbook (the API's own export)."""
    user = _reader()
    report, errors, _args = _bulletin(user)
    if errors:
        raise NotFound("bulletin")
    return _download(reports.monthly_xlsx(report), XLSX, f"bulletin-{report['month']}.xlsx")


# --- weekly ------------------------------------------------------------------------------------

@sup.get("/weekly")
@login_required
def weekly():
    """The weekly list (周调度): progress, stalled cases, clocks overdue or close, owners late."""
    user = _reader()
    errors: dict[str, list[str]] = {}
    today = _today()
    monday = _arg("week", _week, today - dt.timedelta(days=today.weekday()), errors,
                  _("周格式为 年-W周，例如 2025-W48"))
    scope = _scope(user, errors)
    report = reports.weekly(scope, monday, today)
    following = monday + dt.timedelta(days=7)
    nav = {"previous": _week_of(monday - dt.timedelta(days=7)),
           "next": _week_of(following) if following <= today else None}
    return web.render_page("supervision/weekly.html", 422 if errors else 200, report=report, errors=errors,
                           values=request.args, nav=nav, due_soon_days=setting("MEDIATION_DUE_SOON_DAYS"))


# --- quarterly evaluation ------------------------------------------------------------------------

def _evaluation_page(user: User, failed: str | None = None, outcome: web.Outcome | None = None,
                     rect_id: int | None = None):
    errors: dict[str, list[str]] = {}
    today = _today()
    quarter = _arg("quarter", _quarter, _quarter_of(today), errors, _("季度格式为 年-Q季度，例如 2025-Q4"))
    level = _arg("level", _level, "county", errors, _("请选择列表中的一项"))
    scope = _scope(user, errors)
    report = reports.quarterly(scope, quarter, level, today)
    cases = db.session.execute(
        sa.select(Case.id, Case.reference, Case.title).where(scope.condition())
        .order_by(Case.id.desc()).limit(300)).all()
    status = outcome.status if outcome is not None and not outcome.ok else (422 if errors else 200)
    return web.render_page(
        "supervision/evaluation.html", status, report=report, errors=errors, values=request.args,
        quarter=quarter, level=level, failed=failed, outcome=outcome, rect_id=rect_id,
        form_values=request.form if failed else {}, form_errors=outcome.errors if outcome else {},
        cases=cases, today=today.isoformat(),
        levels=[(c, labels.label(c, "level")) for c in ("province", "city", "county")],
        kinds=[(k, labels.label(k, "deduction_kind")) for k in commands.DEDUCTION_KINDS],
        checks=reports.CHECKS, yes_no=[("1", _("是")), ("0", _("否"))],
        can_act=can(user, Action.SUPERVISION_ACT))


@sup.get("/evaluation")
@login_required
def evaluation_page():
    """The quarterly evaluation (季考评): inspections, deductions, rectifications, scores."""
    return _evaluation_page(_reader())


def _localised(outcome: web.Outcome) -> web.Outcome:
    for name, msgs in outcome.errors.items():
        outcome.errors[name] = [_msg(m) for m in msgs]
    if outcome.status == 403:
        outcome.message = _("您无权进行此操作")
    elif outcome.status == 409 and outcome.current_state:
        outcome.current_state = labels.label(outcome.current_state, "rectification_state")
    return outcome


def _on_case(fn):
    """A command on a case chosen in the form: an unknown case, or one outside the
    supervisor's jurisdiction, is an error beside the case field, not a missing page."""
    def run(*args: Any) -> Any:
        try:
            return fn(*args)
        except NotFound as exc:
            from mediation.errors import Invalid

            raise Invalid({"case_id": [_("案件不存在或不在您的辖区内")]}) from exc
    return run


def _after(outcome: web.Outcome, when: str | None, text: str):
    web.report(outcome, text)
    args = {k: v for k, v in request.args.items() if k in ("level", "region")}
    quarter = _quarter_of(dt.date.fromisoformat(when)) if when else request.args.get("quarter")
    if quarter:
        args["quarter"] = quarter
    return redirect(url_for("supervision_pages.evaluation_page", **args) + "#records")


@sup.post("/evaluation/inspections")
@login_required
def record_inspection():
    """Record an on-site inspection (the API's InspectionIn and command)."""
    user = _actor()

    def run() -> dict[str, Any]:
        schema = InspectionIn()
        data = web.form_data(schema)
        for check in reports.CHECKS:  # a check left unanswered is missing, not "no"
            if not request.form.get(check, "").strip():
                data.pop(check, None)
        return _on_case(commands.record_inspection)(user, schema.load(data))

    outcome = _localised(web.attempt(run))
    if not outcome.ok:
        return _evaluation_page(user, "inspection", outcome)
    return _after(outcome, outcome.value["inspected_on"], _("检查记录已保存"))


@sup.post("/evaluation/deductions")
@login_required
def record_deduction():
    """Deduct points, optionally with a deadline to rectify (DeductionIn, as the API)."""
    user = _actor()
    outcome = _localised(web.submit(DeductionIn(), _on_case(commands.record_deduction), user))
    if not outcome.ok:
        return _evaluation_page(user, "deduction", outcome)
    return _after(outcome, outcome.value["decided_on"], _("扣分已记录"))


@sup.post("/evaluation/rectifications")
@login_required
def order_rectification():
    """Order a rectification by a deadline (RectificationIn, as the API)."""
    user = _actor()
    outcome = _localised(web.submit(RectificationIn(), _on_case(commands.order_rectification), user))
    if not outcome.ok:
        return _evaluation_page(user, "rectification", outcome)
    return _after(outcome, outcome.value["due_on"], _("整改要求已下达"))


@sup.post("/evaluation/rectifications/<int:rect_id>/done")
@login_required
def rectification_done(rect_id: int):
    """Mark a rectification done (the API's RectifiedIn; once only)."""
    user = _actor()

    def run() -> dict[str, Any]:
        schema = RectifiedIn()
        data = schema.load(web.form_data(schema))
        return commands.complete_rectification(user, rect_id, data["done_on"] or _today(), data["note"])

    outcome = _localised(web.attempt(run))
    if not outcome.ok:
        return _evaluation_page(user, "done", outcome, rect_id)
    return _after(outcome, outcome.value["due_on"], _("整改已标记完成"))


# --- ledger ------------------------------------------------------------------------------------

def _ledger_user() -> User:
    user = _me()
    if not can(user, Action.LEDGER_USE):
        raise NotFound("page")
    return user


def _ledger_page(user: User, result: Any = None, token: str | None = None, error: str | None = None,
                 status: int = 200):
    return web.render_page("supervision/ledger.html", status, result=result, token=token, error=error,
                           can_import=can(user, Action.CASE_CREATE), columns=_ledger_columns())


LEDGER_KIND_HINTS = {
    "text": _l("文字"), "date": _l("日期，年-月-日"), "int": _l("整数"),
    "list": _l("可填多个，用顿号、逗号或分号分隔"), "people": _l("多名信访人按同一顺序用分号分隔"),
}


def _ledger_columns() -> list[tuple[str, str]]:
    from mediation.supervision.ledger import CODED, COLUMNS, HEADERS

    required = {"reference", "title", "region_code"}
    return [(HEADERS[k], str(LEDGER_KIND_HINTS[kind]) + ("；" + _("必填") if k in required else "")
             + ("；" + _("填名称或代码") if k in CODED or k == "region_code" else ""))
            for k, _zh, kind in COLUMNS]


def _run_import(user: User, data: bytes, dry_run: bool) -> Any:
    from mediation.supervision.ledger import ImportResult, import_ledger

    try:
        result = import_ledger(data, user, dry_run=dry_run)
        for e in result.errors:  # marshmallow's and the command's words, in the page's language
            e["message"] = _msg(web.message(e["message"]))
        return result
    except DomainError:
        raise
    except Exception:  # not a workbook openpyxl can read
        db.session.rollback()
        return ImportResult(dry_run=dry_run, errors=[{"row": "—", "column": "—",
                                                      "message": _("不是有效的 xlsx 文件")}])


@sup.get("/ledger")
@login_required
def ledger():
    """The ledger (台账): the template, the upload with its dry run, the export."""
    return _ledger_page(_ledger_user())


@sup.post("/ledger/check")
@login_required
def ledger_check():
    """Upload a ledger: a dry run lists every error by row and column and writes nothing."""
    user = _ledger_user()
    if not can(user, Action.CASE_CREATE):
        return _ledger_page(user, error=_("台账导入由案件专员办理"), status=403)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _ledger_page(user, error=_("请选择要上传的 xlsx 文件"), status=422)
    data = upload.read()
    result = _run_import(user, data, dry_run=True)
    if not result.ok:
        return _ledger_page(user, result=result, status=422)
    # The checked file waits for the import (encrypted), for this signed-in user only.
    token = uploads.store(data)
    session["ledger_upload"] = {"token": token, "name": upload.filename, "user": user.id}
    return _ledger_page(user, result=result, token=token)


@sup.post("/ledger/import")
@login_required
def ledger_import():
    """Import the file the dry run checked: every row or none."""
    user = _ledger_user()
    pending = session.get("ledger_upload") or {}
    token = request.form.get("token", "")
    if not can(user, Action.CASE_CREATE):
        return _ledger_page(user, error=_("台账导入由案件专员办理"), status=403)
    if not token or pending.get("token") != token or pending.get("user") != user.id:
        return _ledger_page(user, error=_("请先上传并检查台账文件"), status=409)
    data = uploads.load(token)
    if data is None:
        session.pop("ledger_upload", None)
        return _ledger_page(user, error=_("上传的文件已过期，请重新上传"), status=409)
    result = _run_import(user, data, dry_run=False)
    if not result.ok:  # the ledger changed since the check (say, a reference now taken)
        return _ledger_page(user, result=result, status=422)
    uploads.discard(token)
    session.pop("ledger_upload", None)
    web.report(web.Outcome(result), _("已导入 %(n)s 件；%(s)s 件已在台账中（跳过）", n=len(result.created),
                                      s=len(result.skipped)))
    return redirect(url_for("supervision_pages.ledger"))


@sup.get("/ledger/template.xlsx")
@login_required
def ledger_template():
    """The import template."""
    import io

    from mediation.supervision.ledger import write_template

    _ledger_user()
    buf = io.BytesIO()
    write_template(buf)
    return _download(buf.getvalue(), XLSX, "ledger-template.xlsx")


@sup.get("/ledger/export.xlsx")
@login_required
def ledger_export():
    """The ledger of the user's jurisdiction (identity and phone numbers masked)."""
    import io

    from mediation.supervision.ledger import export_ledger

    user = _ledger_user()
    prefix = region_prefix(user.region) if user.region and user.role != Role.ADMIN.value else ""
    buf = io.BytesIO()
    export_ledger(buf, Scope(prefix))
    return _download(buf.getvalue(), XLSX, f"ledger-{_today().isoformat()}.xlsx")


# --- the evaluator's page ----------------------------------------------------------------------

def _evaluator() -> User:
    user = _me()
    if not can(user, Action.EVALUATION_EXPORT):
        raise NotFound("page")
    return user


@sup.get("/evaluation-data")
@login_required
def evaluation_data():
    """The anonymised data set for third-party evaluation: what it holds, and the download."""
    _evaluator()
    return render_template("supervision/evaluation_data.html", columns=evaluation.COLUMNS)


@sup.get("/evaluation-data/export.<fmt>")
@login_required
def evaluation_export(fmt: str):
    """The anonymised data set (the API's own export), as csv or xlsx."""
    _evaluator()
    stamp = _today().isoformat()
    if fmt == "xlsx":
        return _download(evaluation.export_xlsx(), XLSX, f"evaluation-{stamp}.xlsx")
    if fmt == "csv":
        return _download(evaluation.export_csv(), "text/csv; charset=utf-8", f"evaluation-{stamp}.csv")
    raise NotFound("format")

