"""Cases, petitioners, owners and sign-in: what the API and the pages take and give."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate, validates_schema

from mediation.cases.models import (
    Assessment,
    CaseFlag,
    Channel,
    ContactKind,
    Group,
    InvestigationMethod,
    LivelihoodField,
    LodgedLevel,
    Need,
    OwnerLevel,
    Status,
)
from mediation.cases.queries import SORT_KEYS
from mediation.cases.rules import date_order_errors
from mediation.pii import ID_NUMBER_RE, PHONE_RE
from mediation.schemas.base import DumpSchema, StrictSchema, Text, not_future, one_of, valid_region

# Flags an officer sets; the others are set by the system (escalation, reopening).
OFFICER_FLAGS = [f.value for f in CaseFlag if f not in (
    CaseFlag.ESCALATED, CaseFlag.REOPENED_AFTER_RESOLUTION)]


class TokenRequest(StrictSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=256),
                             load_only=True)


class TokenResponse(ma.Schema):
    token = fields.String()
    expires_at = fields.DateTime()


class MeSchema(ma.Schema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    role = fields.String()
    region = fields.String(allow_none=True)


class PetitionerIn(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    id_number = fields.String(
        validate=validate.Regexp(ID_NUMBER_RE, error="an 18-character resident identity number"),
        metadata={"description": "Stored encrypted; shown masked"})
    phone = fields.String(
        validate=validate.Regexp(PHONE_RE, error="a mobile (11 digits) or landline number"),
        metadata={"description": "Stored encrypted; shown masked"})
    groups = fields.List(fields.String(validate=one_of(Group)), load_default=list)
    address = Text(200, load_default="")


class PetitionerOut(DumpSchema):
    id = fields.Integer()
    case_id = fields.Integer()
    name = fields.String()
    id_number = fields.String(allow_none=True, metadata={"description": "masked"})
    phone = fields.String(allow_none=True, metadata={"description": "masked"})
    groups = fields.List(fields.String())
    address = fields.String()


class CaseFieldsMixin:
    summary = Text(5000)
    departments = fields.List(fields.String(validate=validate.Length(min=1, max=100)),
                              validate=validate.Length(max=20))
    received_on = fields.Date(validate=not_future, allow_none=True)
    accepted_on = fields.Date(validate=not_future, allow_none=True)
    replied_on = fields.Date(validate=not_future, allow_none=True)
    review_requested_on = fields.Date(validate=not_future, allow_none=True)
    review_answered_on = fields.Date(validate=not_future, allow_none=True)
    rereview_requested_on = fields.Date(validate=not_future, allow_none=True)
    rereview_answered_on = fields.Date(validate=not_future, allow_none=True)
    times_handled = fields.Integer(validate=validate.Range(min=0, max=1000))
    livelihood_fields = fields.List(fields.String(validate=one_of(LivelihoodField)))
    visits_in_person = fields.Integer(validate=validate.Range(min=0, max=100000))
    online_complaints = fields.Integer(validate=validate.Range(min=0, max=100000))
    flags = fields.List(fields.String(validate=validate.OneOf(OFFICER_FLAGS)))
    background = Text(20000)
    demand_basis = Text(20000)
    focal_conflict = Text(20000)
    assessment = fields.String(validate=one_of(Assessment), allow_none=True)
    strategy_note = Text(5000)
    needs = fields.List(fields.String(validate=one_of(Need)), allow_none=True,
                        metadata={"description": "Set by hand; null returns to derived needs"})

    @validates_schema
    def dates_in_order(self, data, **kwargs):
        errors = date_order_errors(data)
        if errors:
            raise ma.ValidationError(errors)


class PetitionRecordIn(StrictSchema):
    received_on = fields.Date(validate=not_future,
                              metadata={"description": "Defaults to the case's received_on, or today"})
    channel = fields.String(load_default=Channel.LETTER.value, validate=one_of(Channel),
                            metadata={"description": "来信 letter, 来访 visit, 网上 online, "
                                      "电话 phone, 领导信箱 leader_mailbox"})
    level = fields.String(validate=one_of(LodgedLevel),
                          metadata={"description": "Where it was lodged; defaults to the case "
                                    "region's level. Above the responsible level: 越级访"})
    head_count = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10000),
                                metadata={"description": "People on a visit (5+: 集体访)"})

    @validates_schema
    def head_count_for_visits(self, data, **kwargs):
        if data.get("head_count", 1) != 1 and data.get("channel") != Channel.VISIT.value:
            raise ma.ValidationError({"head_count": ["only a visit has a head count"]})


class PetitionRecordOut(DumpSchema):
    id = fields.Integer()
    received_on = fields.String()
    channel = fields.String()
    level = fields.String()
    head_count = fields.Integer()
    group_visit = fields.Boolean()
    repeat = fields.Boolean()
    skip_level = fields.Boolean()
    summary = fields.String()


class CaseIn(CaseFieldsMixin, StrictSchema):
    reference = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9\-_/]{3,32}$"),
                              metadata={"description": "Given on import; generated otherwise"})
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    region_code = fields.String(required=True, validate=valid_region,
                                metadata={"description": "GB/T 2260 code, e.g. 510104"})
    petitioners = fields.List(fields.Nested(PetitionerIn), load_default=list,
                              validate=validate.Length(max=200))
    petition = fields.Nested(PetitionRecordIn, load_default=dict,
                             metadata={"description": "The petition itself (件): channel, level, head count"})
    repeat_of = fields.Integer(metadata={
        "description": "A repeat petition of this case: it is added to that case (reopened "
                       "when resolved or closed), no new case is made"})
    new_case_reason = fields.String(validate=validate.Length(min=2, max=2000), metadata={
        "description": "A new case despite strong matches (a different matter of the same "
                       "person): the cases are cross-referenced with this reason"})

    action_listed_on = fields.Date(metadata={
        "description": "纳入专项行动: the case counts in the action from this day (the ledger's "
                       "date; not in the future). Omitted: the case is not in the action until "
                       "an officer lists it (POST /api/cases/<id>/action-listing)"})
    action_reason = fields.String(validate=validate.Length(max=2000), metadata={
        "description": "why the case is in the action; required for a case with no category"})

    @validates_schema
    def one_decision(self, data, **kwargs):
        if data.get("repeat_of") is not None and data.get("new_case_reason"):
            raise ma.ValidationError("give repeat_of or new_case_reason, not both", "_schema")


class CandidatesIn(CaseFieldsMixin, StrictSchema):
    """What detection reads of an intake: the petitioners, the region and the matter."""

    title = fields.String(validate=validate.Length(max=200))
    region_code = fields.String(required=True, validate=valid_region)
    petitioners = fields.List(fields.Nested(PetitionerIn), load_default=list,
                              validate=validate.Length(max=200))


class RepeatCandidateOut(ma.Schema):
    case_id = fields.Integer()
    reference = fields.String()
    title = fields.String()
    status = fields.String()
    region_code = fields.String()
    score = fields.Float()
    strength = fields.String(
        metadata={"description": "strong (blocks intake without a decision) or possible"})
    reasons = fields.List(fields.Dict())
    petitioner = fields.Dict(metadata={"description": "numbers masked"})


class MergeIn(StrictSchema):
    into = fields.Integer(required=True, metadata={"description": "the surviving case"})
    reason = fields.String(required=True, validate=validate.Length(min=2, max=2000))


class CasePatch(CaseFieldsMixin, StrictSchema):
    title = fields.String(validate=validate.Length(min=1, max=200))


class TransitionIn(StrictSchema):
    status = fields.String(required=True, validate=one_of(Status))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class ActionListingOut(DumpSchema):
    listed_on = fields.Date(allow_none=True, metadata={
        "description": "the list date; null: not in the action"})
    reason = fields.String()
    segment = fields.String(allow_none=True, metadata={
        "description": "stock (存量: listed by MEDIATION_ACTION_BACKLOG_UNTIL) or increment (增量)"})
    counted = fields.Boolean(metadata={
        "description": "counted in the KPIs: listed, and categorised or listed with a reason"})


class ActionListingIn(StrictSchema):
    listed_on = fields.Date(metadata={"description": "the list date (default today); not in the future"})
    reason = fields.String(load_default="", validate=validate.Length(max=2000), metadata={
        "description": "required for a case with no category"})


class ActionUnlistingIn(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=2, max=2000))


class CategoryOverrideIn(StrictSchema):
    category = fields.Integer(required=True, validate=validate.Range(min=1, max=6))
    action = fields.String(required=True, validate=validate.OneOf(["add", "remove"]))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class OwnerIn(StrictSchema):
    lead_official_id = fields.Integer(required=True)
    level = fields.String(validate=one_of(OwnerLevel),
                          metadata={"description": "Defaults to the suggested level"})
    assigned_on = fields.Date(validate=not_future)


class ContactIn(StrictSchema):
    kind = fields.String(required=True, validate=one_of(ContactKind))
    held_on = fields.Date(required=True)
    note = Text(5000, load_default="")


class ExtensionIn(StrictSchema):
    days = fields.Integer(required=True)
    approver = fields.String(required=True, validate=validate.Length(min=1, max=100))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class InvestigationIn(StrictSchema):
    method = fields.String(required=True, validate=one_of(InvestigationMethod))
    conducted_on = fields.Date(required=True)
    investigators = Text(200, load_default="")
    findings = fields.String(required=True, validate=validate.Length(min=1, max=20000))


class RevealIn(StrictSchema):
    fields_ = fields.List(fields.String(validate=validate.OneOf(["id_number", "phone"])),
                          data_key="fields", attribute="fields", load_default=lambda: [
                              "id_number", "phone"], validate=validate.Length(min=1))
    reason = fields.String(required=True, validate=validate.Length(min=2, max=500),
                           metadata={"description": "Why the full numbers are needed"})


class PetitionerSearchIn(StrictSchema):
    id_number = fields.String(validate=validate.Regexp(ID_NUMBER_RE))
    phone = fields.String(validate=validate.Regexp(PHONE_RE))
    reason = fields.String(required=True, validate=validate.Length(min=2, max=500),
                           metadata={"description": "Why the search is needed (recorded)"})

    @validates_schema
    def exactly_one(self, data, **kwargs):
        if len({"id_number", "phone"} & data.keys()) != 1:
            raise ma.ValidationError("give exactly one of id_number or phone", "_schema")


class CaseListArgs(StrictSchema):
    status = fields.String(validate=one_of(Status))
    category = fields.Integer(validate=validate.Range(min=1, max=6))
    region = fields.String(validate=valid_region, metadata={"description": "GB/T 2260 prefix"})
    owner = fields.Integer(metadata={"description": "lead official's user id"})
    overdue = fields.Boolean()
    q = fields.String(validate=validate.Length(min=1, max=100),
                      metadata={"description": "text in the title or summary, a petitioner's "
                                "name, the reference or a respondent unit; an identity or "
                                "phone number (blind index) for roles that may search by number"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=200))
    sort = fields.String(validate=validate.OneOf([*SORT_KEYS, *(f"-{k}" for k in SORT_KEYS)]),
                         metadata={"description": "a column, `-column` for descending: "
                                   + ", ".join(SORT_KEYS) + "; ties by id descending, "
                                   "empty values last. Default: newest first (-id)"})


class TimelineArgs(StrictSchema):
    after = fields.Integer(load_default=0, validate=validate.Range(min=0))
    limit = fields.Integer(load_default=200, validate=validate.Range(min=1, max=1000))


class EventOut(ma.Schema):
    case_id = fields.Integer()
    seq = fields.Integer()
    type = fields.String()
    at = fields.String()
    actor = fields.Integer(allow_none=True)
    data = fields.Dict()


class TimelineOut(ma.Schema):
    events = fields.List(fields.Nested(EventOut))
    last_seq = fields.Integer()
    has_more = fields.Boolean()


class CategoryOut(DumpSchema):
    category = fields.Integer()
    name = fields.String()
    source = fields.String()
    reason = fields.String()


class ClockOut(DumpSchema):
    name = fields.String()
    kind = fields.String()
    started_on = fields.String(allow_none=True)
    due_on = fields.String(allow_none=True)
    done_on = fields.String(allow_none=True)
    state = fields.String()
    days_left = fields.Integer(allow_none=True)


class CaseOut(DumpSchema):
    id = fields.Integer()
    reference = fields.String()
    title = fields.String()
    summary = fields.String()
    region_code = fields.String()
    status = fields.String()
    departments = fields.List(fields.String())
    received_on = fields.Date(allow_none=True)
    accepted_on = fields.Date(allow_none=True)
    replied_on = fields.Date(allow_none=True)
    review_requested_on = fields.Date(allow_none=True)
    review_answered_on = fields.Date(allow_none=True)
    rereview_requested_on = fields.Date(allow_none=True)
    rereview_answered_on = fields.Date(allow_none=True)
    times_handled = fields.Integer()
    livelihood_fields = fields.List(fields.String())
    visits_in_person = fields.Integer()
    online_complaints = fields.Integer()
    flags = fields.List(fields.String())
    categories = fields.List(fields.Nested(CategoryOut))
    assessment = fields.String(allow_none=True)
    strategy = fields.Dict(allow_none=True)
    strategy_note = fields.String()
    needs = fields.List(fields.String())
    needs_source = fields.String()
    dossier = fields.Dict()
    petitioners = fields.List(fields.Nested(PetitionerOut))
    owner = fields.Dict(allow_none=True)
    clocks = fields.List(fields.Nested(ClockOut))
    overdue = fields.Boolean()
    next_deadline_on = fields.Date(allow_none=True)
    extension = fields.Dict(allow_none=True)
    last_seq = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    petition_count = fields.Integer(metadata={"description": "件次: petitions on the case"})
    person_count = fields.Integer(metadata={"description": "人次: people over all its petitions"})
    merged_into = fields.Integer(allow_none=True, metadata={"description": "the survivor, once merged"})
    action = fields.Nested(lambda: ActionListingOut(), metadata={
        "description": "纳入专项行动: listed on, reason, segment (stock/increment), counted"})
    petitions = fields.List(fields.Nested(PetitionRecordOut))
    links = fields.List(fields.Dict())


class CasePage(DumpSchema):
    items = fields.List(fields.Nested(CaseOut))
    total = fields.Integer()
    page = fields.Integer()
    page_size = fields.Integer()
    pages = fields.Integer(metadata={"description": "number of pages (at least 1)"})
    sort = fields.String()
