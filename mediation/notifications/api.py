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
from mediation.extensions import db
from mediation.notifications import centre
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
