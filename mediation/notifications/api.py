"""The notification centre over the API: one's own list, the unread count, mark read.

Every signed-in user has a list; nobody reads another's. Ids of others' notifications in a
mark-read request are ignored as if they did not exist (the count says what was marked).
"""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from mediation.api.auth import authenticated, current
from mediation.errors import Forbidden
from mediation.extensions import db
from mediation.notifications import centre, channels, outbound, petitioner, preferences
from mediation.permissions import Action, can
from mediation.validation import InputSchema

blp = Blueprint("notifications", __name__, url_prefix="/api/notifications",
                description="The signed-in user's notifications (offers, invitations, reminders, "
                            "hand-overs, mentions)")


class ListArgs(InputSchema):
    unread = fields.Boolean(load_default=False, metadata={"description": "only unread ones"})
    before = fields.Integer(validate=validate.Range(min=1),
                            metadata={"description": "ids below this one (the next page)"})
    limit = fields.Integer(load_default=centre.PAGE, validate=validate.Range(min=1, max=centre.MAX_PAGE))


class NotificationOut(ma.Schema):
    id = fields.Integer()
    type = fields.String(metadata={"description": "the event type (x-event-types)"})
    label = fields.String(metadata={"description": "the event type's words, in the request's language"})
    case_id = fields.Integer()
    case_reference = fields.String(allow_none=True)
    event_id = fields.Integer()
    created_at = fields.DateTime()
    read_at = fields.DateTime(allow_none=True)
    read = fields.Boolean()
    link = fields.String(metadata={"description": "the page of the thing it is about"})


class ListOut(ma.Schema):
    items = fields.List(fields.Nested(NotificationOut))
    more = fields.Boolean()
    unread = fields.Integer(metadata={"description": "the user's unread count"})


class CountOut(ma.Schema):
    unread = fields.Integer()


class ReadIn(InputSchema):
    ids = fields.List(fields.Integer(validate=validate.Range(min=1)), validate=validate.Length(max=500),
                      metadata={"description": "the notifications to mark read"})
    all = fields.Boolean(load_default=False, metadata={"description": "mark every one read"})

    @ma.validates_schema
    def one_of(self, data: dict, **_kwargs) -> None:
        if not data.get("all") and data.get("ids") is None:
            raise ma.ValidationError("give ids, or all: true", "ids")


class ReadOut(ma.Schema):
    marked = fields.Integer(metadata={"description": "how many this call marked read"})
    unread = fields.Integer()


@blp.route("")
class Notifications(MethodView):
    @authenticated
    @blp.arguments(ListArgs, location="query")
    @blp.response(200, ListOut)
    def get(self, args):
        """One's notifications, newest first."""
        me = current()
        items, more = centre.listing(db.session, me, unread=args["unread"], before=args.get("before"),
                                     limit=args["limit"])
        return {"items": [centre.view(me, n) for n in items], "more": more,
                "unread": centre.unread_count(db.session, me)}


@blp.route("/unread-count")
class UnreadCount(MethodView):
    @authenticated
    @blp.response(200, CountOut)
    def get(self):
        """How many of one's notifications are unread (the header's badge)."""
        return {"unread": centre.unread_count(db.session, current())}


@blp.route("/read")
class Read(MethodView):
    @authenticated
    @blp.arguments(ReadIn)
    @blp.response(200, ReadOut)
    def post(self, body):
        """Mark notifications read: those named by `ids`, or all."""
        me = current()
        marked = centre.mark_read(db.session, me, None if body["all"] else body["ids"])
        db.session.commit()
        return {"marked": marked, "unread": centre.unread_count(db.session, me)}


QUIET = r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$"


