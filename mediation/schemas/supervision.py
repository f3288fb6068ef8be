"""Supervision's inputs, shared by its API and its pages: inspections, deductions,
rectifications, survey links and answers."""

from __future__ import annotations

from marshmallow import fields, validate

from mediation.schemas.base import StrictSchema
from mediation.supervision.commands import DEDUCTION_KINDS


class InspectionIn(StrictSchema):
    case_id = fields.Integer(required=True)
    inspected_on = fields.Date(required=True)
    responsibility_in_place = fields.Boolean(required=True, metadata={"description": "责任落实"})
    truly_resolved = fields.Boolean(required=True, metadata={"description": "诉求真正解决"})
    procedure_regular = fields.Boolean(required=True, metadata={"description": "程序规范"})
    file_complete = fields.Boolean(required=True, metadata={"description": "档案完整"})
    findings = fields.String(load_default="", validate=validate.Length(max=20000))


class DeductionIn(StrictSchema):
    case_id = fields.Integer(required=True)
    inspection_id = fields.Integer(allow_none=True)
    kind = fields.String(required=True, validate=validate.OneOf(DEDUCTION_KINDS))
    points = fields.Decimal(required=True, places=2, as_string=False,
                            validate=validate.Range(min=0, min_inclusive=False, max=100))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=5000))
    decided_on = fields.Date()
    rectify_by = fields.Date(metadata={"description": "deadline to rectify (整改期限)"})
    requirement = fields.String(validate=validate.Length(max=5000))


class RectificationIn(StrictSchema):
    case_id = fields.Integer(required=True)
    deduction_id = fields.Integer(allow_none=True)
    inspection_id = fields.Integer(allow_none=True)
    requirement = fields.String(required=True, validate=validate.Length(min=1, max=5000))
    due_on = fields.Date(required=True)


class RectifiedIn(StrictSchema):
    done_on = fields.Date(load_default=None)
    note = fields.String(load_default="", validate=validate.Length(max=5000))


class SurveyIn(StrictSchema):
    ttl_days = fields.Integer(validate=validate.Range(min=1, max=90))
    sms = fields.Boolean(load_default=False,
                         metadata={"description": "also send the link by SMS to the petitioners' phones "
                                                  "(not in quiet hours)"})


class AnswerIn(StrictSchema):
    rating = fields.Integer(required=True, validate=validate.Range(min=1, max=5))
    comment = fields.String(load_default="", validate=validate.Length(max=2000))
