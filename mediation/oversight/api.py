"""Oversight API: responsible people per region, task forces, supervision orders (督办单),
warning talks and accountability records."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from mediation.api.auth import authenticated, current
from mediation.oversight import commands
from mediation.oversight.models import ORDER_STATES
from mediation.schemas.base import valid_region
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
from mediation.validation import InputSchema, parses

blp = Blueprint("oversight", __name__, url_prefix="/api",
                description="Oversight: responsible people, task forces, supervision orders, accountability")


class RegionArgs(InputSchema):
    region = fields.String(validate=valid_region, metadata={"description": "GB/T 2260 code"})


class OrderArgs(InputSchema):
    state = fields.String(validate=validate.OneOf((*ORDER_STATES, "overdue")))
    region = fields.String(validate=valid_region)
    case_id = fields.Integer()
    mine = fields.Boolean(load_default=False, metadata={"description": "only orders addressed to me"})


class QuarterArgs(InputSchema):
    quarter = fields.String(validate=[validate.Regexp(r"^\d{4}-Q[1-4]$"), parses(reports.parse_quarter)],
                            metadata={"description": "YYYY-Qn; default this quarter"})
    region = fields.String(validate=valid_region)


class PersonOut(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    role = fields.String()
    region = fields.String(allow_none=True)


class ResponsibleOut(ma.Schema):
    region_code = fields.String()
    kind = fields.String(metadata={"description": "first 第一责任人 or direct 直接责任人"})
    user = fields.Nested(PersonOut)
    named_at = fields.String()


class MemberOut(ma.Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    user_id = fields.Integer()
    user = fields.Nested(PersonOut)
    role = fields.String()
    added_at = fields.String()


class OrderOut(ma.Schema):
    id = fields.Integer()
    number = fields.String(metadata={"description": "文号"})
    case_id = fields.Integer()
    case_reference = fields.String(allow_none=True)
    case_title = fields.String(allow_none=True)
    subject = fields.String()
    handover_id = fields.Integer(allow_none=True)
    region_code = fields.String()
    addressee_id = fields.Integer(allow_none=True)
    addressee = fields.Nested(PersonOut, allow_none=True)
    department_id = fields.Integer(allow_none=True, metadata={"description": "an order to a department"})
    department = fields.Dict(allow_none=True)
    addressee_name = fields.String()
    addressee_capacity = fields.String(metadata={"description": "first, direct or department"})
    requirement = fields.String()
    issued_on = fields.String()
    due_on = fields.String()
    state = fields.String(metadata={"description": "open, answered or escalated"})
    overdue = fields.Boolean()
    days_overdue = fields.Integer()
    level = fields.Integer(metadata={"description": "escalations so far"})
    parent_id = fields.Integer(allow_none=True)
    issued_by_id = fields.Integer(allow_none=True)
    issued_by = fields.Nested(PersonOut, allow_none=True)
    answer = fields.String()
    answered_on = fields.String(allow_none=True)
    escalated_at = fields.String(allow_none=True)
    escalated_from = fields.List(fields.Dict())
    escalated_to = fields.Integer(allow_none=True)
    can_answer = fields.Boolean()
    sees_case = fields.Boolean()


class RecordOut(ma.Schema):
    id = fields.Integer()
    kind = fields.String()
    subject_kind = fields.String()
    subject_user = fields.Nested(PersonOut, allow_none=True)
    subject_user_id = fields.Integer(allow_none=True)
    subject_name = fields.String(allow_none=True)
    department = fields.String(allow_none=True)
    region_code = fields.String()
    decided_on = fields.String()
    reason = fields.String()
    measures = fields.String()
    cases = fields.List(fields.Dict())
    recorded_by_id = fields.Integer(allow_none=True)


@blp.route("/responsibles")
class Responsibles(MethodView):
    @authenticated
    @blp.arguments(RegionArgs, location="query")
    @blp.response(200, ResponsibleOut(many=True))
    def get(self, args):
        """第一责任人 and 直接责任人 of the regions of the reader's jurisdiction."""
        return commands.responsibles(current(), args.get("region"))


