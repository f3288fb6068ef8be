"""Oversight's inputs, shared by its API and its pages."""

from __future__ import annotations

from marshmallow import fields, validate

from mediation.oversight.models import MEMBER_ROLES, RECORD_KINDS, RESPONSIBLE_KINDS, SUBJECT_KINDS
from mediation.schemas.base import StrictSchema, valid_region


class ResponsibleIn(StrictSchema):
    user_id = fields.Integer(required=True, metadata={"description": "an official in the directory"})


class MemberIn(StrictSchema):
    user_id = fields.Integer(required=True)
    role = fields.String(required=True, validate=validate.OneOf(MEMBER_ROLES), metadata={
        "description": "leader 分管领导, backbone 业务骨干, petition_cadre 信访干部"})


class OrderIn(StrictSchema):
    requirement = fields.String(required=True, validate=validate.Length(min=1, max=5000),
                                metadata={"description": "督办事项: what must be done and answered"})
    due_on = fields.Date(required=True, metadata={"description": "办理时限: a local day after today"})
    region_code = fields.String(validate=valid_region, metadata={
        "description": "the region whose responsible person is addressed (covering the case's; "
                       "default the case's region)"})
    capacity = fields.String(validate=validate.OneOf(RESPONSIBLE_KINDS), metadata={
        "description": "first (第一责任人) or direct (直接责任人); default direct, else first"})


class HandoverOrderIn(StrictSchema):
    requirement = fields.String(required=True, validate=validate.Length(min=1, max=5000),
                                metadata={"description": "督办事项: what the department must do and answer"})
    due_on = fields.Date(required=True, metadata={"description": "办理时限: a local day after today"})


class AnswerOrderIn(StrictSchema):
    answer = fields.String(required=True, validate=validate.Length(min=1, max=10000),
                           metadata={"description": "办理情况: what was done"})


class AccountabilityIn(StrictSchema):
    kind = fields.String(required=True, validate=validate.OneOf(RECORD_KINDS),
                         metadata={"description": "warning_talk 约谈提醒 or accountability 问责"})
    subject_kind = fields.String(required=True, validate=validate.OneOf(SUBJECT_KINDS))
    user_id = fields.Integer(allow_none=True, metadata={"description": "the person (subject person)"})
    department = fields.String(allow_none=True, validate=validate.Length(max=100),
                               metadata={"description": "the department (subject department)"})
    region_code = fields.String(allow_none=True, validate=valid_region, metadata={
        "description": "the region (subject region; the department's; default the person's)"})
    decided_on = fields.Date(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=5000))
    measures = fields.String(load_default="", validate=validate.Length(max=5000))
    case_ids = fields.List(fields.Integer(), load_default=list, validate=validate.Length(max=200))
