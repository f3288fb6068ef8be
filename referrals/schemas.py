"""What the referrals API takes and gives."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from mediation.cases.models import LivelihoodField, Need
from mediation.schemas.base import StrictSchema, Text, one_of, valid_region
from referrals.models import (
    DeclineReason,
    MediationType,
    Outcome,
    ProviderKind,
    ReferralStatus,
    RiskLevel,
    SupportKind,
)


class ProviderFields:
    name = fields.String(validate=validate.Length(min=1, max=200))
    kind = fields.String(validate=one_of(ProviderKind))
    mediation_type = fields.String(validate=one_of(MediationType), allow_none=True,
                                   metadata={"description": "mediators only"})
    specialities = fields.List(fields.String(validate=one_of(LivelihoodField)),
                               validate=validate.Length(max=10))
    regions = fields.List(fields.String(validate=validate.Length(min=2, max=6)),
                          validate=validate.Length(min=1, max=100),
                          metadata={"description": "GB/T 2260 codes served, e.g. 5101"})
    capacity = fields.Integer(validate=validate.Range(min=0, max=1000),
                              metadata={"description": "open referrals at once"})
    available = fields.Boolean()
    away_until = fields.Date(allow_none=True)
    requested_capacity = fields.Integer(
        validate=validate.Range(min=0, max=1000), allow_none=True,
        metadata={"description": "members: ask for this capacity (null withdraws the request); "
                                 "editors: null refuses it, setting `capacity` decides it"})
    capacity_request_note = Text(500, allow_none=True, metadata={"description": "why"})
    conflicts = fields.List(fields.String(validate=validate.Length(min=1, max=200)),
                            validate=validate.Length(max=200),
                            metadata={"description": "parties or organisations declared"})
    note = Text(2000)
    user_ids = fields.List(fields.Integer(), validate=validate.Length(max=50),
                           metadata={"description": "user accounts that act for the provider"})


class ProviderIn(ProviderFields, StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.String(required=True, validate=one_of(ProviderKind))
    regions = fields.List(fields.String(validate=validate.Length(min=2, max=6)), required=True,
                          validate=validate.Length(min=1, max=100))


class ProviderPatch(ProviderFields, StrictSchema):
    active = fields.Boolean()


class ProviderOut(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.String()
    mediation_type = fields.String(allow_none=True)
    specialities = fields.List(fields.String())
    regions = fields.List(fields.String())
    capacity = fields.Integer()
    load = fields.Integer()
    available = fields.Boolean()
    away_until = fields.Date(allow_none=True)
    requested_capacity = fields.Integer(allow_none=True)
    capacity_request_note = fields.String(allow_none=True)
    capacity_requested_at = fields.DateTime(allow_none=True)
    active = fields.Boolean()
    conflicts = fields.List(fields.String())
    note = fields.String()
    user_ids = fields.List(fields.Integer())
    last_offered_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ProviderListArgs(StrictSchema):
    kind = fields.String(validate=one_of(ProviderKind))
    need = fields.String(validate=one_of(Need), metadata={"description": "kinds that take it"})
    region = fields.String(validate=valid_region, metadata={"description": "serving this GB/T 2260 code"})
    available = fields.Boolean()
    active = fields.Boolean()
    q = fields.String(validate=validate.Length(min=1, max=100))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    page_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class ProviderPage(ma.Schema):
    items = fields.List(fields.Nested(ProviderOut))
    total = fields.Integer()
    page = fields.Integer()
    page_size = fields.Integer()


class CandidatesArgs(StrictSchema):
    need = fields.String(required=True, validate=one_of(Need))


class CandidateOut(ma.Schema):
    rank = fields.Integer()
    provider_id = fields.Integer()
    name = fields.String()
    kind = fields.String()
    score = fields.Float()
    reasons = fields.Dict()


class ReasonOut(ma.Schema):
    code = fields.String()
    message = fields.String()


class ExcludedOut(ma.Schema):
    provider_id = fields.Integer()
    name = fields.String()
    reasons = fields.List(fields.Nested(ReasonOut))


class CandidatesOut(ma.Schema):
    case_id = fields.Integer()
    need = fields.String()
    kinds = fields.List(fields.String())
    candidates = fields.List(fields.Nested(CandidateOut))
    excluded = fields.List(fields.Nested(ExcludedOut),
                           metadata={"description": "providers of the right kind and region "
                                                    "who may not take it, and why"})


class ReferralIn(StrictSchema):
    need = fields.String(required=True, validate=one_of(Need))
    provider_id = fields.Integer(metadata={"description": "offer to this provider; "
                                                          "omit to route to the best candidate"})


class ReferralOut(ma.Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    need = fields.String()
    status = fields.String()
    attempt = fields.Integer()
    provider = fields.Dict()
    offered_by_id = fields.Integer(allow_none=True)
    offered_at = fields.DateTime()
    respond_by = fields.DateTime()
    responded_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    decline_reason = fields.String(allow_none=True)
    decline_note = fields.String(allow_none=True)
    withdraw_reason = fields.String(allow_none=True)
    outcome = fields.String(allow_none=True)
    outcome_note = fields.String(allow_none=True)
    reasons = fields.Dict()


class ReferralListArgs(StrictSchema):
    mine = fields.Boolean(load_default=False,
                          metadata={"description": "only the referrals of your providers"})
    status = fields.String(validate=one_of(ReferralStatus))
    need = fields.String(validate=one_of(Need))
    case_id = fields.Integer()
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    page_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class ReferralPage(ma.Schema):
    items = fields.List(fields.Nested(ReferralOut))
    total = fields.Integer()
    page = fields.Integer()
    page_size = fields.Integer()


class DeclineIn(StrictSchema):
    reason = fields.String(required=True, validate=one_of(DeclineReason))
    note = Text(2000, allow_none=True, metadata={"description": "required for 'other'"})


class WithdrawIn(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    reroute = fields.Boolean(load_default=False,
                             metadata={"description": "officers: offer the need to the next "
                                                      "candidate"})


class CompleteIn(StrictSchema):
    outcome = fields.String(required=True, validate=one_of(Outcome))
    note = Text(5000, allow_none=True)


class RoutingNeedOut(ma.Schema):
    need = fields.String()
    state = fields.String()
    failed_offers = fields.Integer()
    waiting_since = fields.DateTime(allow_none=True)
    escalated_at = fields.DateTime(allow_none=True)
    live_referral_id = fields.Integer(allow_none=True)


class RoutingOut(ma.Schema):
    case_id = fields.Integer()
    mode = fields.String(metadata={"description": "auto or confirm (MEDIATION_ROUTING_ON_INTAKE)"})
    needs = fields.List(fields.Nested(RoutingNeedOut))


class LegalBasisIn(StrictSchema):
    law = fields.String(required=True, validate=validate.Length(min=1, max=200))
    article = fields.String(required=True, validate=validate.Length(min=1, max=100))
    note = Text(2000)


class OpinionIn(StrictSchema):
    summary = fields.String(required=True, validate=validate.Length(min=1, max=20000))
    legal_basis = fields.List(fields.Nested(LegalBasisIn), required=True,
                              validate=validate.Length(min=1, max=50))
    recommendation = fields.String(required=True, validate=validate.Length(min=1, max=20000))


class OpinionOut(ma.Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    referral_id = fields.Integer()
    provider_id = fields.Integer()
    author_id = fields.Integer()
    summary = fields.String()
    legal_basis = fields.List(fields.Dict())
    recommendation = fields.String()
    created_at = fields.DateTime()


class CounsellingIn(StrictSchema):
    session_on = fields.Date(required=True)
    risk_level = fields.String(required=True, validate=one_of(RiskLevel))
    content = fields.String(required=True, validate=validate.Length(min=1, max=20000),
                            metadata={"description": "confidential: its author alone reads it"})


class CounsellingOut(ma.Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    referral_id = fields.Integer()
    session_on = fields.Date()
    risk_level = fields.String()
    author_id = fields.Integer()
    content = fields.String(metadata={"description": "present for the author only"})
    created_at = fields.DateTime()


class SupportIn(StrictSchema):
    kind = fields.String(required=True, validate=one_of(SupportKind))
    given_on = fields.Date(required=True)
    description = fields.String(required=True, validate=validate.Length(min=1, max=20000))


class SupportOut(ma.Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    referral_id = fields.Integer()
    provider_id = fields.Integer()
    author_id = fields.Integer()
    kind = fields.String()
    given_on = fields.Date()
    description = fields.String()
    created_at = fields.DateTime()


class RecordCaseOut(ma.Schema):
    id = fields.Integer()
    reference = fields.String()
    title = fields.String()
    region_code = fields.String()


class RecordTimelineOut(ma.Schema):
    events = fields.List(fields.Dict())
    last_seq = fields.Integer(metadata={"description": "the referral's completion: nothing later"})
    truncated = fields.Boolean()


class RecordSessionOut(ma.Schema):
    id = fields.Integer()
    scheduled_at = fields.DateTime()
    ended_at = fields.DateTime(allow_none=True)
    topic = fields.String()
    minutes = fields.String()


class ReferralRecordOut(ma.Schema):
    """What the referral's provider keeps of the case after completing it."""

    referral_id = fields.Integer()
    status = fields.String()
    need = fields.String()
    outcome = fields.String(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    kept_until = fields.DateTime(allow_none=True)
    case = fields.Nested(RecordCaseOut)
    timeline = fields.Nested(RecordTimelineOut)
    opinions = fields.List(fields.Nested(OpinionOut))
    counselling_notes = fields.List(fields.Nested(CounsellingOut))
    sessions = fields.List(fields.Nested(RecordSessionOut))
    agreements = fields.List(fields.Dict())


class RecordReferralOut(ma.Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    reference = fields.String()
    title = fields.String()
    provider_id = fields.Integer()
    provider_name = fields.String()
    need = fields.String()
    status = fields.String()
    offered_at = fields.DateTime()
    responded_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    outcome = fields.String(allow_none=True)
    month = fields.String(metadata={"description": "the Beijing month of the offer, YYYY-MM"})
    record_until = fields.DateTime(allow_none=True, metadata={
        "description": "until when GET /api/referrals/{id}/record answers (completed ones)"})


class RecordMonthOut(ma.Schema):
    month = fields.String()
    offered = fields.Integer()
    accepted = fields.Integer()
    completed = fields.Integer()


class ProviderRecordOut(ma.Schema):
    """A provider's referrals, past and current, with counts (以案定补 claims)."""

    provider_ids = fields.List(fields.Integer())
    total = fields.Integer()
    by_status = fields.Dict(keys=fields.String(), values=fields.Integer())
    by_outcome = fields.Dict(keys=fields.String(), values=fields.Integer())
    by_month = fields.List(fields.Nested(RecordMonthOut))
    acceptance_rate = fields.Float(allow_none=True, metadata={
        "description": "accepted (ever) / offers answered or expired"})
    referrals = fields.List(fields.Nested(RecordReferralOut))