class PreferencesIn(InputSchema):
    channels = fields.List(fields.String(validate=validate.OneOf(channels.CHANNELS)), required=True,
                           validate=validate.Length(max=len(channels.CHANNELS)),
                           metadata={"description": "where one's notifications also go: email, wecom, sms"})
    email = fields.Email(allow_none=True, validate=validate.Length(max=254))
    phone = fields.String(allow_none=True, validate=validate.Regexp(r"^1\d{10}$"),
                          metadata={"description": "mainland mobile number for SMS (stored encrypted)"})
    wecom_mobile = fields.String(allow_none=True, validate=validate.Regexp(r"^1\d{10}$"),
                                 metadata={"description": "the mobile number WeCom @-mentions"})
    quiet_hours = fields.String(allow_none=True, validate=validate.Regexp(QUIET),
                                metadata={"description": "HH:MM-HH:MM local time; none: the service's"})


class PreferencesOut(ma.Schema):
    channels = fields.List(fields.String())
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True, metadata={"description": "masked"})
    wecom_mobile = fields.String(allow_none=True, metadata={"description": "masked"})
    quiet_hours = fields.String(allow_none=True)


class DeliveryOut(ma.Schema):
    id = fields.Integer()
    notification_id = fields.Integer(allow_none=True)
    user_id = fields.Integer(allow_none=True)
    party = fields.String(allow_none=True, metadata={
        "description": "a message to a party without an account (no notification): petitioner "
                       "or respondent"})
    type = fields.String()
    case_id = fields.Integer()
    channel = fields.String()
    status = fields.String(metadata={"description": "pending, sending, retry, sent or failed"})
    attempts = fields.Integer()
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)
    not_before = fields.DateTime(allow_none=True)
    via = fields.String(allow_none=True, metadata={"description": "the adapter: email, wecom, sms, outbox"})
    detail = fields.String(allow_none=True, metadata={"description": "the provider's id, or why it failed"})


class DeliveriesArgs(InputSchema):
    status = fields.String(validate=validate.OneOf(["pending", "sending", "retry", "sent", "failed"]))
    limit = fields.Integer(load_default=200, validate=validate.Range(min=1, max=1000))


class DeliveriesOut(ma.Schema):
    items = fields.List(fields.Nested(DeliveryOut))


@blp.route("/preferences")
class Preferences(MethodView):
    @authenticated
    @blp.response(200, PreferencesOut)
    def get(self):
        """One's outbound channels and addresses (numbers masked)."""
        return preferences.view(current())

    @authenticated
    @blp.arguments(PreferencesIn)
    @blp.response(200, PreferencesOut)
    def put(self, body):
        """Choose one's outbound channels, addresses and quiet hours."""
        me = current()
        preferences.save(me, body)
        db.session.commit()
        return preferences.view(me)


@blp.route("/deliveries")
class Deliveries(MethodView):
    @authenticated
    @blp.arguments(DeliveriesArgs, location="query")
    @blp.response(200, DeliveriesOut)
    def get(self, args):
        """The delivery log (admins): what was sent on which channel, what failed and why."""
        if not can(current(), Action.DELIVERIES_READ):
            raise Forbidden("the delivery log is for admins")
        return {"items": outbound.log_rows(args["limit"], args.get("status"))}


class ReceiptIn(InputSchema):
    petitioner_id = fields.Integer(validate=validate.Range(min=1), metadata={
        "description": "the petitioner (受理告知书); or give respondent_id"})
    respondent_id = fields.Integer(validate=validate.Range(min=1), metadata={
        "description": "a respondent party entered on the case (调解告知书)"})
    sms = fields.Boolean(load_default=False,
                         metadata={"description": "also send the code by SMS to the party's phone "
                                                  "(a delivery row: retried, at most once)"})


class ReceiptOut(ma.Schema):
    case_id = fields.Integer()
    case_reference = fields.String()
    petitioner_id = fields.Integer(allow_none=True)
    respondent_id = fields.Integer(allow_none=True)
    party = fields.String(metadata={"description": "petitioner or respondent"})
    name = fields.String()
    petitioner_name = fields.String(metadata={"description": "the party's name (kept for older clients)"})
    sms = fields.String(allow_none=True, metadata={"description": "with sms: planned (a delivery row)"})
    code = fields.String(metadata={"description": "the query code (查询码); shown only here, once"})
    received_on = fields.Date(allow_none=True)
    issued_at = fields.DateTime()
    query_url = fields.String(metadata={"description": "the public query page"})


