"""Supervision API: KPIs, weekly/monthly/quarterly reports, the quarterly evaluation's
records, satisfaction surveys and the evaluation export."""

from __future__ import annotations

import datetime as dt

import marshmallow as ma
from flask import Response, url_for
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import fields, validate

from mediation import clock
from mediation.api.auth import authenticated, bearer_token, current
from mediation.permissions import Action, can
from mediation.schemas.base import valid_region
from mediation.schemas.supervision import (
    AnswerIn,
    DeductionIn,
    InspectionIn,
    RectificationIn,
    RectifiedIn,
    SurveyIn,
)
from mediation.supervision import commands, evaluation, kpis, reports
from mediation.supervision.scope import report_scope
from mediation.timeline import iso
from mediation.users import user_for_token
from mediation.validation import InputSchema, parses

blp = Blueprint("supervision", __name__, url_prefix="/api",
                description="Supervision: KPIs, reports, evaluation, surveys")


def _today() -> dt.date:
    return clock.today()


class Args(InputSchema):
    pass


class KpiArgs(Args):
    date = fields.Date(metadata={"description": "as of the end of this day (the service's day, "
                                                "MEDIATION_TIMEZONE); default today"})
    region = fields.String(validate=valid_region, metadata={"description": "GB/T 2260 code"})
    level = fields.String(validate=validate.OneOf(kpis.GROUPINGS),
                          metadata={"description": "group by province, city, county or department"})


class WeeklyArgs(Args):
    week = fields.String(validate=[validate.Regexp(r"^\d{4}-W\d{2}$"), parses(reports.parse_week)],
                         metadata={"description": "ISO week YYYY-Www; default this week"})
    region = fields.String(validate=valid_region)


class MonthlyArgs(Args):
    month = fields.String(validate=[validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$"),
                                    parses(reports.parse_month)],
                          metadata={"description": "YYYY-MM; default this month"})
    region = fields.String(validate=valid_region)
    level = fields.String(load_default="county", validate=validate.OneOf(("province", "city", "county")))
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "xlsx")))


class QuarterlyArgs(Args):
    quarter = fields.String(validate=[validate.Regexp(r"^\d{4}-Q[1-4]$"), parses(reports.parse_quarter)],
                            metadata={"description": "YYYY-Qn; default this quarter"})
    region = fields.String(validate=valid_region)
    level = fields.String(load_default="county", validate=validate.OneOf(("province", "city", "county")))


class KpiReportOut(ma.Schema):
    as_of = fields.String()
    region = fields.String(allow_none=True)
    level = fields.String(allow_none=True)
    cases = fields.Integer()
    definitions = fields.List(fields.Dict())
    kpis = fields.Dict(metadata={"description": "key -> numerator, denominator, value, target, met"})
    groups = fields.List(fields.Dict())
    backlog_until = fields.String(metadata={
        "description": "the action's cut-off (MEDIATION_ACTION_BACKLOG_UNTIL): cases listed by "
                       "then are its backlog (存量), later ones its increment (增量)"})
    segments = fields.Dict(metadata={
        "description": "stock and increment: each with cases and kpis as above"})


def _from() -> fields.String:
    return fields.String(data_key="from", attribute="from", metadata={"description": "first day"})


def _to() -> fields.String:
    return fields.String(data_key="to", attribute="to", metadata={"description": "last day"})


class ListedOut(ma.Schema):
    total = fields.Integer()
    cases = fields.List(fields.Dict(), metadata={"description": "at most 500 briefs"})


class PetitionCountsOut(ma.Schema):
    from_ = _from()
    to = _to()
    total = fields.Dict(metadata={"description": "petitions (件次), persons (人次), repeat (重复访), "
                                  "skip_level (越级访), group_visits (集体访)"})
    by_region = fields.List(fields.Dict())
    by_department = fields.List(fields.Dict())


class MissedVisitsOut(ma.Schema):
    total = fields.Integer()
    visits = fields.List(fields.Dict(), metadata={"description": "the first ones by due date: "
                                                  "case, basis, due_on, days_late"})


class WeeklyOut(ma.Schema):
    week = fields.String()
    from_ = _from()
    to = _to()
    as_of = fields.String()
    region = fields.String(allow_none=True)
    stall_days = fields.Integer()
    progress = fields.List(fields.Dict(), metadata={"description": "per case: events of the week"})
    stalled = fields.Nested(ListedOut)
    overdue = fields.Nested(ListedOut)
    due_soon = fields.List(fields.Dict())
    signals = fields.Dict(metadata={"description": "reopened_after_resolution, "
                                    "no_meaningful_progress, owner_duties_overdue"})
    petitions = fields.Nested(PetitionCountsOut, metadata={
        "description": "petitions received in the week: repeats and 越级访 by region and department"})
    followup_visits_missed = fields.Nested(MissedVisitsOut, metadata={
        "description": "follow-up visits (回访) due and not made, on open cases"})
    missing_papers = fields.Nested(ListedOut, metadata={
        "description": "cases whose file lacks a paper their stage asks for (档案完整), each with "
                       "the kinds it lacks"})
    handovers_overdue = fields.Dict(metadata={
        "description": "hand-overs (交办) whose department owes its reply past the due day: "
                       "total and handovers (case, matter, department, due_on, days_overdue)"})
    orders_overdue = fields.Dict(metadata={
        "description": "supervision orders (督办单) open past their deadline (a Beijing day) without "
                       "an answer, on the cases of the reader's jurisdiction: total and orders "
                       "(number, reference, addressee_name, addressee_capacity, due_on, days_overdue)"})