@blp.route("/regions/<region_code>/responsibles/<kind>")
class Responsible(MethodView):
    @authenticated
    @blp.arguments(ResponsibleIn)
    @blp.response(200, ResponsibleOut)
    def put(self, data, region_code, kind):
        """Name the region's first (第一责任人) or direct (直接责任人) responsible person."""
        return commands.name_responsible(current(), region_code, kind, data["user_id"])

    @authenticated
    @blp.response(204)
    def delete(self, region_code, kind):
        """No one is named in that capacity any more."""
        commands.clear_responsible(current(), region_code, kind)


@blp.route("/cases/<int:case_id>/task-force")
class TaskForce(MethodView):
    @authenticated
    @blp.response(200, MemberOut(many=True))
    def get(self, case_id):
        """The case's task force (工作专班): members and their roles (officials of the case)."""
        return commands.task_force(current(), case_id)

    @authenticated
    @blp.arguments(MemberIn)
    @blp.response(201, MemberOut)
    def post(self, data, case_id):
        """Put an official on the task force; they see the case from then on."""
        return commands.add_member(current(), case_id, data["user_id"], data["role"])


@blp.route("/cases/<int:case_id>/task-force/<int:user_id>")
class TaskForceMember(MethodView):
    @authenticated
    @blp.response(204)
    def delete(self, case_id, user_id):
        """Take a member off the task force; they no longer see the case through it."""
        commands.remove_member(current(), case_id, user_id)


@blp.route("/cases/<int:case_id>/orders")
class CaseOrders(MethodView):
    @authenticated
    @blp.arguments(OrderIn)
    @blp.response(201, OrderOut)
    def post(self, data, case_id):
        """Issue a supervision order (督办单) on the case to a region's responsible person."""
        return commands.issue_order(current(), case_id, data)


@blp.route("/handovers/<int:handover_id>/orders")
class HandoverOrders(MethodView):
    @authenticated
    @blp.arguments(HandoverOrderIn)
    @blp.response(201, OrderOut)
    def post(self, data, handover_id):
        """Issue a supervision order on an overdue hand-over to its department (409 if not overdue)."""
        return commands.issue_handover_order(current(), handover_id, data)


@blp.route("/orders")
class Orders(MethodView):
    @authenticated
    @blp.arguments(OrderArgs, location="query")
    @blp.response(200, OrderOut(many=True))
    def get(self, args):
        """Orders addressed to me, and those on the cases of my jurisdiction (readers of figures)."""
        return commands.orders(current(), args.get("state"), args.get("region"), args.get("case_id"),
                               args["mine"])


@blp.route("/orders/<int:order_id>")
class Order(MethodView):
    @authenticated
    @blp.response(200, OrderOut)
    def get(self, order_id):
        """One order, with the orders it was escalated from and to."""
        return commands.get_order(current(), order_id)


@blp.route("/orders/<int:order_id>/answer")
class OrderAnswer(MethodView):
    @authenticated
    @blp.arguments(AnswerOrderIn)
    @blp.response(200, OrderOut)
    def post(self, data, order_id):
        """The addressee's answer (办理情况); once, while the order is open (409 otherwise)."""
        return commands.answer_order(current(), order_id, data["answer"])


@blp.route("/accountability")
class Accountability(MethodView):
    @authenticated
    @blp.arguments(QuarterArgs, location="query")
    @blp.response(200, RecordOut(many=True))
    def get(self, args):
        """约谈提醒 and 问责 records of the quarter in the reader's jurisdiction."""
        from mediation import clock
        from mediation.oversight import counting

        scope = report_scope(current(), args.get("region"))
        today = clock.today()
        quarter = args.get("quarter") or f"{today.year}-Q{(today.month - 1) // 3 + 1}"
        first, last = reports.parse_quarter(quarter)
        return counting.listed(scope.prefix, first, last)

    @authenticated
    @blp.arguments(AccountabilityIn)
    @blp.response(201, RecordOut)
    def post(self, data):
        """Record a warning talk or accountability against a person, region or department."""
        return commands.record_accountability(current(), data)


def init_app(app) -> None:
    from mediation.extensions import api, csrf

    api.register_blueprint(blp)
    csrf.exempt(blp)