receipts = Blueprint("receipts", __name__, url_prefix="/api/cases",
                     description="Receipts (受理告知书) with the petitioner's query code")


@receipts.route("/<int:case_id>/receipts")
class Receipts(MethodView):
    @authenticated
    @receipts.arguments(ReceiptIn)
    @receipts.response(201, ReceiptOut)
    def post(self, body, case_id):
        """Issue a petitioner's receipt with a new query code (an older code stops working)."""
        from flask import url_for

        out = petitioner.issue_receipt(current(), case_id, body.get("petitioner_id"), body["sms"],
                                       body.get("respondent_id"))
        return {**out, "query_url": url_for("query_pages.query", _external=True)}


class ConsentOut(ma.Schema):
    method = fields.String(metadata={"description": "query_page, written or oral"})
    given_on = fields.Date()
    note = fields.String()
    recorded_by_id = fields.Integer(allow_none=True, metadata={"description": "None: the party, on the page"})
    recorded_at = fields.DateTime()


class PetitionerPartyOut(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    has_phone = fields.Boolean()
    consent = fields.Nested(ConsentOut, allow_none=True)


class PartyRespondentOut(ma.Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    name = fields.String()
    unit = fields.String()
    phone = fields.String(allow_none=True, metadata={"description": "masked: the last four digits"})
    has_phone = fields.Boolean()
    consent = fields.Nested(ConsentOut, allow_none=True)


class PartiesOut(ma.Schema):
    petitioners = fields.List(fields.Nested(PetitionerPartyOut))
    respondents = fields.List(fields.Nested(PartyRespondentOut))


class PartyRespondentIn(InputSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    unit = fields.String(load_default="", validate=validate.Length(max=200))
    phone = fields.String(load_default="", validate=validate.Length(max=20),
                          metadata={"description": "for the SMS and the query page's last four digits"})


class ConsentIn(InputSchema):
    petitioner_id = fields.Integer(validate=validate.Range(min=1))
    respondent_id = fields.Integer(validate=validate.Range(min=1))
    method = fields.String(required=True, validate=validate.OneOf(["written", "oral"]), metadata={
        "description": "written: a signed consent (书面); oral: said to an officer, written into the record"})
    given_on = fields.Date(metadata={"description": "the day the party consented (default: today)"})
    note = fields.String(load_default="", validate=validate.Length(max=2000))


class ConsentRecordOut(ConsentOut):
    petitioner_id = fields.Integer(allow_none=True)
    respondent_id = fields.Integer(allow_none=True)
    case_id = fields.Integer()


@receipts.route("/<int:case_id>/parties")
class Parties(MethodView):
    @authenticated
    @receipts.response(200, PartiesOut)
    def get(self, case_id):
        """The case's petitioners and respondent parties, each with its consent to mediation
        (the case's officials)."""
        from mediation.notifications import parties
        from mediation.permissions import require_case

        return parties.parties(require_case(current(), case_id, Action.CASE_INTERNAL))


@receipts.route("/<int:case_id>/respondents")
class Respondents(MethodView):
    @authenticated
    @receipts.arguments(PartyRespondentIn)
    @receipts.response(201, PartyRespondentOut)
    def post(self, body, case_id):
        """Enter a respondent party (被申请人) on the case: it gets its own query code, gives
        its consent, sees the session's time and place (the case's officers)."""
        from mediation.notifications import parties

        return parties.respondent_view(parties.add_respondent(current(), case_id, body))


@receipts.route("/<int:case_id>/consents")
class Consents(MethodView):
    @authenticated
    @receipts.arguments(ConsentIn)
    @receipts.response(201, ConsentRecordOut)
    def post(self, body, case_id):
        """Record a party's consent to mediation given on paper or orally: who, when, how (the
        case's officers; on the timeline). 409 if the party has consented already."""
        from mediation.notifications import parties

        c = parties.record_consent(current(), case_id, body)
        return {**parties.consent_view(c), "petitioner_id": c.petitioner_id,
                "respondent_id": c.respondent_id, "case_id": c.case_id}
