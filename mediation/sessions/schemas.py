"""What the sessions and agreements API takes and gives."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from mediation.cases.models import Channel, LodgedLevel, enum_values
from mediation.sessions.models import (
    Honoured,
    ParticipantKind,
    PerformanceKind,
    ResolutionBasis,
    SessionStatus,
    SignMethod,
    VisitMethod,
)
from mediation.validation import InputSchema

_text = fields.String(validate=validate.Length(max=20000))


class RespondentIn(InputSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    unit = fields.String(load_default="", validate=validate.Length(max=200))


class SessionIn(InputSchema):
    scheduled_at = fields.AwareDateTime(required=True, default_timezone=None)
    place = fields.String(load_default="", validate=validate.Length(max=200))
    online_link = fields.URL(load_default="", validate=validate.Length(max=500),
                             schemes={"http", "https"})
    topic = fields.String(load_default="", validate=validate.Length(max=200))
    mediator_id = fields.Integer(load_default=None, metadata={
        "description": "a mediator's user with an accepted referral; default: you"})
    petitioner_ids = fields.List(fields.Integer(), load_default=list)
    respondents = fields.List(fields.Nested(RespondentIn), load_default=list)
    user_ids = fields.List(fields.Integer(), load_default=list, metadata={
        "description": "users of providers with accepted referrals on the case"})
    invited_provider_ids = fields.List(fields.Integer(), load_default=list, metadata={
        "description": "deputies, CPPCC members and worthies from the directory"})
    lead_official = fields.Boolean(load_default=False)


class PostponeIn(InputSchema):
    scheduled_at = fields.AwareDateTime(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class CancelIn(InputSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class EndIn(InputSchema):
    minutes = fields.String(required=True, validate=validate.Length(max=100000),
                            metadata={"description": "the minutes (笔录)"})


class AttendanceItem(InputSchema):
    participant_id = fields.Integer(required=True)
    attended = fields.Boolean(required=True)


class AttendanceIn(InputSchema):
    attendance = fields.List(fields.Nested(AttendanceItem), required=True,
                             validate=validate.Length(min=1))


class ParticipantOut(ma.Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"enum": enum_values(ParticipantKind)})
    name = fields.String()
    unit = fields.String()
    user_id = fields.Integer(allow_none=True)
    petitioner_id = fields.Integer(allow_none=True)
    provider_id = fields.Integer(allow_none=True)
    attended = fields.Boolean(allow_none=True)


class SessionOut(ma.Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    mediator_id = fields.Integer()
    status = fields.String(metadata={"enum": enum_values(SessionStatus)})
    scheduled_at = fields.DateTime()
    place = fields.String()
    online_link = fields.String()
    topic = fields.String()
    postponements = fields.Integer()
    started_at = fields.DateTime(allow_none=True)
    ended_at = fields.DateTime(allow_none=True)
    minutes = fields.String()
    cancel_reason = fields.String(allow_none=True)
    participants = fields.List(fields.Nested(ParticipantOut))


class PartyIn(InputSchema):
    name = fields.String(required=True, validate=validate.Length(max=200))
    role = fields.String(load_default="petitioner",
                         validate=validate.OneOf(["petitioner", "respondent", "organ"]),
                         metadata={"description": "organ: the respondent is an administrative organ "
                                                  "(行政机关), which makes a 行政调解协议书"})
    details = fields.String(load_default="", validate=validate.Length(max=2000), metadata={
        "description": "basic details: sex, age, ethnicity, occupation, unit, address"})
    user_id = fields.Integer(load_default=None, metadata={
        "description": "the party's own account, if it signs through it"})


class AgreementContent(InputSchema):
    parties = fields.List(fields.Nested(PartyIn))
    facts = _text
    matters_in_dispute = _text
    responsibilities = _text
    terms = _text
    performance_manner = _text
    performance_time_limit = _text


class AgreementIn(AgreementContent):
    session_id = fields.Integer(load_default=None)


class AgreementPatch(AgreementContent):
    version = fields.Integer(required=True, metadata={
        "description": "the version you edited; a stale one is a 409"})


class SignIn(InputSchema):
    signer = fields.String(required=True, validate=validate.OneOf(["party", "mediator"]))
    party_index = fields.Integer(load_default=None)
    method = fields.String(required=True, validate=validate.OneOf(enum_values(SignMethod)),
                           metadata={"description": "account: yourself; hand, seal, fingerprint: "
                                                    "in person, recorded by an officer"})


class SignerOut(ma.Schema):
    signer = fields.String()
    name = fields.String()
    signed = fields.Boolean()


class SignatureOut(ma.Schema):
    signer = fields.String()
    signer_name = fields.String()
    method = fields.String()
    user_id = fields.Integer(allow_none=True)
    recorded_by_id = fields.Integer()
    signed_at = fields.DateTime()


class PartyOut(ma.Schema):
    name = fields.String()
    role = fields.String()
    details = fields.String()
    user_id = fields.Integer(allow_none=True)


class AgreementOut(ma.Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    session_id = fields.Integer(allow_none=True)
    mediator_id = fields.Integer()
    status = fields.String()
    version = fields.Integer()
    supersedes_id = fields.Integer(allow_none=True)
    parties = fields.List(fields.Nested(PartyOut))
    facts = fields.String()
    matters_in_dispute = fields.String()
    responsibilities = fields.String()
    terms = fields.String()
    performance_manner = fields.String()
    performance_time_limit = fields.String()
    missing = fields.List(fields.String())
    finalised_at = fields.DateTime(allow_none=True)
    effective_at = fields.DateTime(allow_none=True)
    kind = fields.String(allow_none=True, metadata={
        "description": "fixed when finalised: people (人民调解协议书) or administrative (行政调解协议书)"})
    issuer = fields.String(allow_none=True, metadata={"description": "the committee or organ that issues it"})
    document_no = fields.String(allow_none=True, metadata={
        "description": "文号, given when finalised, e.g. 〔2026〕人调字第12号 (per issuer per year)"})
    judicial_confirmation_until = fields.Date(allow_none=True, metadata={
        "description": "the last day to apply for judicial confirmation (30 days from effect); "
                       "none for an administrative agreement"})
    judicial_applied_on = fields.Date(allow_none=True)
    judicial_court = fields.String(allow_none=True)
    judicial_decision = fields.String(allow_none=True)
    judicial_decided_on = fields.Date(allow_none=True)
    judicial_note = fields.String(allow_none=True)
    signers = fields.List(fields.Nested(SignerOut))
    signatures = fields.List(fields.Nested(SignatureOut))


class PerformanceIn(InputSchema):
    kind = fields.String(required=True, validate=validate.OneOf(enum_values(PerformanceKind)))
    description = fields.String(required=True, validate=validate.Length(min=1, max=4000))
    obligor = fields.String(load_default="", validate=validate.Length(max=200))
    amount = fields.Decimal(load_default=None, places=2, as_string=True,
                            validate=validate.Range(min=0, max=10**12), metadata={"description": "yuan"})
    due_on = fields.Date(required=True)


class PerformanceDoneIn(InputSchema):
    evidence = fields.String(required=True, validate=validate.Length(max=4000),
                             metadata={"description": "a note of the evidence of performance"})


class PerformanceOut(ma.Schema):
    id = fields.Integer()
    agreement_id = fields.Integer()
    case_id = fields.Integer()
    kind = fields.String()
    description = fields.String()
    obligor = fields.String()
    amount = fields.String(allow_none=True)
    due_on = fields.Date()
    done = fields.Boolean()
    done_at = fields.DateTime(allow_none=True)
    done_by_id = fields.Integer(allow_none=True)
    evidence = fields.String(allow_none=True)
    overdue = fields.Boolean(metadata={"description": "not done and past its deadline"})


class ConfirmationApplyIn(InputSchema):
    applied_on = fields.Date(required=True)
    court = fields.String(required=True, validate=validate.Length(min=1, max=200))


class ConfirmationDecisionIn(InputSchema):
    decision = fields.String(required=True, validate=validate.OneOf(["confirmed", "rejected"]))
    decided_on = fields.Date(required=True)
    note = fields.String(load_default="", validate=validate.Length(max=4000))


class ResolutionIn(InputSchema):
    basis = fields.String(required=True, validate=validate.OneOf(enum_values(ResolutionBasis)))
    decision = fields.String(required=True, validate=validate.Length(min=1, max=4000))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=4000))


class ResolutionOut(ma.Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    basis = fields.String()
    decision = fields.String()
    reason = fields.String()
    agreement_id = fields.Integer(allow_none=True)
    resolved_by_id = fields.Integer()
    resolved_at = fields.DateTime()
    case_status = fields.String()


class CessationIn(InputSchema):
    basis = fields.String(required=True, validate=validate.OneOf(["undertaking", "quiet_period"]))
    signed_on = fields.Date(load_default=None)
    note = fields.String(load_default="", validate=validate.Length(max=4000))


class PetitionIn(InputSchema):
    received_on = fields.Date(required=True)
    summary = fields.String(required=True, validate=validate.Length(min=1, max=4000))
    channel = fields.String(validate=validate.OneOf([c.value for c in Channel]),
                            metadata={"description": "letter, visit, online, phone, leader_mailbox"})
    level = fields.String(validate=validate.OneOf([lv.value for lv in LodgedLevel]),
                          metadata={"description": "where it was lodged (above the case's level: 越级访)"})
    head_count = fields.Integer(validate=validate.Range(min=1, max=10000),
                                metadata={"description": "people on a visit"})


class CaseStateOut(ma.Schema):
    id = fields.Integer()
    status = fields.String()
    flags = fields.List(fields.String())


class ChatIn(InputSchema):
    body = fields.String(required=True)


class ChatArgs(InputSchema):
    after = fields.Integer(load_default=0, validate=validate.Range(min=0))


class ChatOut(ma.Schema):
    seq = fields.Integer()
    session_id = fields.Integer()
    author_id = fields.Integer(allow_none=True)
    body = fields.String()
    at = fields.String()


class CaucusMessageOut(ChatOut):
    channel = fields.String(metadata={"description": "caucus:<the side's user id>"})


class MinutesNoteOut(ma.Schema):
    seq = fields.Integer()
    channel = fields.String(metadata={"description": "session (the whole room) or "
                                      "caucus:<user id> (the mediator with that side)"})
    with_ = fields.String(data_key="with", attribute="with", allow_none=True,
                          metadata={"description": "the side of a caucus, by name"})
    author_id = fields.Integer(allow_none=True)
    body = fields.String()
    at = fields.String()


class MinutesOut(ma.Schema):
    session_id = fields.Integer()
    status = fields.String()
    minutes = fields.String()
    notes = fields.List(fields.Nested(MinutesNoteOut))


class VisitIn(InputSchema):
    """A follow-up visit (回访) as made."""

    visited_on = fields.Date(required=True)
    method = fields.String(required=True, validate=validate.OneOf(enum_values(VisitMethod)))
    visited_whom = fields.String(required=True, validate=validate.Length(min=1, max=200),
                                 metadata={"description": "whom the visit met or called"})
    findings = fields.String(required=True, validate=validate.Length(min=1, max=4000))
    honoured = fields.String(load_default=None, validate=validate.OneOf(enum_values(Honoured)),
                             metadata={"description": "whether the agreement is being honoured "
                                                      "(required when the case has one in effect)"})
    satisfaction = fields.Integer(required=True, validate=validate.Range(min=1, max=5),
                                  metadata={"description": "the party's satisfaction, 1 (very "
                                                           "dissatisfied) to 5 (very satisfied)"})


class VisitOut(ma.Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    basis = fields.String(metadata={"description": "agreement:<id>, resolution:<id> or unscheduled"})
    agreement_id = fields.Integer(allow_none=True)
    offset_days = fields.Integer(allow_none=True)
    due_on = fields.Date(allow_none=True)
    visited_on = fields.Date(allow_none=True)
    method = fields.String(allow_none=True)
    visited_whom = fields.String(allow_none=True)
    findings = fields.String(allow_none=True)
    honoured = fields.String(allow_none=True)
    satisfaction = fields.Integer(allow_none=True)
    recorded_by_id = fields.Integer(allow_none=True)
    recorded_at = fields.DateTime(allow_none=True)
    done = fields.Boolean()
    missed = fields.Boolean(metadata={"description": "due before today and not made"})
