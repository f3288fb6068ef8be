"""What the departments API takes and gives."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from mediation.departments.models import DepartmentKind, HandoverStatus
from mediation.schemas.base import StrictSchema, Text, one_of, valid_region


class DepartmentListArgs(StrictSchema):
    region = fields.String(validate=valid_region,
                           metadata={"description": "departments of this GB/T 2260 region and above"})
    kind = fields.String(validate=one_of(DepartmentKind))
    active = fields.Boolean()


class DepartmentFields:
    name = fields.String(validate=validate.Length(min=1, max=120))
    kind = fields.String(validate=one_of(DepartmentKind))
    region_code = fields.String(validate=valid_region,
                                metadata={"description": "GB/T 2260 code of its region, e.g. 510100"})
    contact = Text(200, allow_none=True)
    user_ids = fields.List(fields.Integer(), validate=validate.Length(max=50),
                           metadata={"description": "accounts (role department) acting for it"})


class DepartmentIn(DepartmentFields, StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    kind = fields.String(required=True, validate=one_of(DepartmentKind))
    region_code = fields.String(required=True, validate=valid_region)


class DepartmentPatch(DepartmentFields, StrictSchema):
    active = fields.Boolean()


class DepartmentOut(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.String()
    region_code = fields.String()
    level = fields.String(metadata={"description": "province, city or county (from the code)"})
    contact = fields.String()
    active = fields.Boolean()
    user_ids = fields.List(fields.Integer())


# --- hand-overs ------------------------------------------------------------------------------

class HandoverIn(StrictSchema):
    department_ids = fields.List(fields.Integer(), required=True,
                                 validate=validate.Length(min=1, max=20),
                                 metadata={"description": "one hand-over to each department"})
    matter = fields.String(required=True, validate=validate.Length(min=1, max=200))
    ask = fields.String(required=True, validate=validate.Length(min=1, max=4000))
    due_on = fields.Date(required=True, metadata={"description": "a Beijing day, today or later"})


class HandoverSend(StrictSchema):
    """Sending a suggested hand-over: what is asked and the deadline, filled in now."""

    matter = fields.String(validate=validate.Length(min=1, max=200))
    ask = fields.String(required=True, validate=validate.Length(min=1, max=4000))
    due_on = fields.Date(required=True)


class HandoverListArgs(StrictSchema):
    status = fields.String(validate=one_of(HandoverStatus))
    overdue = fields.Boolean()


class ReplyIn(StrictSchema):
    result = fields.String(required=True, validate=validate.Length(min=1, max=4000))
    measures = Text(4000, load_default="")


class ReasonIn(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class ReplyOut(ma.Schema):
    id = fields.Integer()
    result = fields.String()
    measures = fields.String()
    replied_by_id = fields.Integer(allow_none=True)
    replied_at = fields.DateTime()
    decision = fields.String(allow_none=True)
    decision_reason = fields.String()
    decided_at = fields.DateTime(allow_none=True)
    document_ids = fields.List(fields.Integer())


class HandoverOut(ma.Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    case_reference = fields.String()
    case_region_code = fields.String()
    department = fields.Dict()
    matter = fields.String()
    ask = fields.String()
    due_on = fields.Date(allow_none=True)
    status = fields.String()
    overdue = fields.Boolean()
    days_left = fields.Integer(allow_none=True)
    source = fields.String()
    rounds = fields.Integer()
    return_reason = fields.String()
    withdraw_reason = fields.String()
    created_by_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)
    acknowledged_at = fields.DateTime(allow_none=True)
    replied_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    replies = fields.List(fields.Nested(ReplyOut))


class HandoverEventOut(ma.Schema):
    seq = fields.Integer()
    type = fields.String()
    at = fields.DateTime()
    actor_id = fields.Integer(allow_none=True)
    data = fields.Dict()