class MonthlyOut(ma.Schema):
    month = fields.String()
    as_of = fields.String()
    previous_as_of = fields.String()
    region = fields.String(allow_none=True)
    level = fields.String()
    definitions = fields.List(fields.Dict())
    regions = fields.List(fields.Dict(), metadata={"description": "league table by region"})
    departments = fields.List(fields.Dict(), metadata={"description": "league table by department"})
    petitions = fields.Nested(PetitionCountsOut, metadata={
        "description": "petitions received in the month: repeats and 越级访 by region and department"})


class ScoresOut(ma.Schema):
    regions = fields.List(fields.Dict())
    departments = fields.List(fields.Dict())


class InspectionOut(ma.Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    inspected_on = fields.String()
    responsibility_in_place = fields.Boolean()
    truly_resolved = fields.Boolean()
    procedure_regular = fields.Boolean()
    file_complete = fields.Boolean()
    passed = fields.Boolean()
    findings = fields.String()
    inspector_id = fields.Integer()


class RectificationOut(ma.Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    deduction_id = fields.Integer(allow_none=True)
    inspection_id = fields.Integer(allow_none=True)
    requirement = fields.String()
    due_on = fields.String()
    done_on = fields.String(allow_none=True)
    done_note = fields.String(allow_none=True)
    state = fields.String(metadata={"description": "open, overdue, done or done_late"})


class DeductionOut(ma.Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    inspection_id = fields.Integer(allow_none=True)
    kind = fields.String()
    points = fields.Float()
    reason = fields.String()
    decided_on = fields.String()
    rectification = fields.Nested(RectificationOut, metadata={"description": "when rectify_by was given"})


class QuarterlyOut(ma.Schema):
    quarter = fields.String()
    from_ = _from()
    to = _to()
    region = fields.String(allow_none=True)
    level = fields.String()
    scoring = fields.Dict()
    inspections = fields.List(fields.Dict())
    deductions = fields.List(fields.Dict())
    rectifications = fields.List(fields.Dict())
    accountability = fields.List(fields.Dict(), metadata={
        "description": "约谈提醒 (warning_talk) and 问责 (accountability) records decided in the quarter, "
                       "each with the cases it concerns; counted in the scores"})
    scores = fields.Nested(ScoresOut)


class SurveyInfoOut(ma.Schema):
    expires_at = fields.String()
    scale = fields.List(fields.Integer(), metadata={"description": "lowest and highest rating"})


class AnswerOut(ma.Schema):
    id = fields.Integer()
    rating = fields.Integer()


class SurveyOut(ma.Schema):
    invite_id = fields.Integer()
    token = fields.String()
    url = fields.String()
    expires_at = fields.String()
    sms = fields.String(allow_none=True, metadata={
        "description": "with sms: sent, quiet_hours (nothing sent: try in the day) or no_phone"})


class ExportArgs(Args):
    format = fields.String(load_default="csv", validate=validate.OneOf(("csv", "xlsx")))


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _download(body: bytes | str, mimetype: str, filename: str) -> Response:
    return Response(body, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@blp.route("/reports/kpis")
class Kpis(MethodView):
    @authenticated
    @blp.arguments(KpiArgs, location="query")
    @blp.response(200, KpiReportOut)
    def get(self, args):
        """The KPIs as of a date, each with its definition and target, optionally grouped."""
        scope = report_scope(current(), args.get("region"))
        return kpis.report(scope, args.get("date") or _today(), args.get("level"))


@blp.route("/reports/weekly")
class Weekly(MethodView):
    @authenticated
    @blp.arguments(WeeklyArgs, location="query")
    @blp.response(200, WeeklyOut)
    def get(self, args):
        """Weekly scheduling (周调度): progress, stalled cases, clocks, signals."""
        scope = report_scope(current(), args.get("region"))
        today = _today()
        monday = reports.parse_week(args["week"]) if "week" in args else (
            today - dt.timedelta(days=today.weekday()))
        return reports.weekly(scope, monday, today)


@blp.route("/reports/monthly")
class Monthly(MethodView):
    @authenticated
    @blp.arguments(MonthlyArgs, location="query")
    @blp.response(200, MonthlyOut)
    @blp.doc(responses={"200": {"description": "JSON, or an xlsx workbook with format=xlsx", "content": {
        "application/json": {"schema": MonthlyOut},
        XLSX: {"schema": {"type": "string", "format": "binary"}}}}})
    def get(self, args):
        """Monthly bulletin (月通报): league tables by region and by department."""
        scope = report_scope(current(), args.get("region"))
        month = args.get("month") or _today().strftime("%Y-%m")
        body = reports.monthly(scope, month, args["level"])
        if args["format"] == "xlsx":
            return _download(reports.monthly_xlsx(body), XLSX, f"bulletin-{month}.xlsx")
        return body


@blp.route("/reports/quarterly")
class Quarterly(MethodView):
    @authenticated
    @blp.arguments(QuarterlyArgs, location="query")
    @blp.response(200, QuarterlyOut)
    def get(self, args):
        """Quarterly evaluation (季考评): inspections, deductions, rectifications, scores."""
        scope = report_scope(current(), args.get("region"))
        today = _today()
        quarter = args.get("quarter") or f"{today.year}-Q{(today.month - 1) // 3 + 1}"
        return reports.quarterly(scope, quarter, args["level"], today)


@blp.route("/reports/inspections")
class Inspections(MethodView):
    @authenticated
    @blp.arguments(InspectionIn)
    @blp.response(201, InspectionOut)
    def post(self, data):
        """Record an on-site inspection with the four checks and findings."""
        return commands.record_inspection(current(), data)


@blp.route("/reports/deductions")
class Deductions(MethodView):
    @authenticated
    @blp.arguments(DeductionIn)
    @blp.response(201, DeductionOut)
    def post(self, data):
        """Deduct points for fake resolution or idle handling; optionally set a deadline."""
        return commands.record_deduction(current(), data)


@blp.route("/reports/rectifications")
class Rectifications(MethodView):
    @authenticated
    @blp.arguments(RectificationIn)
    @blp.response(201, RectificationOut)
    def post(self, data):
        """Order a rectification by a deadline."""
        return commands.order_rectification(current(), data)


@blp.route("/reports/rectifications/<int:rect_id>/done")
class RectificationDone(MethodView):
    @authenticated
    @blp.arguments(RectifiedIn)
    @blp.response(200, RectificationOut)
    def post(self, data, rect_id):
        """Mark a rectification done (once)."""
        return commands.complete_rectification(current(), rect_id, data["done_on"] or _today(),
                                               data["note"])


@blp.route("/cases/<int:case_id>/surveys")
class CaseSurveys(MethodView):
    @authenticated
    @blp.arguments(SurveyIn)
    @blp.response(201, SurveyOut)
    def post(self, data, case_id):
        """Make a one-time satisfaction survey link for the petitioner."""
        from mediation.extensions import db
        from mediation.notifications import petitioner

        token, invite = commands.send_survey(current(), case_id, data.get("ttl_days"))
        link = url_for("survey_pages.survey", token=token, _external=True)
        sms = petitioner.sms_petitioners(case_id, "survey.sent", link,
                                               f"survey_invite:{invite.id}") if data["sms"] else None
        db.session.commit()  # what send_survey wrote; the SMS go after it
        return {"invite_id": invite.id, "token": token, "expires_at": iso(invite.expires_at),
                "url": link, "sms": sms}


@blp.route("/surveys/<token>")
class Survey(MethodView):
    @blp.doc(security=[])
    @blp.response(200, SurveyInfoOut)
    def get(self, token):
        """What the petitioner is asked about (no login: the link is the credential)."""
        invite = commands.survey_for(token)
        return {"expires_at": iso(invite.expires_at), "scale": [1, 5]}

    @blp.doc(security=[])
    @blp.arguments(AnswerIn)
    @blp.response(201, AnswerOut)
    def post(self, data, token):
        """Answer the survey: a rating from 1 to 5 and a comment; once per link."""
        bearer = bearer_token()
        answer = commands.answer_survey(token, data["rating"], data["comment"],
                                        user_for_token(bearer) if bearer else None)
        return {"id": answer.id, "rating": answer.rating}


@blp.route("/evaluation/export")
class EvaluationExport(MethodView):
    @authenticated
    @blp.arguments(ExportArgs, location="query")
    @blp.doc(responses={"200": {"description": "CSV or xlsx: anonymised, one row per case"}})
    def get(self, args):
        """The anonymised data set for third-party evaluators (第三方评估)."""
        if not can(current(), Action.EVALUATION_EXPORT):
            abort(403, message="the evaluation export is for evaluators")
        stamp = _today().isoformat()
        if args["format"] == "xlsx":
            return _download(evaluation.export_xlsx(), XLSX, f"evaluation-{stamp}.xlsx")
        return _download(evaluation.export_csv(), "text/csv; charset=utf-8", f"evaluation-{stamp}.csv")


def init_app(app) -> None:
    """Register the API blueprint and the survey page."""
    from mediation.extensions import api, csrf
    from mediation.supervision import pages, reminders, uploads

    api.register_blueprint(blp)
    csrf.exempt(blp)
    app.register_blueprint(pages.bp)
    # The survey form is reached by link, with no login: a post to the link carries the
    # unguessable token a forged cross-site post would lack; the form at /survey, whose
    # token is in the session, checks its CSRF token itself.
    csrf.exempt(pages.bp)
    pages.init_app(app)  # the supervisors' and the evaluator's pages
    reminders.init_app(app)
    uploads.init_app(app)  # waiting ledger uploads, deleted when their time is up
