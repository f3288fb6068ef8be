"""The messaging API: a case's thread and internal notes, edits, deletions, read marker."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from mediation.api.auth import authenticated, current
from mediation.schemas.base import StrictSchema
from realtime import messaging

blp = Blueprint("messages", __name__, url_prefix="/api",
                description="Messages on a case: its thread and officials' internal notes")

CHANNEL = fields.String(load_default=messaging.CASE_THREAD.name, metadata={
    "description": "`case`: the thread of everyone on the case; `internal`: notes for officials"})


class MessageIn(StrictSchema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=messaging.MAX_BODY))
    channel = CHANNEL


class MessageEditIn(StrictSchema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=messaging.MAX_BODY))


class ThreadArgs(StrictSchema):
    channel = CHANNEL
    after = fields.Integer(load_default=0, validate=validate.Range(min=0),
                           metadata={"description": "messages posted after this seq"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class MessageOut(ma.Schema):
    seq = fields.Integer(metadata={"description": "the message's id: its event's seq"})
    channel = fields.String()
    author_id = fields.Integer(allow_none=True)
    author = fields.String(allow_none=True)
    at = fields.String()
    body = fields.String(allow_none=True, metadata={"description": "null once deleted"})
    edited_at = fields.String(allow_none=True)
    edits = fields.Integer()
    deleted = fields.Boolean()
    deleted_at = fields.String(allow_none=True)


class ThreadOut(ma.Schema):
    messages = fields.List(fields.Nested(MessageOut))
    has_more = fields.Boolean()
    read_seq = fields.Integer()
    unread = fields.Integer()
    last_seq = fields.Integer()


class ReadMarkerIn(StrictSchema):
    seq = fields.Integer(required=True, validate=validate.Range(min=0))


class ReadMarkerOut(ma.Schema):
    seq = fields.Integer()


@blp.route("/cases/<int:case_id>/messages")
class Messages(MethodView):
    @authenticated
    @blp.arguments(ThreadArgs, location="query", unknown=ma.RAISE)
    @blp.response(200, ThreadOut)
    def get(self, args, case_id):
        """A channel's messages, oldest first, with your read marker and unread count."""
        return messaging.thread(current(), case_id, **args)

    @authenticated
    @blp.arguments(MessageIn)
    @blp.response(201, MessageOut)
    def post(self, data, case_id):
        """Post a message (429 beyond the per-user rate)."""
        return messaging.post_message(current(), case_id, data["body"], data["channel"])


@blp.route("/cases/<int:case_id>/messages/<int:seq>")
class MessageItem(MethodView):
    @authenticated
    @blp.arguments(MessageEditIn)
    @blp.response(200, MessageOut)
    def patch(self, data, case_id, seq):
        """Edit your message: a new event; the old text stays on the timeline."""
        return messaging.edit_message(current(), case_id, seq, data["body"])

    @authenticated
    @blp.response(200, MessageOut)
    def delete(self, case_id, seq):
        """Delete a message (its author or the case's officers): a new event."""
        return messaging.delete_message(current(), case_id, seq)


@blp.route("/cases/<int:case_id>/read-marker")
class ReadMarker(MethodView):
    @authenticated
    @blp.response(200, ReadMarkerOut)
    def get(self, case_id):
        """How far you have read this case (a seq)."""
        from mediation.permissions import require_case

        case = require_case(current(), case_id)
        return {"seq": messaging.read_seq(current().id, case.id) or 0}

    @authenticated
    @blp.arguments(ReadMarkerIn)
    @blp.response(200, ReadMarkerOut)
    def put(self, data, case_id):
        """Mark the case read up to a seq; the marker never moves back."""
        return {"seq": messaging.mark_read(current(), case_id, data["seq"])}
